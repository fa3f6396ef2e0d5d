using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using System.Runtime.Intrinsics;
using Microsoft.ML.AutoClipNet.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// The training step's forward and backward passes written out layer by layer, without autograd: every tensor a batch
/// needs (each layer's output, each input gradient, the embeddings' periodic features) is allocated once, for the batch
/// size, and reused by every step; matrix products write in place (addmm_). The small elementwise work between them
/// (the feature transform, the periodic embeddings, SELU and the derivatives of the usual activations) runs in managed
/// SIMD passes over the tensors' memory: as LibTorch calls, a few microseconds of work each cost tens of microseconds,
/// and took a quarter of the step (bench/README.md). Per step, LibTorch allocates only a few small tensors (sums over the
/// batch). Autograd, with its graph and fresh tensors for every intermediate, cost a third to a half of each step, most
/// of it in page faults as freed memory went back to the system (bench/README.md). The gradients equal autograd's to
/// float rounding: a test compares them for every layer kind and activation.
/// </summary>
internal sealed class Backprop : IDisposable
{
    private readonly TrainingModule _module;
    private readonly Objective _objective;
    private readonly LayerStep[] _steps;
    private readonly bool[] _inputGradient;

    public Backprop(TrainingModule module, Objective objective, int capacity)
    {
        _module = module;
        _objective = objective;
        var layers = module.Network.Layers;
        _steps = new LayerStep[layers.Count];
        _inputGradient = new bool[layers.Count];
        bool trainableBefore = false;
        for (int l = 0; l < layers.Count; l++)
        {
            _inputGradient[l] = trainableBefore;
            _steps[l] = LayerStep.Create(layers[l], module.ValueViews(l), module.GradientViews(l), module.Constants(l), capacity, trainableBefore);
            trainableBefore |= layers[l].ParameterCount > 0;
        }
        Capacity = capacity;
    }

    /// <summary>The most rows one step takes.</summary>
    public int Capacity { get; }

    /// <summary>
    /// Forward and backward over the first <paramref name="rows"/> rows of <paramref name="x"/> (rows × inputs) against
    /// <paramref name="targets"/>: writes every gradient into the module's gradient buffer and returns the mean loss.
    /// </summary>
    public float Step(Tensor x, Tensor targets, int rows) => Step(x, targets, rows, null);

    /// <summary>The step, calling <paramref name="mark"/> after the forward pass (0), the loss (1) and the backward pass (2): for the benchmark's breakdown.</summary>
    internal float Step(Tensor x, Tensor targets, int rows, Action<int>? mark)
    {
        if (rows < 1 || rows > Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"A step takes 1 to {Capacity} rows.");
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = x;
        foreach (var step in _steps)
        {
            input = step.Forward(input, rows);
        }
        mark?.Invoke(0);
        // The loss and its gradient with respect to the outputs: autograd on the rows × outputs logits alone.
        float loss;
        Tensor gradient;
        using (var withGrad = enable_grad(true))
        {
            var leaf = input.detach().requires_grad_(true);
            var value = _objective.Loss(leaf, targets);
            value.backward();
            loss = value.item<float>();
            gradient = leaf.grad ?? throw new InvalidOperationException("The loss has no gradient.");
        }
        mark?.Invoke(1);
        // Every layer that learns writes all its gradients (no accumulation): nothing needs zeroing first.
        for (int l = _steps.Length - 1; l >= 0; l--)
        {
            if (!_inputGradient[l] && _steps[l].ParameterCount == 0)
            {
                break; // nothing before this layer learns, and it learns nothing itself
            }
            gradient = _steps[l].Backward(gradient, rows, _inputGradient[l])!;
            if (!_inputGradient[l])
            {
                break;
            }
        }
        mark?.Invoke(2);
        return loss;
    }

    /// <summary>The forward pass alone (no gradients): the outputs of the first <paramref name="rows"/> rows, valid until the next call.</summary>
    public Tensor Forward(Tensor x, int rows)
    {
        using var noGrad = no_grad();
        var input = x;
        foreach (var step in _steps)
        {
            input = step.Forward(input, rows);
        }
        return input;
    }

