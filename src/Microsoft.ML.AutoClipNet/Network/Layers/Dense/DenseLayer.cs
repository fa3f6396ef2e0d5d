using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>How a dense layer's weights are parametrized and initialised for training.</summary>
internal enum DenseInit
{
    /// <summary>PyTorch's nn.Linear: W and b uniform in ±1/√fan-in (the previous network).</summary>
    Uniform = 0,

    /// <summary>NTK-style: W = w/√fan-in with w ~ N(0, 1), b ~ N(0, 1) (RealMLP).</summary>
    NtkNormal = 1,

    /// <summary>NTK-style with every weight and bias starting at zero (RealMLP's output layer).</summary>
    NtkZero = 2,
}

/// <summary>
/// A fully connected layer, y = x·Wᵀ + b, with W row-major (outputs × inputs) as TorchSharp stores it.
/// The layer holds the effective weights; how training parametrizes them (NTK-style: W = w/√fan-in,
/// so that Adam's step acts per layer) is said by <see cref="WeightScale"/> and the learning-rate
/// factors, which only training reads (<see cref="DenseStep"/>).
/// </summary>
internal sealed class DenseLayer : Layer
{
    private readonly float[] _weights;
    private readonly float[] _bias;
    private Lazy<(Tensor WeightT, Tensor Bias)> _tensors;

    public DenseLayer(int inputSize, float[] weights, float[] bias, float weightScale = 1f, float weightLearningRateFactor = 1f, float biasLearningRateFactor = 1f,
        float weightDecayFactor = 1f, float biasWeightDecayFactor = 1f)
    {
        if (inputSize < 1 || bias.Length < 1 || weights.Length != (long)inputSize * bias.Length)
        {
            throw new InvalidDataException($"A dense layer of {bias.Length} outputs × {inputSize} inputs cannot have {weights.Length} weights.");
        }
        if (!weights.All(float.IsFinite) || !bias.All(float.IsFinite))
        {
            throw new InvalidDataException("A dense layer has weights or biases that are not finite numbers.");
        }
        InputSize = inputSize;
        _weights = weights;
        _bias = bias;
        WeightScale = weightScale;
        WeightLearningRateFactor = weightLearningRateFactor;
        BiasLearningRateFactor = biasLearningRateFactor;
        WeightDecayFactor = weightDecayFactor;
        BiasWeightDecayFactor = biasWeightDecayFactor;
        _tensors = NewTensors();
    }

