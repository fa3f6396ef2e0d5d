using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// Periodic embeddings of the numeric features (RealMLP's "PBLD", after Gorishniy et al. 2022): for
/// each embedded feature j, with its own k frequencies w_j, phases b_j, a k×d matrix V_j and a bias c_j,
/// e_j = cos(2π·x_j·w_j + b_j)·V_j + c_j (d values). The output is every e_j, feature after feature,
/// followed by all the input values unchanged: m·d + F values for F inputs of which m are embedded.
/// </summary>
internal sealed class PeriodicEmbeddingLayer : Layer
{
    private readonly int[] _embedded;
    private readonly float[] _frequencies; // m × k
    private readonly float[] _phases;      // m × k
    private readonly float[] _weights;     // m × k × d
    private readonly float[] _bias;        // m × d
    private Lazy<(Tensor Index, Tensor Frequencies, Tensor Phases, Tensor Weights, Tensor Bias)> _tensors;

    public PeriodicEmbeddingLayer(int inputSize, int[] embedded, int frequencies, int outputsPerFeature,
        float[] frequencyValues, float[] phases, float[] weights, float[] bias, float learningRateFactor = 1f, float weightDecayFactor = 1f)
    {
        int m = embedded.Length;
        if (inputSize < 1 || m < 1 || frequencies < 1 || outputsPerFeature < 1
            || embedded.Any(j => j < 0 || j >= inputSize) || embedded.Distinct().Count() != m
            || frequencyValues.Length != (long)m * frequencies || phases.Length != (long)m * frequencies
            || weights.Length != (long)m * frequencies * outputsPerFeature || bias.Length != (long)m * outputsPerFeature)
        {
            throw new InvalidDataException($"A periodic embedding of {m} of {inputSize} features with {frequencies} frequencies and {outputsPerFeature} outputs each has parameters of the wrong sizes.");
        }
        if (!frequencyValues.All(float.IsFinite) || !phases.All(float.IsFinite) || !weights.All(float.IsFinite) || !bias.All(float.IsFinite))
        {
            throw new InvalidDataException("A periodic embedding has parameters that are not finite numbers.");
        }
        InputSize = inputSize;
        _embedded = embedded;
        Frequencies = frequencies;
        OutputsPerFeature = outputsPerFeature;
        _frequencies = frequencyValues;
        _phases = phases;
        _weights = weights;
        _bias = bias;
        LearningRateFactor = learningRateFactor;
        WeightDecayFactor = weightDecayFactor;
        _tensors = NewTensors();
    }

