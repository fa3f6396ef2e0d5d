using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// An immutable network: its layers in order, each with its weights. It is the one description that
/// drives every way of running the network: the training module (<see cref="Training.TrainingModule"/>
/// is built from it and returns a new one), the managed single-row forward (<see cref="Forward"/>),
/// the LibTorch batch forward (<see cref="CreateBatchScorer"/>) and the saved model (<see cref="Write"/>).
/// </summary>
internal sealed class NetworkDescription : IDisposable
{
    public NetworkDescription(int inputSize, IReadOnlyList<Layer> layers)
    {
        if (layers.Count == 0)
        {
            throw new InvalidDataException("A network needs at least one layer.");
        }
        int width = inputSize;
        foreach (var layer in layers)
        {
            if (layer.InputSize != width)
            {
                throw new InvalidDataException($"The {layer} layer takes {layer.InputSize} values where the layer before it gives {width}.");
            }
            width = layer.OutputSize;
        }
        InputSize = inputSize;
        Layers = layers.ToArray();
        OutputSize = width;
        MaxWidth = Math.Max(inputSize, layers.Max(l => l.OutputSize));
    }

    public int InputSize { get; }

    public int OutputSize { get; }

    public IReadOnlyList<Layer> Layers { get; }

    /// <summary>The most values any layer produces (the scratch size of <see cref="Forward"/>).</summary>
    public int MaxWidth { get; }

    public long ParameterCount => Layers.Sum(l => l.ParameterCount);

    /// <summary>The multiply-adds of one row's forward pass through the matrix products; a training step costs about three times as many (backward: two products per layer).</summary>
    public long MultiplyAddsPerRow => Layers.Sum(l => l.MultiplyAddsPerRow);

    /// <summary>The dense layers in order (for the architecture a model reports): an ensemble's are its first member's.</summary>
    public IEnumerable<DenseLayer> DenseLayers => Layers.SelectMany(l => l is EnsembleLayer e ? e.Members[0].DenseLayers : l is DenseLayer d ? new[] { d } : Array.Empty<DenseLayer>());

    /// <summary>The activation layers in order: an ensemble's are its first member's.</summary>
    public IEnumerable<ActivationLayer> ActivationLayers => Layers.SelectMany(l => l is EnsembleLayer e ? e.Members[0].ActivationLayers : l is ActivationLayer a ? new[] { a } : Array.Empty<ActivationLayer>());

    /// <summary>The number of member networks whose outputs are averaged (1 without an ensemble layer).</summary>
    public int EnsembleSize => Layers.OfType<EnsembleLayer>().FirstOrDefault()?.Members.Count ?? 1;

    /// <summary>
    /// Scores one row in managed code, without tensors and without allocating. <paramref name="scratch"/>
    /// holds at least 2·<see cref="MaxWidth"/> values; the returned span (the network's outputs) lies in it.
    /// </summary>
    public ReadOnlySpan<float> Forward(ReadOnlySpan<float> input, Span<float> scratch)
    {
        if (input.Length != InputSize)
        {
            throw new ArgumentException($"The network takes {InputSize} values; it was given {input.Length}.");
        }
        var a = scratch[..MaxWidth];
        var b = scratch.Slice(MaxWidth, MaxWidth);
        ReadOnlySpan<float> current = input;
        bool intoA = true;
        foreach (var layer in Layers)
        {
            var output = intoA ? a : b;
            layer.Forward(current, output);
            current = output[..layer.OutputSize];
            intoA = !intoA;
        }
        return current;
    }

    /// <summary>A batch scorer with buffers for up to <paramref name="capacity"/> rows (see <see cref="BatchScorer"/>).</summary>
    public BatchScorer CreateBatchScorer(int capacity) => new(this, capacity);