    public void Dispose()
    {
        foreach (var step in _steps)
        {
            step.Dispose();
        }
    }
}

/// <summary>One layer's part of a <see cref="Backprop"/> step, with its buffers for up to Capacity rows.</summary>
internal abstract class LayerStep : IDisposable
{
    private readonly List<Tensor> _buffers = new();

    protected LayerStep(int capacity) => Capacity = capacity;

    protected int Capacity { get; }

    public virtual long ParameterCount => 0;

    /// <summary>A buffer of Capacity × <paramref name="shape"/>, owned by the step.</summary>
    protected Tensor Buffer(params long[] shape) => Own(empty(shape.Prepend(Capacity).ToArray()));

    /// <summary>A tensor the step keeps and disposes.</summary>
    protected Tensor Own(Tensor tensor)
    {
        var kept = tensor.DetachFromDisposeScope();
        _buffers.Add(kept);
        return kept;
    }

    /// <summary>The first <paramref name="rows"/> rows of a buffer (the buffer itself when full).</summary>
    protected Tensor Rows(Tensor buffer, int rows) => rows == Capacity ? buffer : buffer.narrow(0, 0, rows);

    /// <summary>The layer's output for the first <paramref name="rows"/> rows of <paramref name="x"/>; what the backward pass needs is kept.</summary>
    public abstract Tensor Forward(Tensor x, int rows);

    /// <summary>
    /// Writes the gradients of the layer's parameters from the gradient of its output, and returns the gradient of its
    /// input when <paramref name="inputGradient"/> (else null).
    /// </summary>
    public abstract Tensor? Backward(Tensor outputGradient, int rows, bool inputGradient);

    public virtual void Dispose()
    {
        foreach (var buffer in _buffers)
        {
            buffer.Dispose();
        }
    }

    public static LayerStep Create(Layer layer, IReadOnlyList<Tensor> values, IReadOnlyList<Tensor> gradients, IReadOnlyList<Tensor>? constants, int capacity, bool inputGradient) => layer switch
    {
        FeatureTransformLayer transform when !inputGradient => new FeatureTransformStep(transform, constants!, capacity),
        PiecewiseLinearLayer encodings when !inputGradient => new PiecewiseLinearStep(encodings, constants!, capacity),
        PeriodicEmbeddingLayer embedding => new EmbeddingStep(embedding, values, gradients, constants!, capacity),
        FeatureScaleLayer scale => new FeatureScaleStep(scale, values, gradients, capacity),
        DenseLayer dense => new DenseStep(dense, values, gradients, capacity),
        ActivationLayer activation => new ActivationStep(activation, capacity),
        _ => throw new NotSupportedException($"The training step has no backward pass for {layer}" + (inputGradient ? " after a layer that learns." : ".")),
    };

    protected static void NoInputGradient(bool inputGradient, Layer layer)
    {
        if (inputGradient)
        {
            throw new NotSupportedException($"{layer} has no input gradient in the training step.");
        }
    }
}

/// <summary>(x − center)·scale, then smooth clipping x/√(1 + x²/9) where chosen: the preprocessing, first in the network.</summary>
internal sealed class FeatureTransformStep : LayerStep
{
    private readonly FeatureTransformLayer _layer;
    private readonly Tensor _center, _scale, _clipFactor;
    private readonly bool _anyClip;
    private readonly Tensor _output, _scratch;