    /// <summary>
    /// A new layer for training: frequencies ~ N(0, σ²), phases ~ U(−π, π), V and c ~ U(−1, 1)/√k.
    /// </summary>
    public static PeriodicEmbeddingLayer Create(int inputSize, int[] embedded, int frequencies, int outputsPerFeature, double sigma, Random random,
        float learningRateFactor, float weightDecayFactor)
    {
        int m = embedded.Length;
        var w = new float[m * frequencies];
        var b = new float[m * frequencies];
        var v = new float[m * frequencies * outputsPerFeature];
        var c = new float[m * outputsPerFeature];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(DenseLayer.Gaussian(random) * sigma);
        }
        for (int i = 0; i < b.Length; i++)
        {
            b[i] = (float)((random.NextDouble() * 2 - 1) * Math.PI);
        }
        double bound = 1 / Math.Sqrt(frequencies);
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)((random.NextDouble() * 2 - 1) * bound);
        }
        for (int i = 0; i < c.Length; i++)
        {
            c[i] = (float)((random.NextDouble() * 2 - 1) * bound);
        }
        return new PeriodicEmbeddingLayer(inputSize, (int[])embedded.Clone(), frequencies, outputsPerFeature, w, b, v, c, learningRateFactor, weightDecayFactor);
    }

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.PeriodicEmbedding;

    public override int InputSize { get; }

    public override int OutputSize => _embedded.Length * OutputsPerFeature + InputSize;

    public override long ParameterCount => _frequencies.Length + _phases.Length + _weights.Length + _bias.Length;

    /// <summary>x_j·w_j (k per feature) and the k×d product per feature.</summary>
    public override long MultiplyAddsPerRow => _frequencies.Length + _weights.Length;

    /// <summary>The features that are embedded (the others only pass through).</summary>
    public IReadOnlyList<int> EmbeddedFeatures => _embedded;

    public int Frequencies { get; }

    public int OutputsPerFeature { get; }

    public float LearningRateFactor { get; }

    public float WeightDecayFactor { get; }

    public override void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckInput(input, output);
        int k = Frequencies, d = OutputsPerFeature;
        Span<float> periodic = k <= 256 ? stackalloc float[k] : new float[k];
        for (int e = 0; e < _embedded.Length; e++)
        {
            float x = input[_embedded[e]];
            for (int q = 0; q < k; q++)
            {
                // The batch forward's order: (x·w)·2π + b, then cos.
                float t = x * _frequencies[e * k + q];
                t *= TwoPi;
                t += _phases[e * k + q];
                periodic[q] = MathF.Cos(t);
            }
            for (int o = 0; o < d; o++)
            {
                float sum = 0;
                for (int q = 0; q < k; q++)
                {
                    sum += periodic[q] * _weights[(e * k + q) * d + o];
                }
                output[e * d + o] = sum + _bias[e * d + o];
            }
        }
        input.CopyTo(output.Slice(_embedded.Length * d, InputSize));
    }

    private const float TwoPi = (float)(2 * Math.PI);

    /// <summary>The output buffer and the batch forward's temporaries: the embedded columns, the periodic features (and their contiguous copy for the product), the product and its sum with the bias.</summary>
    public override long BatchBytesPerRow
    {
        get
        {
            long m = _embedded.Length;
            return base.BatchBytesPerRow + sizeof(float) * (m + 2 * m * Frequencies + 3 * m * OutputsPerFeature);
        }
    }

    public override Tensor Forward(Tensor input, Tensor? output)
    {
        var (index, frequencies, phases, weights, bias) = _tensors.Value;
        var y = output ?? throw new ArgumentNullException(nameof(output));
        long rows = input.shape[0];
        int m = _embedded.Length, d = OutputsPerFeature;
        var embedded = Embed(input, index, frequencies, phases, weights, bias); // rows × m × d
        y.narrow(1, 0, m * d).copy_(embedded.reshape(rows, m * d));
        y.narrow(1, m * d, InputSize).copy_(input);
        return y;
    }

    /// <summary>cos(2π·x·w + b)·V + c for the embedded columns of <paramref name="input"/>: rows × m × d.</summary>
    private static Tensor Embed(Tensor input, Tensor index, Tensor frequencies, Tensor phases, Tensor weights, Tensor bias)
    {
        var x = input.index_select(1, index);                      // rows × m
        var periodic = x.unsqueeze(2).mul(frequencies).mul_(Scalars.TwoPi).add_(phases, Scalars.One).cos_(); // rows × m × k
        var mixed = periodic.permute(1, 0, 2).bmm(weights);          // m × rows × d
        return mixed.permute(1, 0, 2).add(bias, Scalars.One);        // rows × m × d
    }

    public override string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        long m = _embedded.Length, k = Frequencies, d = OutputsPerFeature;
        var x = graph.Node("Gather", new[] { input, graph.Constant(_embedded.Select(j => (long)j), new[] { m }, "EmbeddedFeatures") }, null, ("axis", 1L)); // rows × m
        var t = graph.Unary("Unsqueeze", x, ("axes", new[] { 2L }));                                                   // rows × m × 1
        t = graph.Binary("Mul", t, graph.Constant(_frequencies, new[] { m, k }, "EmbeddingFrequencies"));                // rows × m × k
        t = graph.Binary("Mul", t, graph.Scalar(TwoPi, "TwoPi"));
        t = graph.Binary("Add", t, graph.Constant(_phases, new[] { m, k }, "EmbeddingPhases"));
        t = graph.Unary("Cos", t);
        t = graph.Unary("Transpose", t, ("perm", new[] { 1L, 0L, 2L }));                                               // m × rows × k
        t = graph.Binary("MatMul", t, graph.Constant(_weights, new[] { m, k, d }, "EmbeddingWeights"));                  // m × rows × d
        t = graph.Unary("Transpose", t, ("perm", new[] { 1L, 0L, 2L }));                                               // rows × m × d
        t = graph.Binary("Add", t, graph.Constant(_bias, new[] { m, d }, "EmbeddingBias"));
        t = graph.Binary("Reshape", t, graph.Constant(new[] { 0L, m * d }, new[] { 2L }, "EmbeddingShape"));            // rows × m·d
        return graph.Node("Concat", new[] { t, input }, null, ("axis", 1L));
    }

    public override IReadOnlyList<ParameterSpec> GetParameters()
    {
        long m = _embedded.Length;
        return new[]
        {
            new ParameterSpec("frequencies", new[] { m, Frequencies }, _frequencies, 1f, LearningRateFactor, WeightDecayFactor),
            new ParameterSpec("phases", new[] { m, Frequencies }, _phases, 1f, LearningRateFactor, WeightDecayFactor),
            new ParameterSpec("weights", new[] { m, Frequencies, OutputsPerFeature }, _weights, 1f, LearningRateFactor, WeightDecayFactor),
            new ParameterSpec("bias", new[] { m, OutputsPerFeature }, _bias, 1f, LearningRateFactor, WeightDecayFactor),
        };
    }

    public override ILayerStep CreateStep(StepContext context) => new PeriodicEmbeddingStep(this, context);

    /// <summary>"feature" (the embedded features' indices), then the parameters: "frequencies", "phases", "weights", "bias".</summary>
    public override IReadOnlyList<(string Name, long[] Shape, float[] Values)> DescribeValues()
        => base.DescribeValues().Prepend(("feature", new long[] { _embedded.Length }, _embedded.Select(j => (float)j).ToArray())).ToArray();

    public override Layer WithParameters(IReadOnlyList<float[]> values)
        => new PeriodicEmbeddingLayer(InputSize, _embedded, Frequencies, OutputsPerFeature, values[0], values[1], values[2], values[3], LearningRateFactor, WeightDecayFactor);

    // Layout: int F; int m; int[m] embedded features; int k; int d; float[m·k] frequencies; float[m·k] phases;
    // float[m·k·d] weights; float[m·d] bias.
    public override void Write(BinaryWriter writer)
    {
        writer.Write(InputSize);
        Serialization.WriteIndices(writer, _embedded);
        writer.Write(Frequencies);
        writer.Write(OutputsPerFeature);
        Serialization.WriteFloats(writer, _frequencies);
        Serialization.WriteFloats(writer, _phases);
        Serialization.WriteFloats(writer, _weights);
        Serialization.WriteFloats(writer, _bias);
    }

    public static PeriodicEmbeddingLayer Read(BinaryReader reader, LayerReadContext context)
    {
        int features = Serialization.ReadCount(reader, "embedding's input count", 1, Serialization.MaxWidth);
        CheckWidth("periodic embedding", features, context.InputSize);
        var embedded = Serialization.ReadIndices(reader, "number of embedded features", features, "embedded feature", features);
        int m = embedded.Length;
        int k = Serialization.ReadCount(reader, "number of frequencies", 1, 4096);
        int d = Serialization.ReadCount(reader, "embedding size", 1, 4096);
        var w = Serialization.ReadFloats(reader, (long)m * k, "embedding frequencies");
        var b = Serialization.ReadFloats(reader, (long)m * k, "embedding phases");
        var v = Serialization.ReadFloats(reader, (long)m * k * d, "embedding weights");
        var c = Serialization.ReadFloats(reader, (long)m * d, "embedding biases");
        return new PeriodicEmbeddingLayer(features, embedded, k, d, w, b, v, c);
    }

    /// <summary>The embedded features' indices as an int64 tensor.</summary>
    private Tensor CreateIndex()
    {
        var index = empty(new long[] { _embedded.Length }, ScalarType.Int64);
        var indices = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(index.bytes);
        for (int i = 0; i < _embedded.Length; i++)
        {
            indices[i] = _embedded[i];
        }
        return index.DetachFromDisposeScope();
    }

    private (Tensor, Tensor, Tensor, Tensor, Tensor) CreateTensors()
    {
        int m = _embedded.Length;
        return (CreateIndex(),
            TensorMemory.Copy(_frequencies, m, Frequencies).DetachFromDisposeScope(),
            TensorMemory.Copy(_phases, m, Frequencies).DetachFromDisposeScope(),
            TensorMemory.Copy(_weights, m, Frequencies, OutputsPerFeature).DetachFromDisposeScope(),
            TensorMemory.Copy(_bias, m, OutputsPerFeature).DetachFromDisposeScope());
    }

    /// <summary>Frees the LibTorch copies of the weights, if a batch forward made any; a later batch forward makes them again.</summary>
    public override void Dispose()
    {
        if (_tensors.IsValueCreated)
        {
            var t = _tensors.Value;
            t.Index.Dispose();
            t.Frequencies.Dispose();
            t.Phases.Dispose();
            t.Weights.Dispose();
            t.Bias.Dispose();
        }
        _tensors = NewTensors();
    }

    private Lazy<(Tensor Index, Tensor Frequencies, Tensor Phases, Tensor Weights, Tensor Bias)> NewTensors() => new(CreateTensors, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    public override string ToString() => $"periodic embedding of {_embedded.Length} features ({Frequencies} frequencies → {OutputsPerFeature})";
}
