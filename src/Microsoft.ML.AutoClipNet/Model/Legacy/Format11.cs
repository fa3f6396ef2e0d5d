using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Microsoft.ML.AutoClipNet.Model.Legacy;

/// <summary>
/// Models of format 1.1, written by the first, regression-only release: read, and scored exactly as
/// that release scored them, so that their predictions stay bit-identical (tests compare them with
/// scores the release computed, test/Fixtures/regression-format-1.1). Nothing here may change.
/// </summary>
/// <remarks>
/// Layout, after ModelParametersBase's int sizeof(float), little-endian: int F; int activation; int L
/// (hidden layers + 1); L times: int outputs, then int count + float[outputs × inputs] weights and
/// int count + float[outputs] biases; int count + float[F] feature means; int count + float[F] feature
/// scales; float label mean; float label scale; byte 1 if an AutoClip state follows; int best epoch;
/// long training rows; long validation rows; long dropped rows; the steps, epochs and diagnostics
/// (as in format 2.1's history stream, without its layout number).
/// </remarks>
internal static class Format11
{
    public const uint Version = 0x00010001;

    /// <summary>Writes a format 1.1 model again as the release wrote it (a loaded old model saved again stays an old model).</summary>
    public static void Write(BinaryWriter w, Format11Network network, AutoClipperState? state, AutoClipNetTrainingHistory h)
    {
        w.Write(network.FeatureCount);
        w.Write((int)network.Activation);
        w.Write(network.DenseLayerCount);
        for (int l = 0; l < network.DenseLayerCount; l++)
        {
            var biases = network.GetBiases(l);
            w.Write(biases.Length);
            Serialization.WriteFloats(w, network.GetWeights(l));
            Serialization.WriteFloats(w, biases);
        }
        var (mean, scale) = network.FeaturePreprocessing;
        Serialization.WriteFloats(w, mean);
        Serialization.WriteFloats(w, scale);
        w.Write(network.LabelStandardization.Mean);
        w.Write(network.LabelStandardization.Scale);
        w.Write((byte)(state is null ? 0 : 1));
        state?.Save(w);
        w.Write(h.BestEpoch);
        w.Write(h.TrainingRows);
        w.Write(h.ValidationRows);
        w.Write(h.DroppedRows);
        ModelFormat.WriteRecords(w, h, withValidationErrors: false);
    }

    public static (Format11Network Network, AutoClipperState? State, AutoClipNetTrainingHistory History) Read(BinaryReader r)
    {
        try
        {
            int f = Serialization.ReadCount(r, "feature count", 1, 1 << 24);
            var activation = (AutoClipNetActivation)r.ReadInt32();
            if (activation is < AutoClipNetActivation.ReLU or > AutoClipNetActivation.LeakyReLU)
            {
                throw new InvalidDataException($"Unknown activation {(int)activation}.");
            }
            int layers = Serialization.ReadCount(r, "layer count", 1, 1024);
            var weights = new float[layers][];
            var biases = new float[layers][];
            int fanIn = f;
            for (int l = 0; l < layers; l++)
            {
                int outputs = Serialization.ReadCount(r, "layer size", 1, 1 << 20);
                weights[l] = Serialization.ReadFloats(r, (long)outputs * fanIn, $"layer {l} weights");
                biases[l] = Serialization.ReadFloats(r, outputs, $"layer {l} biases");
                fanIn = outputs;
            }
            var mean = Serialization.ReadFloats(r, f, "feature means");
            var scale = Serialization.ReadFloats(r, f, "feature scales");
            float labelMean = r.ReadSingle();
            float labelScale = r.ReadSingle();
            var network = new Format11Network(f, activation, weights, biases, mean, scale, labelMean, labelScale);
            var state = r.ReadByte() switch
            {
                0 => null,
                1 => AutoClipperState.Load(r),
                var b => throw new InvalidDataException($"Bad AutoClip state marker {b}."),
            };
            var summary = new HistorySummary(r.ReadInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64());
            var history = ModelFormat.ReadRecords(r, summary, withValidationErrors: false);
            return (network, state, history);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The AutoClipNet model in this file is truncated.", e);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("The AutoClipNet model", StringComparison.Ordinal))
        {
            throw new InvalidDataException("The AutoClipNet model in this file is corrupt: " + e.Message, e);
        }
    }
}

/// <summary>
/// The released network of format 1.1: standardization, dense layers with one activation, one output,
/// and the label's standardization. The managed forward and the batch forward (standardization folded
/// into the first and last layers) are the release's arithmetic, operation for operation; the only
/// change is that the batch forward's weights live in LibTorch's aligned memory (see
/// <see cref="TensorMemory"/>), which makes it reproducible.
/// </summary>
internal sealed class Format11Network : IModelNetwork
{
    private readonly float[][] _weights;
    private readonly float[][] _biases;
    private readonly int[] _sizes;
    private readonly float[] _featureMean;
    private readonly float[] _featureScale;
    private readonly float _labelMean;
    private readonly float _labelScale;
    private readonly Lazy<(Tensor WeightT, Tensor Bias)[]> _folded;

