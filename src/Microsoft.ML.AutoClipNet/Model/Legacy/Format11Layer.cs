using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Microsoft.ML.AutoClipNet.Model.Legacy;

/// <summary>
/// The released network of format 1.1 as one layer of an ordinary network description: standardization, dense layers with
/// one activation, one output, and the label's standardization, so that its output is the score (the regression head of
/// such a model is the identity, <see cref="Tasks.RegressionHead.Identity"/>). The managed forward and the batch forward
/// (standardization folded into the first and last layers) are the release's arithmetic, operation for operation, with the
/// release's own error function and <see cref="TensorPrimitives"/> rather than this version's kernels; the only change is
/// that the batch forward's weights live in LibTorch's aligned memory (see <see cref="TensorMemory"/>), which makes it
/// reproducible. It has no stored kind number: it is read and written only by <see cref="Format11"/>, and never trained.
/// </summary>
internal sealed class Format11Layer : Layer
{
    [ThreadStatic]
    private static float[]? t_scratch;

    private readonly float[][] _weights;
    private readonly float[][] _biases;
    private readonly int[] _sizes;
    private readonly float[] _featureMean;
    private readonly float[] _featureScale;
    private readonly float _labelMean;
    private readonly float _labelScale;
    private readonly Lazy<NetworkDescription> _equivalent;
    private Lazy<(Tensor WeightT, Tensor Bias)[]> _folded;