    public FeatureTransformStep(FeatureTransformLayer layer, IReadOnlyList<Tensor> constants, int capacity)
        : base(capacity)
    {
        _layer = layer;
        (_center, _scale, _clipFactor) = (constants[0], constants[1], constants[2]);
        _anyClip = layer.Clip.Any(c => c);
        _output = Buffer(layer.OutputSize);
        _scratch = Buffer(layer.OutputSize);
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        var y = Rows(_output, rows);
        if (!x.is_contiguous() || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32)
        {
            return _layer.Forward(y.copy_(x), Rows(_scratch, rows)); // the layer's own LibTorch batch forward
        }
        // In managed code, row by row: the layer's LibTorch operations in the same order (LibTorch's kernels round a few
        // values differently in the last bit); one LibTorch call each cost more than the arithmetic.
        int width = _layer.OutputSize;
        ReadOnlySpan<float> input = TensorMemory.Floats(x)[..(rows * width)];
        Span<float> output = TensorMemory.Floats(y)[..(rows * width)];
        ReadOnlySpan<float> center = TensorMemory.Floats(_center), scale = TensorMemory.Floats(_scale), clip = TensorMemory.Floats(_clipFactor);
        for (int r = 0; r < rows; r++)
        {
            var from = input.Slice(r * width, width);
            var to = output.Slice(r * width, width);
            for (int j = 0; j < width; j++)
            {
                float v = (from[j] - center[j]) * scale[j];
                if (_anyClip)
                {
                    v /= MathF.Sqrt(v * v * clip[j] + 1f);
                }
                to[j] = v;
            }
        }
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows, bool inputGradient)
    {
        NoInputGradient(inputGradient, _layer);
        return null;
    }
}

/// <summary>The input, then min(1, max(0, (x_j − a)·s)) for every bin: fixed encodings, before any layer that learns.</summary>
internal sealed class PiecewiseLinearStep : LayerStep
{
    private readonly PiecewiseLinearLayer _layer;
    private readonly Tensor _index, _lower, _scale;
    private readonly Tensor _output;

    public PiecewiseLinearStep(PiecewiseLinearLayer layer, IReadOnlyList<Tensor> constants, int capacity)
        : base(capacity)
    {
        _layer = layer;
        (_index, _lower, _scale) = (constants[0], constants[1], constants[2]);
        _output = Buffer(layer.OutputSize);
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        var y = Rows(_output, rows);
        y.narrow(1, 0, _layer.InputSize).copy_(x);
        y.narrow(1, _layer.InputSize, _layer.Sources.Count).copy_(x.index_select(1, _index)).sub_(_lower).mul_(_scale).clamp_(Scalars.Zero, Scalars.One).mul_(Scalars.Two).sub_(Scalars.One);
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows, bool inputGradient)
    {
        NoInputGradient(inputGradient, _layer);
        return null;
    }
}

/// <summary>y = b + α·x·Wᵀ with W the raw (NTK-parametrized) weights.</summary>
internal sealed class DenseStep : LayerStep
{
    private readonly Tensor _weight, _weightT, _bias, _weightGradient, _biasGradient;
    private readonly float _alpha;
    private readonly Tensor _output, _inputGradient;
    private Tensor? _input;

    public DenseStep(DenseLayer layer, IReadOnlyList<Tensor> values, IReadOnlyList<Tensor> gradients, int capacity)
        : base(capacity)
    {
        _weight = values[0];
        _weightT = Own(values[0].t());
        _bias = values[1];
        _weightGradient = gradients[0];
        _biasGradient = gradients[1];
        _alpha = layer.WeightScale;
        _output = Buffer(layer.OutputSize);
        _inputGradient = Buffer(layer.InputSize);
        ParameterCount = layer.ParameterCount;
    }

    public override long ParameterCount { get; }

    public override Tensor Forward(Tensor x, int rows)
    {
        _input = x;
        var y = Rows(_output, rows);
        y.copy_(_bias.expand(rows, _bias.shape[0]));
        return y.addmm_(x, _weightT, beta: 1, alpha: _alpha);
    }

    public override Tensor? Backward(Tensor outputGradient, int rows, bool inputGradient)
    {
        _weightGradient.addmm_(outputGradient.t(), _input!, beta: 0, alpha: _alpha);
        _biasGradient.copy_(outputGradient.sum(0L)); // 0L: a plain 0 would pick sum(ScalarType?)
        return inputGradient ? Rows(_inputGradient, rows).addmm_(outputGradient, _weight, beta: 0, alpha: _alpha) : null;
    }
}

/// <summary>y = x ⊙ s, one learnable factor per feature.</summary>
internal sealed class FeatureScaleStep : LayerStep
{
    private readonly Tensor _scale, _scaleGradient;
    private readonly Tensor _output, _product, _inputGradient;
    private Tensor? _input;