    /// <summary>A new layer initialised for training with <paramref name="random"/>.</summary>
    public static DenseLayer Create(int inputSize, int outputSize, DenseInit init, Random random,
        float weightLearningRateFactor = 1f, float biasLearningRateFactor = 1f, float weightDecayFactor = 1f, float biasWeightDecayFactor = 1f)
    {
        var weights = new float[(long)outputSize * inputSize];
        var bias = new float[outputSize];
        float scale = 1f;
        switch (init)
        {
            case DenseInit.Uniform:
                double bound = 1 / Math.Sqrt(inputSize);
                for (int i = 0; i < weights.Length; i++)
                {
                    weights[i] = (float)((random.NextDouble() * 2 - 1) * bound);
                }
                for (int i = 0; i < bias.Length; i++)
                {
                    bias[i] = (float)((random.NextDouble() * 2 - 1) * bound);
                }
                break;
            case DenseInit.NtkNormal:
                scale = (float)(1 / Math.Sqrt(inputSize));
                for (int i = 0; i < weights.Length; i++)
                {
                    weights[i] = (float)(Gaussian(random) * scale);
                }
                for (int i = 0; i < bias.Length; i++)
                {
                    bias[i] = (float)Gaussian(random);
                }
                break;
            case DenseInit.NtkZero:
                scale = (float)(1 / Math.Sqrt(inputSize));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(init), init, "Unknown initialisation.");
        }
        return new DenseLayer(inputSize, weights, bias, scale, weightLearningRateFactor, biasLearningRateFactor, weightDecayFactor, biasWeightDecayFactor);
    }

    /// <summary>A standard normal value (Box–Muller on two uniforms of <paramref name="random"/>).</summary>
    internal static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(); // (0, 1]
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.Dense;

    public override int InputSize { get; }

    public override int OutputSize => _bias.Length;

    public override long ParameterCount => _weights.Length + _bias.Length;

    public override long MultiplyAddsPerRow => _weights.Length;

    /// <summary>Training parametrizes W as raw · WeightScale (1 for the uniform initialisation, 1/√fan-in for NTK).</summary>
    public float WeightScale { get; }

    public float WeightLearningRateFactor { get; }

    public float BiasLearningRateFactor { get; }

    public float WeightDecayFactor { get; }

    public float BiasWeightDecayFactor { get; }

    public ReadOnlySpan<float> Weights => _weights;

    public ReadOnlySpan<float> Bias => _bias;

    public override void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckInput(input, output);
        Kernels.Dense(_weights, _bias, input, output);
    }

    public override Tensor Forward(Tensor input, Tensor? output)
    {
        var (weightT, bias) = _tensors.Value;
        var y = output ?? throw new ArgumentNullException(nameof(output));
        y.copy_(bias.expand(y.shape[0], bias.shape[0]));
        y.addmm_(input, weightT);
        return y;
    }

    public override string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        var weights = graph.Constant(_weights, new long[] { OutputSize, InputSize }, "DenseWeights");
        var bias = graph.Constant(_bias, new long[] { OutputSize }, "DenseBias");
        return graph.Node("Gemm", new[] { input, weights, bias }, null, ("transB", 1L));
    }

    public override IReadOnlyList<ParameterSpec> GetParameters() => new[]
    {
        new ParameterSpec("weight", new long[] { OutputSize, InputSize }, _weights, WeightScale, WeightLearningRateFactor, WeightDecayFactor),
        new ParameterSpec("bias", new long[] { OutputSize }, _bias, 1f, BiasLearningRateFactor, BiasWeightDecayFactor),
    };

    public override ILayerStep CreateStep(StepContext context) => new DenseStep(this, context);

    public override Layer WithParameters(IReadOnlyList<float[]> values)
        => new DenseLayer(InputSize, values[0], values[1], WeightScale, WeightLearningRateFactor, BiasLearningRateFactor, WeightDecayFactor, BiasWeightDecayFactor);

    public override void Write(BinaryWriter writer)
    {
        writer.Write(InputSize);
        writer.Write(OutputSize);
        Serialization.WriteFloats(writer, _weights);
        Serialization.WriteFloats(writer, _bias);
    }

    public static DenseLayer Read(BinaryReader reader, LayerReadContext context)
    {
        int inputs = Serialization.ReadCount(reader, "dense layer's input count", 1, Serialization.MaxWidth);
        CheckWidth("dense layer", inputs, context.InputSize);
        int outputs = Serialization.ReadCount(reader, "dense layer's output count", 1, Serialization.MaxWidth);
        var weights = Serialization.ReadFloats(reader, (long)outputs * inputs, "dense layer's weights");
        var bias = Serialization.ReadFloats(reader, outputs, "dense layer's biases");
        return new DenseLayer(inputs, weights, bias);
    }

    private (Tensor, Tensor) CreateTensors()
    {
        using var weight = TensorMemory.Copy(_weights, OutputSize, InputSize);
        var weightT = weight.t().DetachFromDisposeScope(); // a view: keeps the storage alive
        var bias = TensorMemory.Copy(_bias, OutputSize).DetachFromDisposeScope();
        return (weightT, bias);
    }

    /// <summary>Frees the LibTorch copies of the weights, if a batch forward made any; a later batch forward makes them again.</summary>
    public override void Dispose()
    {
        if (_tensors.IsValueCreated)
        {
            _tensors.Value.WeightT.Dispose();
            _tensors.Value.Bias.Dispose();
        }
        _tensors = NewTensors();
    }

    private Lazy<(Tensor WeightT, Tensor Bias)> NewTensors() => new(CreateTensors, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    public override string ToString() => $"dense {InputSize}→{OutputSize}";
}
