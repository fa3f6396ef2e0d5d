using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// An immutable network: its layers in order, each with its weights, and nothing else. Each layer runs itself in every engine
/// (see <see cref="Layer"/>); this class chains them: the managed single-row forward (<see cref="Forward"/>), the LibTorch batch
/// scorer (<see cref="CreateBatchScorer"/>), the ONNX graph (<see cref="SaveAsOnnx"/>) and the saved bytes (<see cref="Write"/>,
/// <see cref="Read"/>). Training builds its module from it and returns a new one (Training/TrainingModule.cs).
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

    /// <summary>The bytes a batch scorer allocates per row of capacity: the input and every layer's buffers.</summary>
    public long BatchBytesPerRow => sizeof(float) * (long)InputSize + Layers.Sum(l => l.BatchBytesPerRow);

    /// <summary>
    /// A batch scorer for batches of up to <paramref name="capacity"/> rows, fewer when the network is so wide that their buffers
    /// would pass <see cref="BatchScorer.MemoryBudget"/> (see <see cref="BatchScorer"/>; its <see cref="BatchScorer.Capacity"/> says how many).
    /// </summary>
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
            if (layer.Kind == AutoClipNetLayerKind.ReleasedNetwork)
            {
                throw new InvalidOperationException("A released format 1.1 network is written in its own format (Model/Legacy/Format11.cs).");
            }
            writer.Write((int)layer.Kind);
            layer.Write(writer);
        }
    }

    /// <summary>A copy that shares nothing with this network (its layers' LibTorch tensors included): written and read back.</summary>
    public NetworkDescription Copy()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            Write(writer);
        }
        stream.Position = 0;
        using var reader = new BinaryReader(stream);
        return Read(reader);
    }

    /// <summary>Reads what <see cref="Write"/> wrote, every kind through <see cref="LayerRegistry"/>; an ensemble's members (<paramref name="insideEnsemble"/>) hold no ensemble.</summary>
    public static NetworkDescription Read(BinaryReader reader, bool insideEnsemble = false)
    {
        int inputSize = Serialization.ReadCount(reader, "network's input size", 1, Serialization.MaxWidth);
        int count = Serialization.ReadCount(reader, "layer count", 1, 4096);
        var layers = new List<Layer>(count);
        int width = inputSize;
        try
        {
            for (int i = 0; i < count; i++)
            {
                var layer = LayerRegistry.Read(reader.ReadInt32(), i, reader, new LayerReadContext(width, insideEnsemble));
                layers.Add(layer);
                width = layer.OutputSize;
            }
            return new NetworkDescription(inputSize, layers);
        }
        catch
        {
            foreach (var layer in layers)
            {
                layer.Dispose();
            }
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var layer in Layers)
        {
            layer.Dispose();
        }
    }
}