    public FeatureScaleStep(FeatureScaleLayer layer, IReadOnlyList<Tensor> values, IReadOnlyList<Tensor> gradients, int capacity)
        : base(capacity)
    {
        _scale = values[0];
        _scaleGradient = gradients[0];
        _output = Buffer(layer.OutputSize);
        _product = Buffer(layer.OutputSize);
        _inputGradient = Buffer(layer.InputSize);
        ParameterCount = layer.ParameterCount;
    }

    public override long ParameterCount { get; }

    public override Tensor Forward(Tensor x, int rows)
    {
        _input = x;
        return Rows(_output, rows).copy_(x).mul_(_scale);
    }

    public override Tensor? Backward(Tensor outputGradient, int rows, bool inputGradient)
    {
        _scaleGradient.copy_(Rows(_product, rows).copy_(outputGradient).mul_(_input!).sum(0L));
        return inputGradient ? Rows(_inputGradient, rows).copy_(outputGradient).mul_(_scale) : null;
    }
}

/// <summary>
/// The periodic embeddings, in managed SIMD code: for embedded feature j, t = x_j·(2π·w_j) + b_j (k values), P = cos t,
/// and e_j = P·V_j + c_j (d values); the output is every e_j, then the input unchanged. The tensors are small (rows × m × k)
/// and the work per value a few operations, so LibTorch's per-call cost dominated when each of the pass's ~25 steps was a
/// LibTorch call (0.55 of 3.85 ms per step on diamonds). Here each feature's values are laid out row-contiguous
/// (feature, frequency, row), the rows are the vector lanes, and sin t is computed in the forward pass beside cos t, for
/// the backward one. Every sum over the rows runs in one fixed order: the same bits on every run.
/// </summary>
internal sealed class EmbeddingStep : LayerStep
{
    private const float TwoPi = (float)(2 * Math.PI);
    private readonly Tensor _frequencies, _phases, _weights, _bias;
    private readonly Tensor _frequencyGradient, _phaseGradient, _weightGradient, _biasGradient;
    private readonly int[] _embedded;
    private readonly int _m, _k, _d, _inputs, _outputs;
    private readonly float[] _x;         // m × Capacity: the embedded features' values
    private readonly float[] _cos, _sin; // m × k × Capacity
    private readonly float[] _row;       // Capacity: one output's values, or one frequency's ∂t
    private readonly float[] _g;         // d × Capacity: one feature's output gradients
    private readonly float[] _dx;        // Capacity: one feature's input gradient
    private readonly Tensor _output, _inputGradient;
    private int _rows;

    public EmbeddingStep(PeriodicEmbeddingLayer layer, IReadOnlyList<Tensor> values, IReadOnlyList<Tensor> gradients, IReadOnlyList<Tensor> constants, int capacity)
        : base(capacity)
    {
        (_frequencies, _phases, _weights, _bias) = (values[0], values[1], values[2], values[3]);
        (_frequencyGradient, _phaseGradient, _weightGradient, _biasGradient) = (gradients[0], gradients[1], gradients[2], gradients[3]);
        _embedded = layer.EmbeddedFeatures.ToArray();
        _m = _embedded.Length;
        _k = layer.Frequencies;
        _d = layer.OutputsPerFeature;
        _inputs = layer.InputSize;
        _outputs = layer.OutputSize;
        _x = new float[_m * capacity];
        _cos = new float[(long)_m * _k * capacity];
        _sin = new float[(long)_m * _k * capacity];
        _row = new float[capacity];
        _g = new float[_d * capacity];
        _dx = new float[capacity];
        _output = Buffer(layer.OutputSize);
        _inputGradient = Buffer(layer.InputSize);
        ParameterCount = layer.ParameterCount;
    }

    public override long ParameterCount { get; }