    public Format11Layer(int features, AutoClipNetActivation activation, float[][] weights, float[][] biases, float[] featureMean, float[] featureScale,
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
        _folded = NewFolded();
        _equivalent = new(ToLayers, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.ReleasedNetwork;

    public int FeatureCount { get; }

    public override int InputSize => FeatureCount;

    public override int OutputSize => 1;

    public AutoClipNetActivation Activation { get; }

    public override long ParameterCount => _weights.Sum(w => (long)w.Length) + _biases.Sum(b => (long)b.Length);

    public override long MultiplyAddsPerRow => _weights.Sum(w => (long)w.Length);

    public int DenseLayerCount => _weights.Length;

    public ReadOnlySpan<float> Weights(int layer) => _weights[layer];

    public ReadOnlySpan<float> Biases(int layer) => _biases[layer];

    public ReadOnlySpan<float> FeatureMean => _featureMean;

    public ReadOnlySpan<float> FeatureScale => _featureScale;

    public (float Mean, float Scale) LabelStandardization => (_labelMean, _labelScale);

    /// <summary>The same network as this version's layers (standardization, dense layers, activations), without the label's standardization.</summary>
    public override IReadOnlyList<NetworkDescription> Parts => new[] { _equivalent.Value };

    /// <summary>The label's standardization ("label mean", "label scale"); the layers' values are its member's.</summary>
    public override IReadOnlyList<(string Name, long[] Shape, float[] Values)> DescribeValues() => new[]
    {
        ("label mean", new long[] { 1 }, new[] { _labelMean }),
        ("label scale", new long[] { 1 }, new[] { _labelScale }),
    };

    /// <summary>A released network is scored only: it was never trained further, and never will be.</summary>
    public override ILayerStep CreateStep(StepContext context)
        => throw new NotSupportedException("A network saved by the first release (format 1.1) is scored as it was saved; it cannot be trained further.");

    /// <summary>Written only in its own format, by <see cref="Format11.Write"/>.</summary>
    public override void Write(BinaryWriter writer)
        => throw new InvalidOperationException("A released format 1.1 network is written by Format11.Write, never as a layer of a 2.x network.");

    public override string ToString() => $"released network (format 1.1): standardization → {string.Join(" → ", _sizes.Select(s => $"dense {s}"))} ({Activation}) → label standardization";

    /// <summary>
    /// The network as ONNX nodes: its layers, except that GELU keeps the release's own error function (<see cref="Erf"/>),
    /// written out so that exported scores match, then the label's z·scale + mean.
    /// </summary>
    public override string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        foreach (var layer in _equivalent.Value.Layers)
        {
            input = layer is ActivationLayer { Activation: AutoClipNetActivation.Gelu } ? ReleasedGelu(graph, input) : layer.SaveAsOnnx(graph, input);
        }
        var y = graph.Binary("Mul", input, graph.Scalar(_labelScale, "LabelScale"));
        return graph.Binary("Add", y, graph.Scalar(_labelMean, "LabelMean"));
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

    /// <summary>The score of one row, as the release computed it: standardize, the layers, z·scale + mean.</summary>
    public override void Forward(ReadOnlySpan<float> features, Span<float> outputs)
    {
        CheckInput(features, outputs);
        int f = FeatureCount;
        int width = MaxWidth;
        int needed = f + 2 * width;
        var scratch = t_scratch;
        if (scratch is null || scratch.Length < needed)
        {
            t_scratch = scratch = new float[needed];
        }
        var input = scratch.AsSpan(0, f);
        features.CopyTo(input);
        TensorPrimitives.Subtract(input, _featureMean, input);
        TensorPrimitives.Multiply(input, _featureScale, input);
        var scratchA = scratch.AsSpan(f, width);
        var scratchB = scratch.AsSpan(f + width, width);
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

    /// <summary>The release's batch forward with temporary tensors for its layers (a scorer uses <see cref="CreateBatchForward"/>, whose buffers are allocated once).</summary>
    public override Tensor Forward(Tensor input, Tensor? output)
    {
        var y = output ?? throw new ArgumentNullException(nameof(output));
        int rows = (int)input.shape[0];
        using var scope = NewDisposeScope();
        var layers = _folded.Value;
        var x = input;
        for (int l = 0; l < layers.Length; l++)
        {
            x = Layer(l, x, l == layers.Length - 1 ? y : empty(rows, _sizes[l]), rows);
        }
        return y;
    }

    public override BatchForward CreateBatchForward(int capacity) => new ReleasedBatchForward(this, capacity);

    /// <summary>One buffer per dense layer.</summary>
    public override long BatchBytesPerRow => sizeof(float) * _sizes.Sum(s => (long)s);

    /// <summary>The release's batch forward, layer <paramref name="l"/>: the bias copied into the buffer, one GEMM accumulating into it, the activation in place.</summary>
    private Tensor Layer(int l, Tensor x, Tensor y, int rows)
    {
        var (weightT, bias) = _folded.Value[l];
        y.copy_(bias.expand(rows, bias.shape[0]));
        y.addmm_(x, weightT);
        if (l < _sizes.Length - 1)
        {
            switch (Activation)
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
        return y;
    }

    /// <summary>The release's batch scorer: one buffer per layer, allocated once.</summary>
    private sealed class ReleasedBatchForward : BatchForward
    {
        private readonly Format11Layer _network;
        private readonly Tensor[] _outputs = Array.Empty<Tensor>();

        public ReleasedBatchForward(Format11Layer network, int capacity)
            : base(capacity)
        {
            _network = network;
            _ = network._folded.Value; // the folded weights first, as the release made them
            try
            {
                _outputs = network._sizes.Select(size => Buffer(size)).ToArray();
            }
            catch
            {
                Dispose(); // the buffers made before the one that failed
                throw;
            }
        }

        public override Tensor Forward(Tensor x, int rows)
        {
            for (int l = 0; l < _outputs.Length; l++)
            {
                x = _network.Layer(l, x, Rows(_outputs[l], rows), rows);
            }
            return x;
        }
    }

    public override void Dispose()
    {
        if (_folded.IsValueCreated)
        {
            foreach (var (w, b) in _folded.Value)
            {
                w.Dispose();
                b.Dispose();
            }
        }
        _folded = NewFolded();
        if (_equivalent.IsValueCreated)
        {
            _equivalent.Value.Dispose();
        }
    }

    private Lazy<(Tensor WeightT, Tensor Bias)[]> NewFolded() => new(Fold, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);
}