    /// <summary>Writes every layer as ONNX nodes reading <paramref name="input"/>; returns the variable with the raw outputs (rows × <see cref="OutputSize"/>).</summary>
    public string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        foreach (var layer in Layers)
        {
            input = layer.SaveAsOnnx(graph, input);
        }
        return input;
    }

    /// <summary>"26 → feature transform 26 → dense 26→64 → ReLU → ... → dense 64→1".</summary>
    public override string ToString() => string.Join(" → ", Layers.Select(l => l.ToString()).Prepend(InputSize.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    // Layout: int input size; int layer count; per layer: int kind, then the layer's own fields.
    public void Write(BinaryWriter writer)
    {
        writer.Write(InputSize);
        writer.Write(Layers.Count);
        foreach (var layer in Layers)
        {
            writer.Write((int)layer.Kind);
            layer.Write(writer);
        }
    }

    /// <summary>Reads what <see cref="Write"/> wrote; an ensemble's members (<paramref name="allowEnsemble"/> false) hold no ensemble.</summary>
    public static NetworkDescription Read(BinaryReader reader, bool allowEnsemble = true)
    {
        int inputSize = Serialization.ReadCount(reader, "network's input size", 1, Serialization.MaxWidth);
        int count = Serialization.ReadCount(reader, "layer count", 1, 4096);
        var layers = new List<Layer>(count);
        int width = inputSize;
        for (int i = 0; i < count; i++)
        {
            var kind = (LayerKind)reader.ReadInt32();
            Layer layer = kind switch
            {
                LayerKind.FeatureTransform => FeatureTransformLayer.Read(reader, width),
                LayerKind.Dense => DenseLayer.Read(reader, width),
                LayerKind.Activation => ActivationLayer.Read(reader, width),
                LayerKind.FeatureScale => FeatureScaleLayer.Read(reader, width),
                LayerKind.PeriodicEmbedding => PeriodicEmbeddingLayer.Read(reader, width),
                LayerKind.PiecewiseLinear => PiecewiseLinearLayer.Read(reader, width),
                LayerKind.Ensemble when allowEnsemble => EnsembleLayer.Read(reader, width),
                LayerKind.Ensemble => throw new InvalidDataException($"Layer {i} is an ensemble inside an ensemble's member."),
                _ => throw new InvalidDataException($"Layer {i} has the unknown kind {(int)kind}."),
            };
            layers.Add(layer);
            width = layer.OutputSize;
        }
        return new NetworkDescription(inputSize, layers);
    }

    public void Dispose()
    {
        foreach (var layer in Layers)
        {
            layer.Dispose();
        }
    }
}

/// <summary>A batch scorer: rows written into <see cref="Input"/>, outputs read back from <see cref="Forward"/>.</summary>
internal interface IBatchScorer : IDisposable
{
    int Capacity { get; }

    Span<float> Input { get; }

    /// <summary>Outputs of the first <paramref name="rows"/> rows, rows × outputs, valid until the next call.</summary>
    ReadOnlySpan<float> Forward(int rows);
}

/// <summary>
/// Runs a network over batches of rows with LibTorch in tensors allocated once: the caller writes a
/// batch's rows straight into <see cref="Input"/>; <see cref="Forward"/> computes each layer into its
/// own buffer (elementwise layers in place). Every buffer is in LibTorch's aligned memory (see
/// <see cref="TensorMemory"/>), so the result is the same in every process. Not thread-safe: one per cursor.
/// </summary>
internal sealed class BatchScorer : IBatchScorer
{
    private readonly NetworkDescription _network;
    private readonly Tensor _input;
    private readonly Tensor?[] _buffers;
    private readonly BatchScorer[]?[] _members; // an ensemble layer's member scorers, each with buffers of its own

    public BatchScorer(NetworkDescription network, int capacity)
    {
        if (capacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A batch holds at least one row.");
        }
        AutoClip.TorchSharpNative.EnsureLoadable();
        _network = network;
        Capacity = capacity;
        // Created outside any dispose scope the caller may have open: they live as long as the scorer.
        _input = empty(capacity, network.InputSize).DetachFromDisposeScope();
        _buffers = new Tensor?[network.Layers.Count];
        _members = new BatchScorer[]?[network.Layers.Count];
        for (int l = 0; l < _buffers.Length; l++)
        {
            var layer = network.Layers[l];
            if (!layer.BatchInPlace)
            {
                _buffers[l] = empty(capacity, layer.OutputSize).DetachFromDisposeScope();
            }
            if (layer is EnsembleLayer ensemble)
            {
                _members[l] = ensemble.Members.Select(m => new BatchScorer(m, capacity)).ToArray();
            }
        }
    }

    /// <summary>The most rows one <see cref="Forward"/> call scores.</summary>
    public int Capacity { get; }

    /// <summary>The input rows, row-major: row i's features at [i·InputSize, (i+1)·InputSize).</summary>
    public Span<float> Input => TensorMemory.Floats(_input);

    /// <summary>
    /// Scores the first <paramref name="rows"/> rows of <see cref="Input"/> (which it may overwrite);
    /// the result, rows × OutputSize row-major, is valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> Forward(int rows)
    {
        if (rows < 1 || rows > Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"A batch of this scorer holds 1 to {Capacity} rows.");
        }
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = ForwardTensor(rows);
        // The result is one of the scorer's own contiguous buffers (or a leading slice of one).
        return MemoryMarshal.Cast<byte, float>(x.bytes)[..(rows * _network.OutputSize)];
    }

    /// <summary>The forward pass over the first <paramref name="rows"/> rows of the input tensor, inside the caller's no-grad and dispose scope.</summary>
    private Tensor ForwardTensor(int rows)
    {
        var x = rows == Capacity ? _input : _input.narrow(0, 0, rows);
        for (int l = 0; l < _buffers.Length; l++)
        {
            var buffer = _buffers[l];
            var y = buffer is null ? null : rows == Capacity ? buffer : buffer.narrow(0, 0, rows);
            if (_members[l] is { } members)
            {
                // Each member reads its own copy of the input (in-place layers change it), then the outputs are averaged.
                var ensemble = (EnsembleLayer)_network.Layers[l];
                for (int m = 0; m < members.Length; m++)
                {
                    var member = members[m];
                    (rows == Capacity ? member._input : member._input.narrow(0, 0, rows)).copy_(x);
                    EnsembleLayer.Accumulate(y!, member.ForwardTensor(rows), m);
                }
                ensemble.Finish(y!);
                x = y!;
                continue;
            }
            x = _network.Layers[l].Forward(x, y);
        }
        return x;
    }

    public void Dispose()
    {
        _input.Dispose();
        foreach (var buffer in _buffers)
        {
            buffer?.Dispose();
        }
        foreach (var members in _members)
        {
            foreach (var member in members ?? Array.Empty<BatchScorer>())
            {
                member.Dispose();
            }
        }
    }
}