    public override Tensor Forward(Tensor x, int rows)
    {
        _rows = rows;
        var input = Contiguous(x, rows, _inputs);
        var y = Rows(_output, rows);
        var output = TensorMemory.Floats(y)[..(rows * _outputs)];
        ReadOnlySpan<float> w = TensorMemory.Floats(_frequencies), b = TensorMemory.Floats(_phases), v = TensorMemory.Floats(_weights), c = TensorMemory.Floats(_bias);
        int md = _m * _d;
        for (int e = 0; e < _m; e++)
        {
            var xe = _x.AsSpan(e * Capacity, rows);
            for (int r = 0; r < rows; r++)
            {
                xe[r] = input[r * _inputs + _embedded[e]];
            }
            for (int q = 0; q < _k; q++)
            {
                long at = ((long)e * _k + q) * Capacity;
                Periodic(xe, w[e * _k + q] * TwoPi, b[e * _k + q], _cos.AsSpan((int)at, rows), _sin.AsSpan((int)at, rows));
            }
            for (int o = 0; o < _d; o++)
            {
                var sum = _row.AsSpan(0, rows);
                sum.Fill(c[e * _d + o]);
                for (int q = 0; q < _k; q++)
                {
                    MultiplyAdd(_cos.AsSpan((int)(((long)e * _k + q) * Capacity), rows), v[(e * _k + q) * _d + o], sum);
                }
                for (int r = 0; r < rows; r++)
                {
                    output[r * _outputs + e * _d + o] = sum[r];
                }
            }
        }
        for (int r = 0; r < rows; r++)
        {
            input.Slice(r * _inputs, _inputs).CopyTo(output.Slice(r * _outputs + md, _inputs));
        }
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows, bool inputGradient)
    {
        if (rows != _rows)
        {
            throw new InvalidOperationException($"The backward pass of {rows} rows follows a forward pass of {_rows}.");
        }
        var gradient = Contiguous(outputGradient, rows, _outputs);
        ReadOnlySpan<float> w = TensorMemory.Floats(_frequencies), v = TensorMemory.Floats(_weights);
        Span<float> dw = TensorMemory.Floats(_frequencyGradient), db = TensorMemory.Floats(_phaseGradient), dv = TensorMemory.Floats(_weightGradient), dc = TensorMemory.Floats(_biasGradient);
        Span<float> gx = default;
        int md = _m * _d;
        if (inputGradient)
        {
            gx = TensorMemory.Floats(Rows(_inputGradient, rows))[..(rows * _inputs)];
            for (int r = 0; r < rows; r++)
            {
                gradient.Slice(r * _outputs + md, _inputs).CopyTo(gx.Slice(r * _inputs, _inputs));
            }
        }
        var dt = _row.AsSpan(0, rows);
        var dx = _dx.AsSpan(0, rows);
        for (int e = 0; e < _m; e++)
        {
            var xe = _x.AsSpan(e * Capacity, rows);
            for (int o = 0; o < _d; o++)
            {
                var go = _g.AsSpan(o * Capacity, rows);
                for (int r = 0; r < rows; r++)
                {
                    go[r] = gradient[r * _outputs + e * _d + o];
                }
                dc[e * _d + o] = Kernels.Sum(go);
            }
            dx.Clear();
            for (int q = 0; q < _k; q++)
            {
                int at = (int)(((long)e * _k + q) * Capacity);
                var cos = _cos.AsSpan(at, rows);
                dt.Clear();
                for (int o = 0; o < _d; o++)
                {
                    var go = _g.AsSpan(o * Capacity, rows);
                    dv[(e * _k + q) * _d + o] = Kernels.Dot(cos, go);
                    MultiplyAdd(go, v[(e * _k + q) * _d + o], dt); // ∂P = g·Vᵀ
                }
                Multiply(dt, _sin.AsSpan(at, rows), -1f);            // ∂t = −sin t ⊙ ∂P
                db[e * _k + q] = Kernels.Sum(dt);
                dw[e * _k + q] = Kernels.Dot(xe, dt) * TwoPi;
                if (inputGradient)
                {
                    MultiplyAdd(dt, w[e * _k + q] * TwoPi, dx);
                }
            }
            if (inputGradient)
            {
                for (int r = 0; r < rows; r++)
                {
                    gx[r * _inputs + _embedded[e]] += dx[r];
                }
            }
        }
        return inputGradient ? Rows(_inputGradient, rows) : null;
    }

