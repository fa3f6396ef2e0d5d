using System;

namespace Microsoft.ML.AutoClip;

/// <summary>
/// Options of <see cref="AutoClipper"/>. The defaults reproduce the method of the AutoClip paper
/// (Seetharaman et al., MLSP 2020) and its reference implementation exactly: the 10th percentile of
/// every gradient norm seen so far, the current one included, with no warm-up.
/// </summary>
/// <remarks>
/// Every setter validates its value and throws <see cref="ArgumentOutOfRangeException"/> naming the
/// option and the value, so a bad configuration fails where it is written.
/// </remarks>
public sealed class AutoClipOptions
{
    /// <summary>The paper's recommended percentile.</summary>
    public const double DefaultPercentile = 10;

    private double _percentile = DefaultPercentile;
    private int? _historyWindow;
    private int _warmupSteps;
    private NonFiniteGradientPolicy _nonFiniteGradients = NonFiniteGradientPolicy.SkipStep;
    private AutoClipScope _scope = AutoClipScope.Global;

    /// <summary>
    /// The percentile p of the gradient-norm history to clip to, on a 0..100 scale. Default 10 (the
    /// paper's recommendation). 100 never clips; 0 clips to the smallest norm seen so far.
    /// </summary>
    public double Percentile
    {
        get => _percentile;
        set
        {
            if (!(value >= 0 && value <= 100))
            {
                throw new ArgumentOutOfRangeException(nameof(Percentile), value,
                    $"AutoClipOptions.Percentile must be between 0 and 100 (inclusive), but was {value}. The paper recommends 10.");
            }
            _percentile = value;
        }
    }

    /// <summary>
    /// How many of the most recent gradient norms (the current one included) the percentile is taken
    /// over. Default <see langword="null"/>: the whole history, as in the paper. Setting a window bounds
    /// memory to the window and lets the threshold follow the recent training dynamics. At least 1.
    /// </summary>
    public int? HistoryWindow
    {
        get => _historyWindow;
        set
        {
            if (value is < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(HistoryWindow), value,
                    $"AutoClipOptions.HistoryWindow must be null (unbounded history) or at least 1, but was {value}.");
            }
            _historyWindow = value;
        }
    }

    /// <summary>
    /// Number of initial steps whose gradient norms are recorded but never clipped, so the threshold
    /// is not set from a handful of early norms. Default 0 (the paper's behaviour). At least 0.
    /// </summary>
    public int WarmupSteps
    {
        get => _warmupSteps;
        set
        {
            if (value < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(WarmupSteps), value,
                    $"AutoClipOptions.WarmupSteps must be 0 or more, but was {value}.");
            }
            _warmupSteps = value;
        }
    }

    /// <summary>
    /// What to do with a step whose gradient norm is NaN or infinite. Such a norm is never recorded
    /// in the history, whatever the policy. Default <see cref="NonFiniteGradientPolicy.SkipStep"/>.
    /// </summary>
    public NonFiniteGradientPolicy NonFiniteGradients
    {
        get => _nonFiniteGradients;
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(NonFiniteGradients), value,
                    $"AutoClipOptions.NonFiniteGradients must be SkipStep or Throw, but was {value}.");
            }
            _nonFiniteGradients = value;
        }
    }

    /// <summary>
    /// Which gradients share a threshold. <see cref="AutoClipScope.Global"/> (the default, the paper's method): one
    /// history of the total norm. <see cref="AutoClipScope.PerParameterGroup"/> (the optimizer's parameter groups) and
    /// <see cref="AutoClipScope.PerParameter"/> (every parameter tensor): one history, and one threshold, per group, each
    /// exactly the percentile of that group's own norms (the paper's named future work; the PyPI package's default).
    /// </summary>
    public AutoClipScope Scope
    {
        get => _scope;
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(Scope), value,
                    $"AutoClipOptions.Scope must be Global, PerParameterGroup or PerParameter, but was {value}.");
            }
            _scope = value;
        }
    }

    /// <summary>Returns a copy of these options.</summary>
    public AutoClipOptions Clone() => new()
    {
        Percentile = Percentile,
        HistoryWindow = HistoryWindow,
        WarmupSteps = WarmupSteps,
        NonFiniteGradients = NonFiniteGradients,
        Scope = Scope,
    };

    /// <inheritdoc/>
    public override string ToString()
        => $"Percentile = {Percentile}, HistoryWindow = {(HistoryWindow?.ToString() ?? "unbounded")}, WarmupSteps = {WarmupSteps}, NonFiniteGradients = {NonFiniteGradients}, Scope = {Scope}";
}

/// <summary>Which gradients share one AutoClip threshold.</summary>
public enum AutoClipScope
{
    /// <summary>One threshold for the total norm of every gradient (the paper's method).</summary>
    Global = 0,

    /// <summary>One threshold per parameter group: the inner optimizer's groups with <see cref="AutoClipOptimizer"/>, or the groups given to ClipGradients.</summary>
    PerParameterGroup = 1,

    /// <summary>One threshold per parameter tensor.</summary>
    PerParameter = 2,
}

/// <summary>What AutoClip does with a step whose gradient is NaN or infinite.</summary>
public enum NonFiniteGradientPolicy
{
    /// <summary>
    /// Leave the gradients and the history untouched and report the step as skipped; the optimizer
    /// wrapper then does not update the weights. Training continues with the next batch.
    /// </summary>
    SkipStep = 0,

    /// <summary>Throw a <see cref="NonFiniteGradientException"/>; the history is left untouched.</summary>
    Throw = 1,
}

/// <summary>Thrown when a gradient norm is NaN or infinite and the policy is <see cref="NonFiniteGradientPolicy.Throw"/>.</summary>
public sealed class NonFiniteGradientException : ArithmeticException
{
    /// <summary>Creates the exception for a step whose total gradient norm was <paramref name="gradientNorm"/>.</summary>
    public NonFiniteGradientException(long step, double gradientNorm)
        : base($"The total gradient norm at step {step} is {gradientNorm}, not a finite number. " +
               "Check the inputs and labels for NaN or infinite values, lower the learning rate, or use NonFiniteGradientPolicy.SkipStep to skip such steps.")
    {
        Step = step;
        GradientNorm = gradientNorm;
    }

    /// <summary>The 1-based step at which the gradient was not finite.</summary>
    public long Step { get; }

    /// <summary>The gradient norm (NaN or infinite).</summary>
    public double GradientNorm { get; }
}