    public Format11Network(int features, AutoClipNetActivation activation, float[][] weights, float[][] biases, float[] featureMean, float[] featureScale,
        float labelMean, float labelScale)
    {
        FeatureCount = features;
        Activation = activation;
        _weights = weights;
        _biases = biases;
        _sizes = biases.Select(b => b.Length).ToArray();
        if (_sizes[^1] != 1)
        {
            throw new InvalidDataException($"The last layer has {_sizes[^1]} outputs; a regression network has 1.");
        }
        _featureMean = featureMean;
        _featureScale = featureScale;
        _labelMean = labelMean;
        _labelScale = labelScale;
        bool finite = featureMean.All(float.IsFinite) && featureScale.All(float.IsFinite) && float.IsFinite(labelMean) && float.IsFinite(labelScale)
            && weights.All(w => w.All(float.IsFinite)) && biases.All(b => b.All(float.IsFinite));
        if (!finite)
        {
            throw new InvalidDataException("The AutoClipNet model has weights or statistics that are not finite numbers.");
        }
        _folded = new(Fold, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public int FeatureCount { get; }

    public int OutputCount => 1;

    public AutoClipNetActivation Activation { get; }

    public long ParameterCount => _weights.Sum(w => (long)w.Length) + _biases.Sum(b => (long)b.Length);

    public IReadOnlyList<int> HiddenLayerSizes => _sizes[..^1];

    public int DenseLayerCount => _weights.Length;

    public float[] GetWeights(int layer) => (float[])_weights[layer].Clone();

    public float[] GetBiases(int layer) => (float[])_biases[layer].Clone();

    public (float[] Center, float[] Scale) FeaturePreprocessing => ((float[])_featureMean.Clone(), (float[])_featureScale.Clone());

    public (float Mean, float Scale) LabelStandardization => (_labelMean, _labelScale);

    public NetworkDescription? Description => null;

    /// <summary>
    /// The network as ONNX nodes (the label's z·scale + mean is the regression head's): its layers, except that GELU
    /// keeps the release's own error function (<see cref="Erf"/>), written out, so that exported scores match.
    /// </summary>
    public string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        using var layers = ToLayers();
        foreach (var layer in layers.Layers)
        {
            input = layer is ActivationLayer { Activation: AutoClipNetActivation.Gelu } ? ReleasedGelu(graph, input) : layer.SaveAsOnnx(graph, input);
        }
        return input;
    }

    /// <summary>x·(1 + erf(x/√2))/2 with <see cref="Erf"/>'s approximation: sign(z)·(1 − t·exp(−z² − 1.26551223 + t·P(t))), t = 1/(1 + |z|/2).</summary>
    private static string ReleasedGelu(IOnnxGraph graph, string x)
    {
        string Constant(double value) => graph.Scalar((float)value, "ReleasedErf");
        var z = graph.Binary("Mul", x, Constant(1 / Math.Sqrt(2)));
        var t = graph.Unary("Reciprocal", graph.Binary("Add", graph.Binary("Mul", graph.Unary("Abs", z), Constant(0.5)), Constant(1)));
        double[] coefficients = { 0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368 };
        var p = Constant(coefficients[0]);
        foreach (double c in coefficients.Skip(1))
        {
            p = graph.Binary("Add", graph.Binary("Mul", p, t), Constant(c));
        }
        var exponent = graph.Binary("Add", graph.Binary("Mul", t, p), Constant(-1.26551223));
        exponent = graph.Binary("Sub", exponent, graph.Binary("Mul", z, z));
        var y = graph.Binary("Sub", Constant(1), graph.Binary("Mul", t, graph.Unary("Exp", exponent)));
        var erf = graph.Binary("Mul", graph.Unary("Sign", z), y);
        var gelu = graph.Binary("Mul", x, graph.Binary("Add", erf, Constant(1)));
        return graph.Binary("Mul", gelu, Constant(0.5));
    }

    /// <summary>The same network as layers: standardization as a feature transform without clipping, the dense layers and activations.</summary>
    private NetworkDescription ToLayers()
    {
        var layers = new List<Layer> { new FeatureTransformLayer((float[])_featureMean.Clone(), (float[])_featureScale.Clone(), new bool[FeatureCount]) };
        int fanIn = FeatureCount;
        for (int l = 0; l < _weights.Length; l++)
        {
            layers.Add(new DenseLayer(fanIn, (float[])_weights[l].Clone(), (float[])_biases[l].Clone()));
            if (l < _weights.Length - 1)
            {
                layers.Add(new ActivationLayer(_sizes[l], Activation));
            }
            fanIn = _sizes[l];
        }
        return new NetworkDescription(FeatureCount, layers);
    }

    private int MaxWidth => Math.Max(FeatureCount, _sizes.Max());

    public int ScratchSize => FeatureCount + 2 * MaxWidth;

    /// <summary>The score of one row, as the release computed it: standardize, the layers, z·scale + mean.</summary>
    public void Forward(ReadOnlySpan<float> features, Span<float> outputs, Span<float> scratch)
    {
        int f = FeatureCount;
        int width = MaxWidth;
        var input = scratch[..f];
        features.CopyTo(input);
        TensorPrimitives.Subtract(input, _featureMean, input);
        TensorPrimitives.Multiply(input, _featureScale, input);
        var scratchA = scratch.Slice(f, width);
        var scratchB = scratch.Slice(f + width, width);
        ReadOnlySpan<float> current = input;
        Span<float> output = scratchA;
        int fanIn = f;
        for (int l = 0; l < _weights.Length; l++)
        {
            int size = _sizes[l];
            float[] w = _weights[l];
            float[] b = _biases[l];
            var o = output[..size];
            for (int j = 0; j < size; j++)
            {
                o[j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(w, j * fanIn, fanIn), current) + b[j];
            }
            if (l < _weights.Length - 1)
            {
                Activate(o);
            }
            current = o;
            output = output == scratchA ? scratchB : scratchA;
            fanIn = size;
        }
        outputs[0] = current[0] * _labelScale + _labelMean;
    }

    private void Activate(Span<float> values)
    {
        switch (Activation)
        {
            case AutoClipNetActivation.ReLU:
                TensorPrimitives.Max(values, 0f, values);
                break;
            case AutoClipNetActivation.Tanh:
                TensorPrimitives.Tanh(values, values);
                break;
            case AutoClipNetActivation.LeakyReLU:
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = values[i] > 0 ? values[i] : 0.01f * values[i];
                }
                break;
            case AutoClipNetActivation.Gelu:
                for (int i = 0; i < values.Length; i++)
                {
                    double x = values[i];
                    values[i] = (float)(0.5 * x * (1 + Erf(x / Math.Sqrt(2))));
                }
                break;
        }
    }