    /// <summary>The values of the first <paramref name="rows"/> rows of a rows × <paramref name="width"/> float tensor, which must be contiguous CPU memory.</summary>
    private static ReadOnlySpan<float> Contiguous(Tensor x, int rows, int width)
    {
        if (!x.is_contiguous() || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32)
        {
            throw new InvalidOperationException("The embedding step reads contiguous float32 CPU rows.");
        }
        return TensorMemory.Floats(x)[..(rows * width)];
    }

    /// <summary>t = x·a + b; cos t and sin t (t is written to <paramref name="sin"/> first).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Periodic(ReadOnlySpan<float> x, float a, float b, Span<float> cos, Span<float> sin)
    {
        int i = 0;
        var va = Vector256.Create(a);
        var vb = Vector256.Create(b);
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            (Vector256.Create(x[i..]) * va + vb).CopyTo(sin[i..]);
        }
        for (; i < x.Length; i++)
        {
            sin[i] = x[i] * a + b;
        }
        Kernels.SinCos(sin, sin, cos);
    }

    /// <summary>y += x·a.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyAdd(ReadOnlySpan<float> x, float a, Span<float> y)
    {
        int i = 0;
        var va = Vector256.Create(a);
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            (Vector256.Create(y[i..]) + Vector256.Create(x[i..]) * va).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++)
        {
            y[i] += x[i] * a;
        }
    }

    /// <summary>y ← y ⊙ x·a.</summary>
    private static void Multiply(Span<float> y, ReadOnlySpan<float> x, float a)
    {
        int i = 0;
        var va = Vector256.Create(a);
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            (Vector256.Create(y[i..]) * Vector256.Create(x[i..]) * va).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++)
        {
            y[i] = y[i] * x[i] * a;
        }
    }
}

/// <summary>The activation in place on the dense output; its derivative from the output (ReLU, leaky ReLU, tanh, SELU) or by autograd on the input (GELU, Mish, SiLU).</summary>
internal sealed class ActivationStep : LayerStep
{
    private readonly AutoClipNetActivation _activation;
    private readonly bool _fromOutput;
    private readonly Tensor? _output;
    private Tensor? _input;
    private Tensor? _result;

    public ActivationStep(ActivationLayer layer, int capacity)
        : base(capacity)
    {
        _activation = layer.Activation;
        _fromOutput = _activation is AutoClipNetActivation.ReLU or AutoClipNetActivation.LeakyReLU or AutoClipNetActivation.Tanh or AutoClipNetActivation.Selu;
        _output = _fromOutput ? null : Buffer(layer.OutputSize);
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        if (_fromOutput)
        {
            if (_activation == AutoClipNetActivation.Selu)
            {
                Derivatives.Selu(TensorMemory.Floats(x)[..(int)x.numel()]); // LibTorch's selu_ took a tenth of the forward pass
            }
            else
            {
                Activations.ApplyInPlace(_activation, x);
            }
            _result = x;
            return x;
        }
        _input = x;
        var y = Rows(_output!, rows).copy_(x);
        Activations.ApplyInPlace(_activation, y);
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows, bool inputGradient)
    {
        if (!inputGradient)
        {
            return null;
        }
        if (!_fromOutput)
        {
            using var withGrad = enable_grad(true);
            var leaf = _input!.detach().requires_grad_(true);
            Activations.Forward(_activation, leaf).backward(new[] { outputGradient });
            return outputGradient.copy_(leaf.grad!);
        }
        // The gradient tensor is the next dense layer's input-gradient buffer: multiplied in place.
        var g = TensorMemory.Floats(outputGradient);
        var a = TensorMemory.Floats(_result!);
        int n = (int)outputGradient.numel();
        Derivatives.MultiplyByDerivative(_activation, g[..n], a[..n]);
        return outputGradient;
    }
}

/// <summary>Elementwise derivatives of activations from their outputs, in SIMD.</summary>
internal static class Derivatives
{
    private const float SeluScale = (float)Activations.SeluScale;
    private const float SeluScaleAlpha = (float)(Activations.SeluScale * Activations.SeluAlpha);

