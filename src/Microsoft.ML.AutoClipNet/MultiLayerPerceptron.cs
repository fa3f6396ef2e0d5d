using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet;

/// <summary>The nonlinearity between the hidden layers of an AutoClipNet network.</summary>
public enum AutoClipNetActivation
{
    /// <summary>max(0, x).</summary>
    ReLU = 0,

    /// <summary>The hyperbolic tangent.</summary>
    Tanh = 1,

    /// <summary>The Gaussian error linear unit (tanh approximation not used: the exact erf form).</summary>
    Gelu = 2,

    /// <summary>max(0.01·x, x).</summary>
    LeakyReLU = 3,
}

/// <summary>
/// A trained fully connected network as plain arrays: the weights of each linear layer (row-major,
/// output × input, as TorchSharp stores them) and its bias. It scores single rows in managed code
/// (no tensors), and batches of rows with TorchSharp.
/// </summary>
internal sealed class MultiLayerPerceptron : IDisposable
{
    private readonly Lazy<(Tensor Weight, Tensor Bias)[]> _tensors;

    public MultiLayerPerceptron(int inputSize, AutoClipNetActivation activation, IReadOnlyList<float[]> weights, IReadOnlyList<float[]> biases)
    {
        if (weights.Count != biases.Count || weights.Count == 0)
        {
            throw new ArgumentException("A network needs as many bias vectors as weight matrices, and at least one layer.");
        }
        InputSize = inputSize;
        Activation = activation;
        var sizes = new int[weights.Count];
        int fanIn = inputSize;
        for (int l = 0; l < weights.Count; l++)
        {
            sizes[l] = biases[l].Length;
            if (weights[l].Length != (long)sizes[l] * fanIn)
            {
                throw new InvalidDataException($"Layer {l} has {weights[l].Length} weights; {sizes[l]} outputs × {fanIn} inputs were expected.");
            }
            fanIn = sizes[l];
        }
        if (sizes[^1] != 1)
        {
            throw new InvalidDataException($"The last layer has {sizes[^1]} outputs; a regression network has 1.");
        }
        LayerSizes = sizes;
        Weights = weights;
        Biases = biases;
        _tensors = new Lazy<(Tensor, Tensor)[]>(CreateTensors, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public int InputSize { get; }

    public AutoClipNetActivation Activation { get; }

    /// <summary>Output sizes of the linear layers; the last is 1.</summary>
    public IReadOnlyList<int> LayerSizes { get; }

    public IReadOnlyList<float[]> Weights { get; }

    public IReadOnlyList<float[]> Biases { get; }

    public int MaxWidth
    {
        get
        {
            int max = InputSize;
            foreach (int size in LayerSizes)
            {
                max = Math.Max(max, size);
            }
            return max;
        }
    }

    public long ParameterCount
    {
        get
        {
            long count = 0;
            for (int l = 0; l < Weights.Count; l++)
            {
                count += Weights[l].Length + Biases[l].Length;
            }
            return count;
        }
    }

    /// <summary>Builds a trainable TorchSharp module with these layer sizes, initialised by TorchSharp's global generator.</summary>
    public static Sequential CreateModule(int inputSize, IReadOnlyList<int> hiddenSizes, AutoClipNetActivation activation)
    {
        Microsoft.ML.AutoClip.TorchSharpNative.EnsureLoadable();
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        int fanIn = inputSize;
        for (int l = 0; l < hiddenSizes.Count; l++)
        {
            layers.Add(($"linear{l}", nn.Linear(fanIn, hiddenSizes[l])));
            layers.Add(($"activation{l}", CreateActivation(activation)));
            fanIn = hiddenSizes[l];
        }
        layers.Add(($"linear{hiddenSizes.Count}", nn.Linear(fanIn, 1)));
        return nn.Sequential(layers);
    }

    private static nn.Module<Tensor, Tensor> CreateActivation(AutoClipNetActivation activation) => activation switch
    {
        AutoClipNetActivation.ReLU => nn.ReLU(),
        AutoClipNetActivation.Tanh => nn.Tanh(),
        AutoClipNetActivation.Gelu => nn.GELU(),
        AutoClipNetActivation.LeakyReLU => nn.LeakyReLU(0.01),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };

    /// <summary>Copies the current weights of a module built by <see cref="CreateModule"/>.</summary>
    public static MultiLayerPerceptron FromModule(Sequential module, int inputSize, AutoClipNetActivation activation)
    {
        var weights = new List<float[]>();
        var biases = new List<float[]>();
        foreach (var child in module.children())
        {
            if (child is Linear linear)
            {
                weights.Add(linear.weight!.data<float>().ToArray());
                biases.Add(linear.bias!.data<float>().ToArray());
            }
        }
        return new MultiLayerPerceptron(inputSize, activation, weights, biases);
    }

    /// <summary>
    /// Scores one (already standardized) row in managed code: no tensors, no allocation.
    /// <paramref name="scratchA"/> and <paramref name="scratchB"/> must hold <see cref="MaxWidth"/> values.
    /// </summary>
    public float Forward(ReadOnlySpan<float> input, Span<float> scratchA, Span<float> scratchB)
    {
        ReadOnlySpan<float> current = input;
        Span<float> output = scratchA;
        int fanIn = InputSize;
        for (int l = 0; l < Weights.Count; l++)
        {
            int size = LayerSizes[l];
            float[] w = Weights[l];
            float[] b = Biases[l];
            var o = output[..size];
            for (int j = 0; j < size; j++)
            {
                o[j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(w, j * fanIn, fanIn), current) + b[j];
            }
            if (l < Weights.Count - 1)
            {
                Activate(o);
            }
            current = o;
            output = output == scratchA ? scratchB : scratchA;
            fanIn = size;
        }
        return current[0];
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

    /// <summary>The error function, by the Chebyshev-fitted approximation of Numerical Recipes (erfc, |error| &lt; 1.2e-7).</summary>
    private static double Erf(double x)
    {
        double t = 1.0 / (1.0 + 0.5 * Math.Abs(x));
        double y = 1 - t * Math.Exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? y : -y;
    }

    /// <summary>
    /// Creates the tensors that score batches of up to <paramref name="capacity"/> rows with TorchSharp.
    /// The weights are shared with every other scorer of this network; the scorer owns its input,
    /// hidden and output buffers, so scoring a batch allocates no tensor memory.
    /// </summary>
    public BatchScorer CreateBatchScorer(int capacity) => new(this, _tensors.Value, capacity);

    /// <summary>
    /// Runs the network over batches of rows in tensors allocated once: the caller writes a batch's
    /// rows straight into <see cref="Input"/>, and <see cref="Forward"/> computes each layer in place
    /// (bias copied into the layer's buffer, then one GEMM accumulating into it, then the activation
    /// in place). Not thread-safe: one scorer per cursor.
    /// </summary>
    internal sealed class BatchScorer : IDisposable
    {
        private readonly MultiLayerPerceptron _network;
        private readonly (Tensor WeightT, Tensor Bias)[] _layers;
        private readonly Tensor _input;
        private readonly Tensor[] _outputs;

        public BatchScorer(MultiLayerPerceptron network, (Tensor Weight, Tensor Bias)[] layers, int capacity)
        {
            if (capacity < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A batch holds at least one row.");
            }
            _network = network;
            Capacity = capacity;
            // Created outside any dispose scope the caller may have open: they live as long as the scorer.
            _layers = new (Tensor, Tensor)[layers.Length];
            _outputs = new Tensor[layers.Length];
            for (int l = 0; l < layers.Length; l++)
            {
                _layers[l] = (layers[l].Weight.t().DetachFromDisposeScope(), layers[l].Bias);
                _outputs[l] = empty(capacity, network.LayerSizes[l]).DetachFromDisposeScope();
            }
            _input = empty(capacity, network.InputSize).DetachFromDisposeScope();
        }

        /// <summary>The most rows one <see cref="Forward"/> call scores.</summary>
        public int Capacity { get; }

        /// <summary>The input rows, row-major: row i's features at [i·InputSize, (i+1)·InputSize).</summary>
        public Span<float> Input => MemoryMarshal.Cast<byte, float>(_input.bytes);

        /// <summary>Scores the first <paramref name="rows"/> rows of <see cref="Input"/>; the result is valid until the next call.</summary>
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
                            y.leaky_relu_(0.01);
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
            foreach (var (weightT, _) in _layers)
            {
                weightT.Dispose();
            }
        }
    }

    private (Tensor Weight, Tensor Bias)[] CreateTensors()
    {
        Microsoft.ML.AutoClip.TorchSharpNative.EnsureLoadable();
        var result = new (Tensor, Tensor)[Weights.Count];
        int fanIn = InputSize;
        for (int l = 0; l < Weights.Count; l++)
        {
            // Created outside any dispose scope: they live as long as the model.
            var w = tensor(Weights[l], LayerSizes[l], fanIn).DetachFromDisposeScope();
            var b = tensor(Biases[l], new long[] { LayerSizes[l] }).DetachFromDisposeScope();
            result[l] = (w, b);
            fanIn = LayerSizes[l];
        }
        return result;
    }

    public void Dispose()
    {
        if (_tensors.IsValueCreated)
        {
            foreach (var (w, b) in _tensors.Value)
            {
                w.Dispose();
                b.Dispose();
            }
        }
    }
}

/// <summary>The feature standardization AutoClipNet learns: (x − mean) · scale, slot by slot.</summary>
internal static class Standardization
{
    /// <summary>Writes the standardized <paramref name="values"/> to <paramref name="destination"/> (which may be the same span).</summary>
    public static void Apply(ReadOnlySpan<float> values, float[] mean, float[] scale, Span<float> destination)
    {
        TensorPrimitives.Subtract(values, mean, destination);
        TensorPrimitives.Multiply(destination, scale, destination);
    }
}