    /// <summary>The error function as the release computed it (Numerical Recipes' Chebyshev-fitted erfc, |error| &lt; 1.2e-7).</summary>
    private static double Erf(double x)
    {
        double t = 1.0 / (1.0 + 0.5 * Math.Abs(x));
        double y = 1 - t * Math.Exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? y : -y;
    }

    /// <summary>
    /// The weights with the standardization folded into the first and last layers, as the release's
    /// batch forward used them: W0' = W0·diag(scale), b0' = b0 − W0'·mean, the last layer multiplied by the
    /// label scale with the label mean added to its bias (in double precision).
    /// </summary>
    private (Tensor, Tensor)[] Fold()
    {
        AutoClip.TorchSharpNative.EnsureLoadable();
        int f = FeatureCount;
        var weights = _weights.Select(w => (float[])w.Clone()).ToArray();
        var biases = _biases.Select(b => (float[])b.Clone()).ToArray();
        int outputs = _sizes[0];
        for (int j = 0; j < outputs; j++)
        {
            double shift = 0;
            for (int i = 0; i < f; i++)
            {
                double w = (double)_weights[0][j * f + i] * _featureScale[i];
                weights[0][j * f + i] = (float)w;
                shift += w * _featureMean[i];
            }
            biases[0][j] = (float)(_biases[0][j] - shift);
        }
        int last = weights.Length - 1;
        for (int i = 0; i < weights[last].Length; i++)
        {
            weights[last][i] = (float)((double)weights[last][i] * _labelScale);
        }
        biases[last][0] = (float)((double)biases[last][0] * _labelScale + _labelMean);

        var result = new (Tensor, Tensor)[weights.Length];
        int fanIn = f;
        for (int l = 0; l < weights.Length; l++)
        {
            using var w = TensorMemory.Copy(weights[l], _sizes[l], fanIn);
            result[l] = (w.t().DetachFromDisposeScope(), TensorMemory.Copy(biases[l], _sizes[l]).DetachFromDisposeScope());
            fanIn = _sizes[l];
        }
        return result;
    }