    /// <summary>
    /// x ← SELU(x) = λ·x for x &gt; 0, λα·(eˣ − 1) otherwise, in place, eight values at a time (the exponential of
    /// <see cref="Kernels.ExpOfNonPositive"/>): within 2·10⁻⁷ of LibTorch's, which uses expm1, so tiny negative inputs
    /// lose their relative precision (−10⁻³⁰ gives 0); the values after the last full eight use MathF.Exp.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Selu(Span<float> x)
    {
        var scale = Vector256.Create(SeluScale);
        var scaleAlpha = Vector256.Create(SeluScaleAlpha);
        var zero = Vector256<float>.Zero;
        int i = 0;
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            var v = Vector256.Create(x[i..]);
            var negative = Vector256.Min(v, zero); // exp of the negative part only: no overflow from large positives (NaN lanes are replaced below)
            var result = Vector256.ConditionalSelect(Vector256.GreaterThan(v, zero), v * scale, (Kernels.ExpOfNonPositive(negative) - Vector256<float>.One) * scaleAlpha);
            Vector256.ConditionalSelect(Vector256.Equals(v, v), result, v).CopyTo(x[i..]); // NaN stays NaN
        }
        for (; i < x.Length; i++)
        {
            x[i] = x[i] > 0 ? x[i] * SeluScale : (MathF.Exp(MathF.Max(x[i], -87f)) - 1) * SeluScaleAlpha;
        }
    }

    /// <summary>g ← g ⊙ f′ where f′ is written in terms of a = f(x).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyByDerivative(AutoClipNetActivation activation, Span<float> g, ReadOnlySpan<float> a)
    {
        int i = 0;
        int width = Vector<float>.Count;
        var zero = Vector<float>.Zero;
        var one = Vector<float>.One;
        switch (activation)
        {
            case AutoClipNetActivation.ReLU:
                for (; i <= g.Length - width; i += width)
                {
                    var positive = Vector.GreaterThan(new Vector<float>(a[i..]), zero);
                    Vector.ConditionalSelect(positive, new Vector<float>(g[i..]), zero).CopyTo(g[i..]);
                }
                for (; i < g.Length; i++)
                {
                    g[i] = a[i] > 0 ? g[i] : 0;
                }
                break;
            case AutoClipNetActivation.LeakyReLU:
                var slope = new Vector<float>(Activations.LeakySlope);
                for (; i <= g.Length - width; i += width)
                {
                    var positive = Vector.GreaterThan(new Vector<float>(a[i..]), zero);
                    (new Vector<float>(g[i..]) * Vector.ConditionalSelect(positive, one, slope)).CopyTo(g[i..]);
                }
                for (; i < g.Length; i++)
                {
                    g[i] *= a[i] > 0 ? 1 : Activations.LeakySlope;
                }
                break;
            case AutoClipNetActivation.Tanh:
                for (; i <= g.Length - width; i += width)
                {
                    var av = new Vector<float>(a[i..]);
                    (new Vector<float>(g[i..]) * (one - av * av)).CopyTo(g[i..]);
                }
                for (; i < g.Length; i++)
                {
                    g[i] *= 1 - a[i] * a[i];
                }
                break;
            case AutoClipNetActivation.Selu:
                // x > 0: λ; x ≤ 0: λα·eˣ = a + λα.
                var scale = new Vector<float>(SeluScale);
                var scaleAlpha = new Vector<float>(SeluScaleAlpha);
                for (; i <= g.Length - width; i += width)
                {
                    var av = new Vector<float>(a[i..]);
                    var positive = Vector.GreaterThan(av, zero);
                    (new Vector<float>(g[i..]) * Vector.ConditionalSelect(positive, scale, av + scaleAlpha)).CopyTo(g[i..]);
                }
                for (; i < g.Length; i++)
                {
                    g[i] *= a[i] > 0 ? SeluScale : a[i] + SeluScaleAlpha;
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Its derivative needs the input.");
        }
    }
}
