using System;
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
        if (Module.WeightDecayFactors is { } factors)
        {
            Scratch.copy_(Module.Values).mul_(factors);
            gradient.add_(Scratch, alpha: weightDecay);
        }
        else
        {
            gradient.add_(Module.Values, alpha: weightDecay);
        }
    }

    public virtual void Dispose() => Scratch.Dispose();
}

/// <summary>
/// Adam (Kingma and Ba, 2015) as PyTorch computes it: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
/// θ ← θ − lr·f·(m/(1−β1ᵗ)) / (√v/√(1−β2ᵗ) + ε), with f the per-value learning-rate factor. Weight decay
/// is an L2 term in the gradient, or decoupled (AdamW: θ ← θ·(1 − lr·f·λ·d), d the per-value decay factor).
/// </summary>
internal sealed class FlatAdam : FlatOptimizer
{
    private const double Epsilon = 1e-8;
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly bool _decoupled;
    private readonly Tensor _m;
    private readonly Tensor _v;
    private readonly Tensor _step;

    public FlatAdam(TrainingModule module, double beta1, double beta2, bool decoupled)
        : base(module)
    {
        _beta1 = beta1;
        _beta2 = beta2;
        _decoupled = decoupled;
        _m = zeros(module.ParameterCount).DetachFromDisposeScope();
        _v = zeros(module.ParameterCount).DetachFromDisposeScope();
        _step = zeros(module.ParameterCount).DetachFromDisposeScope();
    }

    public override void Step(double learningRate, double weightDecay)
    {
        using var noGrad = no_grad();
        var values = Module.Values;
        var gradient = Module.Gradients;
        Steps++;
        if (_decoupled && weightDecay != 0)
        {
            if (Module.WeightDecayFactors is { } decay)
            {
                Scratch.copy_(values).mul_(decay);
                if (Module.LearningRateFactors is { } rates)
                {
                    Scratch.mul_(rates);
                }
                values.add_(Scratch, alpha: -learningRate * weightDecay);
            }
            else if (Module.LearningRateFactors is { } rates)
            {
                Scratch.copy_(values).mul_(rates);
                values.add_(Scratch, alpha: -learningRate * weightDecay);
            }
            else
            {
                values.mul_(1 - learningRate * weightDecay);
            }
        }
        else if (!_decoupled)
        {
            AddL2(gradient, weightDecay);
        }
        _m.mul_(_beta1).add_(gradient, alpha: 1 - _beta1);
        _v.mul_(_beta2).addcmul_(gradient, gradient, value: 1 - _beta2);
        double correction1 = 1 - Math.Pow(_beta1, Steps);
        double correction2 = 1 - Math.Pow(_beta2, Steps);
        // denominator √v/√(1−β2ᵗ) + ε
        Scratch.copy_(_v).sqrt_().div_(Math.Sqrt(correction2)).add_(Epsilon);
        if (Module.LearningRateFactors is { } factors)
        {
            _step.copy_(_m).mul_(factors);
            values.addcdiv_(_step, Scratch, value: -learningRate / correction1);
        }
        else
        {
            values.addcdiv_(_m, Scratch, value: -learningRate / correction1);
        }
    }

    public override void Dispose()
    {
        _m.Dispose();
        _v.Dispose();
        _step.Dispose();
        base.Dispose();
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
                _buffer.mul_(_momentum).add_(gradient);
            }
            gradient = _buffer;
        }
        Steps++;
        if (Module.LearningRateFactors is { } factors)
        {
            Scratch.copy_(gradient).mul_(factors);
            Module.Values.add_(Scratch, alpha: -learningRate);
        }
        else
        {
            Module.Values.add_(gradient, alpha: -learningRate);
        }
    }

    public override void Dispose()
    {
        _buffer.Dispose();
        base.Dispose();
    }
}
