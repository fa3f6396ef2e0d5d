using System;
using Microsoft.ML.AutoClipNet.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// An optimizer that updates a <see cref="TrainingModule"/>'s whole parameter buffer at once from its
/// whole gradient buffer: a fixed handful of LibTorch operations per step, whatever the number of
/// layers, with the module's per-value learning-rate and weight-decay factors.
/// </summary>
internal abstract class FlatOptimizer : IDisposable
{
    protected FlatOptimizer(TrainingModule module)
    {
        Module = module;
        Scratch = zeros(module.ParameterCount).DetachFromDisposeScope();
    }

    protected TrainingModule Module { get; }

    /// <summary>A buffer the size of the parameters for intermediate results.</summary>
    protected Tensor Scratch { get; }

    /// <summary>Steps taken.</summary>
    public long Steps { get; protected set; }

    /// <summary>One update with this step's learning rate and weight decay (both already scheduled).</summary>
    public abstract void Step(double learningRate, double weightDecay);

    public static FlatOptimizer Create(AutoClipNetOptimizer kind, TrainingModule module, double momentum, double beta2) => kind switch
    {
        AutoClipNetOptimizer.Adam => new FlatAdam(module, momentum, beta2, decoupled: false),
        AutoClipNetOptimizer.AdamW => new FlatAdam(module, momentum, beta2, decoupled: true),
        AutoClipNetOptimizer.Sgd => new FlatSgd(module, momentum),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown optimizer."),
    };

    /// <summary>Adds weight decay to the gradient as an L2 penalty: g += λ·f·θ.</summary>
    protected void AddL2(Tensor gradient, double weightDecay)
    {
        if (weightDecay == 0)
        {
            return;
        }
        using var alpha = weightDecay.ToScalar(); // held for the calls (see Network/Scalars.cs)
        if (Module.WeightDecayFactors is { } factors)
        {
            Scratch.copy_(Module.Values).mul_(factors);
            gradient.add_(Scratch, alpha);
        }
        else
        {
            gradient.add_(Module.Values, alpha);
        }
    }

    public virtual void Dispose() => Scratch.Dispose();
}

/// <summary>
/// Adam (Kingma and Ba, 2015) with PyTorch's formulas: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
/// θ ← θ − lr·f·(m/(1−β1ᵗ)) / (√v/√(1−β2ᵗ) + ε), with f the per-value learning-rate factor. Weight decay
/// is an L2 term in the gradient, or decoupled (AdamW: θ ← θ·(1 − lr·f·λ·d), d the per-value decay factor).
/// One managed SIMD pass over the buffers (LibTorch needed nine, each reading and writing them all); it matches
/// torch.optim.Adam to float rounding (a test compares them). Moments below 10⁻³⁰ are set to zero: they cannot move a
/// weight (the denominator is at least ε = 10⁻⁸), and left alone they decay into subnormal floats, on which every
/// later step's arithmetic runs several times slower.
/// </summary>
internal sealed class FlatAdam : FlatOptimizer
{
    private const float Epsilon = 1e-8f;
    private const float Negligible = 1e-30f;

    /// <summary>
    /// Gradients smaller than this are taken as 0: they may be subnormal floats (below 2⁻¹²⁶) or have subnormal squares,
    /// and arithmetic on subnormals runs many times slower (a saturated output's gradients get there). Such a gradient
    /// moves its weight by less than 10⁻¹⁰ × the learning rate.
    /// </summary>
    private const float NegligibleGradient = 1e-18f;
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly bool _decoupled;
    private readonly float[] _m;
    private readonly float[] _v;
    private readonly (int Start, int Count, float Rate, float Decay)[] _runs;

    public FlatAdam(TrainingModule module, double beta1, double beta2, bool decoupled)
        : base(module)
    {
        _beta1 = beta1;
        _beta2 = beta2;
        _decoupled = decoupled;
        _m = new float[module.ParameterCount];
        _v = new float[module.ParameterCount];
        _runs = Runs(module);
    }

    /// <summary>The parameter buffer as runs of values that share their learning-rate and weight-decay factors (a layer's tensor each, or longer).</summary>
    private static (int Start, int Count, float Rate, float Decay)[] Runs(TrainingModule module)
    {
        int n = checked((int)module.ParameterCount);
        ReadOnlySpan<float> rates = module.LearningRateFactors is { } r ? TensorMemory.Floats(r) : null;
        ReadOnlySpan<float> decays = module.WeightDecayFactors is { } d ? TensorMemory.Floats(d) : null;
        var runs = new System.Collections.Generic.List<(int, int, float, float)>();
        int start = 0;
        for (int i = 1; i <= n; i++)
        {
            float rate = rates.IsEmpty ? 1f : rates[start], decay = decays.IsEmpty ? 1f : decays[start];
            if (i == n || (!rates.IsEmpty && rates[i] != rate) || (!decays.IsEmpty && decays[i] != decay))
            {
                runs.Add((start, i - start, rate, decay));
                start = i;
            }
        }
        return runs.ToArray();
    }

    public override void Step(double learningRate, double weightDecay)
    {
        var values = TensorMemory.Floats(Module.Values);
        var gradient = TensorMemory.Floats(Module.Gradients);
        Steps++;
        double correction1 = 1 - Math.Pow(_beta1, Steps);
        double correction2 = 1 - Math.Pow(_beta2, Steps);
        var k = new Constants(
            Beta1: (float)_beta1, OneMinusBeta1: (float)(1 - _beta1), Beta2: (float)_beta2, OneMinusBeta2: (float)(1 - _beta2),
            SqrtCorrection2: (float)Math.Sqrt(correction2), StepSize: (float)(learningRate / correction1),
            L2: _decoupled ? 0f : (float)weightDecay, Decoupled: _decoupled ? (float)(learningRate * weightDecay) : 0f);
        foreach (var (start, count, rate, decay) in _runs)
        {
            Update(values.Slice(start, count), gradient.Slice(start, count), _m.AsSpan(start, count), _v.AsSpan(start, count), rate, decay, k);
        }
    }