    public IBatchScorer CreateBatchScorer(int capacity) => new Scorer(this, _folded.Value, capacity);

    /// <summary>The release's batch forward: per layer, bias copied into the buffer, one GEMM accumulating into it, the activation in place.</summary>
    private sealed class Scorer : IBatchScorer
    {
        private readonly Format11Network _network;
        private readonly (Tensor WeightT, Tensor Bias)[] _layers;
        private readonly Tensor _input;
        private readonly Tensor[] _outputs;

        public Scorer(Format11Network network, (Tensor, Tensor)[] layers, int capacity)
        {
            if (capacity < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A batch holds at least one row.");
            }
            _network = network;
            _layers = layers;
            Capacity = capacity;
            _outputs = new Tensor[layers.Length];
            for (int l = 0; l < layers.Length; l++)
            {
                _outputs[l] = empty(capacity, network._sizes[l]).DetachFromDisposeScope();
            }
            _input = empty(capacity, network.FeatureCount).DetachFromDisposeScope();
        }

        public int Capacity { get; }

        public Span<float> Input => TensorMemory.Floats(_input);

        public ReadOnlySpan<float> Forward(int rows)
        {
            if (rows < 1 || rows > Capacity)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), rows, $"A batch of this scorer holds 1 to {Capacity} rows.");
            }
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var x = rows == Capacity ? _input : _input.narrow(0, 0, rows);
            for (int l = 0; l < _layers.Length; l++)
            {
                var (weightT, bias) = _layers[l];
                var y = rows == Capacity ? _outputs[l] : _outputs[l].narrow(0, 0, rows);
                y.copy_(bias.expand(rows, bias.shape[0]));
                y.addmm_(x, weightT);
                if (l < _layers.Length - 1)
                {
                    switch (_network.Activation)
                    {
                        case AutoClipNetActivation.ReLU:
                            y.relu_();
                            break;
                        case AutoClipNetActivation.Tanh:
                            y.tanh_();
                            break;
                        case AutoClipNetActivation.Gelu:
                            y.gelu_();
                            break;
                        default:
                            y.leaky_relu_(Scalars.LeakySlope);
                            break;
                    }
                }
                x = y;
            }
            return MemoryMarshal.Cast<byte, float>(_outputs[^1].bytes)[..rows];
        }

        public void Dispose()
        {
            _input.Dispose();
            foreach (var output in _outputs)
            {
                output.Dispose();
            }
        }
    }

    public void Dispose()
    {
        if (_folded.IsValueCreated)
        {
            foreach (var (w, b) in _folded.Value)
            {
                w.Dispose();
                b.Dispose();
            }
        }
    }
}
