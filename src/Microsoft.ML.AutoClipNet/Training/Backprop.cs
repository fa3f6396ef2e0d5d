using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using Microsoft.ML.AutoClipNet.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// The training step's forward and backward passes written out layer by layer, without autograd: every tensor a batch
/// needs (each layer's output, each input gradient, the embeddings' periodic features) is allocated once, for the batch
/// size, and reused by every step; matrix products write in place (addmm_), and the elementwise derivatives of the
/// usual activations are one managed SIMD pass. Per step, LibTorch allocates only a few small tensors (sums over the
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
        var y = Rows(_output, rows).copy_(x).sub_(_center).mul_(_scale);
        if (_anyClip)
        {
            var t = Rows(_scratch, rows).copy_(y).mul_(y).mul_(_clipFactor).add_(Scalars.One, Scalars.One).sqrt_();
            y.div_(t);
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
/// The periodic embeddings, feature-major: for embedded feature j, t = x_j·(2π·w_j) + b_j (k values), P = cos t, and
/// e_j = P·V_j + c_j (d values); the output is every e_j, then the input unchanged.
/// </summary>
internal sealed class EmbeddingStep : LayerStep
{
    private readonly PeriodicEmbeddingLayer _layer;
    private readonly Tensor _frequencies, _phases, _weights, _bias;
    private readonly Tensor _frequencyGradient, _phaseGradient, _weightGradient, _biasGradient;
    private readonly Tensor _index;
    private readonly bool _identity;
    private readonly int _m, _k, _d;
    private readonly Tensor _t, _periodic, _periodicGradient, _embeddingGradient, _output, _inputGradient;
    private Tensor? _selected;

    public EmbeddingStep(PeriodicEmbeddingLayer layer, IReadOnlyList<Tensor> values, IReadOnlyList<Tensor> gradients, IReadOnlyList<Tensor> constants, int capacity)
        : base(capacity)
    {
        _layer = layer;
        (_frequencies, _phases, _weights, _bias) = (values[0], values[1], values[2], values[3]);
        (_frequencyGradient, _phaseGradient, _weightGradient, _biasGradient) = (gradients[0], gradients[1], gradients[2], gradients[3]);
        _index = constants[0];
        _m = layer.EmbeddedFeatures.Count;
        _k = layer.Frequencies;
        _d = layer.OutputsPerFeature;
        _identity = _m == layer.InputSize && layer.EmbeddedFeatures.Select((j, i) => j == i).All(same => same);
        // Feature-major buffers (m × rows × ·), so that the per-feature products are batched matrix products.
        _t = Buffer(_m, _k);
        _periodic = Buffer(_m, _k);
        _periodicGradient = Buffer(_m, _k);
        _embeddingGradient = Buffer(_m, _d);
        _output = Buffer(layer.OutputSize);
        _inputGradient = Buffer(layer.InputSize);
        ParameterCount = layer.ParameterCount;
    }

    public override long ParameterCount { get; }

    /// <summary>The m × rows × width view of a capacity × m × width buffer, used feature-major.</summary>
    private Tensor View(Tensor buffer, int rows, int width)
        => buffer.view(_m * (long)Capacity * width).narrow(0, 0, (long)_m * rows * width).view(_m, rows, width);

    public override Tensor Forward(Tensor x, int rows)
    {
        var selected = _identity ? x : x.index_select(1, _index);     // rows × m
        _selected = selected;
        var t = View(_t, rows, _k);
        t.copy_(_phases.unsqueeze(1).expand(_m, rows, _k));
        t.addcmul_(selected.t().unsqueeze(2), _frequencies.mul(Scalars.TwoPi).unsqueeze(1), Scalars.One);
        var periodic = View(_periodic, rows, _k).copy_(t).cos_();
        var mixed = periodic.bmm(_weights);                            // m × rows × d
        var y = Rows(_output, rows);
        int md = _m * _d;
        y.narrow(1, 0, md).view(rows, _m, _d).copy_(mixed.transpose(0, 1)).add_(_bias, Scalars.One);
        y.narrow(1, md, _layer.InputSize).copy_(x);
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows, bool inputGradient)
    {
        int md = _m * _d;
        var g = View(_embeddingGradient, rows, _d).copy_(outputGradient.narrow(1, 0, md).view(rows, _m, _d).transpose(0, 1)); // m × rows × d
        _biasGradient.copy_(g.sum(1));
        var periodic = View(_periodic, rows, _k);
        _weightGradient.copy_(periodic.transpose(1, 2).bmm(g));        // m × k × d
        // ∂P = g·Vᵀ, d products of rank one per feature, into the buffer.
        var periodicGradient = View(_periodicGradient, rows, _k).zero_();
        for (int o = 0; o < _d; o++)
        {
            periodicGradient.addcmul_(g.narrow(2, o, 1), _weights.narrow(2, o, 1).transpose(1, 2), Scalars.One);
        }
        // ∂t = −sin t ⊙ ∂P (t is not needed any more: it becomes ∂t).
        var dt = View(_t, rows, _k).sin_().mul_(periodicGradient).neg_();
        _phaseGradient.copy_(dt.sum(1));
        _frequencyGradient.copy_(_selected!.t().unsqueeze(1).bmm(dt).squeeze(1)).mul_(Scalars.TwoPi);
        if (!inputGradient)
        {
            return null;
        }
        // ∂x: the pass-through part, plus Σ_q ∂t·2π·w for the embedded features.
        var gx = Rows(_inputGradient, rows).copy_(outputGradient.narrow(1, md, _layer.InputSize));
        var embedded = dt.bmm(_frequencies.mul(Scalars.TwoPi).unsqueeze(2)).squeeze(2).t(); // rows × m
        gx.index_add_(1, _index, embedded, Scalars.One);
        return gx;
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
            Activations.ApplyInPlace(_activation, x);
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