    internal readonly record struct Constants(float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2, float SqrtCorrection2, float StepSize, float L2, float Decoupled);

    /// <summary>
    /// The update of every value of a run that shares its factors, in the order of PyTorch's single-tensor Adam, vectorized.
    /// The gradient is read, not written (the next step's backward pass writes all of it).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void Update(Span<float> values, ReadOnlySpan<float> gradient, Span<float> m, Span<float> v, float rate, float decay, Constants k)
    {
        int i = 0;
        int width = System.Numerics.Vector<float>.Count;
        float shrink = 1 - k.Decoupled * (rate * decay);
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var beta1 = new System.Numerics.Vector<float>(k.Beta1);
            var oneMinusBeta1 = new System.Numerics.Vector<float>(k.OneMinusBeta1);
            var beta2 = new System.Numerics.Vector<float>(k.Beta2);
            var oneMinusBeta2 = new System.Numerics.Vector<float>(k.OneMinusBeta2);
            var sqrtCorrection2 = new System.Numerics.Vector<float>(k.SqrtCorrection2);
            var stepSize = new System.Numerics.Vector<float>(k.StepSize);
            var l2 = new System.Numerics.Vector<float>(k.L2);
            var vdecay = new System.Numerics.Vector<float>(decay);
            var vrate = new System.Numerics.Vector<float>(rate);
            var vshrink = new System.Numerics.Vector<float>(shrink);
            var epsilon = new System.Numerics.Vector<float>(Epsilon);
            var negligible = new System.Numerics.Vector<float>(Negligible);
            var negligibleGradient = new System.Numerics.Vector<float>(NegligibleGradient);
            var zero = System.Numerics.Vector<float>.Zero;
            for (; i <= values.Length - width; i += width)
            {
                var p = new System.Numerics.Vector<float>(values[i..]);
                var g = new System.Numerics.Vector<float>(gradient[i..]);
                // Flushed before any arithmetic touches it: a subnormal operand is as slow as a subnormal result.
                g = System.Numerics.Vector.ConditionalSelect(System.Numerics.Vector.LessThan(System.Numerics.Vector.Abs(g), negligibleGradient), zero, g);
                g += l2 * (p * vdecay);
                p *= vshrink;
                var mi = new System.Numerics.Vector<float>(m[i..]) * beta1 + g * oneMinusBeta1;
                var vi = new System.Numerics.Vector<float>(v[i..]) * beta2 + g * g * oneMinusBeta2;
                mi = System.Numerics.Vector.ConditionalSelect(System.Numerics.Vector.LessThan(System.Numerics.Vector.Abs(mi), negligible), zero, mi);
                vi = System.Numerics.Vector.ConditionalSelect(System.Numerics.Vector.LessThan(vi, negligible), zero, vi);
                var denominator = System.Numerics.Vector.SquareRoot(vi) / sqrtCorrection2 + epsilon;
                p -= stepSize * (mi * vrate) / denominator;
                mi.CopyTo(m[i..]);
                vi.CopyTo(v[i..]);
                p.CopyTo(values[i..]);
            }
        }
        for (; i < values.Length; i++)
        {
            float raw = MathF.Abs(gradient[i]) < NegligibleGradient ? 0 : gradient[i];
            float p = values[i], g = raw + k.L2 * (values[i] * decay);
            p *= shrink;
            float mi = m[i] * k.Beta1 + g * k.OneMinusBeta1;
            float vi = v[i] * k.Beta2 + g * g * k.OneMinusBeta2;
            mi = MathF.Abs(mi) < Negligible ? 0 : mi;
            vi = vi < Negligible ? 0 : vi;
            float denominator = MathF.Sqrt(vi) / k.SqrtCorrection2 + Epsilon;
            values[i] = p - k.StepSize * (mi * rate) / denominator;
            m[i] = mi;
            v[i] = vi;
        }
    }
}

/// <summary>Stochastic gradient descent with momentum as PyTorch computes it: b ← μ·b + g, θ ← θ − lr·f·b (weight decay as L2).</summary>
internal sealed class FlatSgd : FlatOptimizer
{
    private readonly double _momentum;
    private readonly Tensor _buffer;

    public FlatSgd(TrainingModule module, double momentum)
        : base(module)
    {
        _momentum = momentum;
        _buffer = zeros(module.ParameterCount).DetachFromDisposeScope();
    }

    public override void Step(double learningRate, double weightDecay)
    {
        using var noGrad = no_grad();
        var gradient = Module.Gradients;
        AddL2(gradient, weightDecay);
        if (_momentum > 0)
        {
            if (Steps == 0)
            {
                _buffer.copy_(gradient);
            }
            else
            {
                using var momentum = _momentum.ToScalar();
                _buffer.mul_(momentum).add_(gradient, Scalars.One);
            }
            gradient = _buffer;
        }
        Steps++;
        using var step = (-learningRate).ToScalar();
        if (Module.LearningRateFactors is { } factors)
        {
            Scratch.copy_(gradient).mul_(factors);
            Module.Values.add_(Scratch, step);
        }
        else
        {
            Module.Values.add_(gradient, step);
        }
    }

    public override void Dispose()
    {
        _buffer.Dispose();
        base.Dispose();
    }
}
