using System;
using Microsoft.ML.AutoClip;

namespace Microsoft.ML.AutoClipNet;

/// <summary>How AutoClipNet clips gradients.</summary>
public enum AutoClipNetClipping
{
    /// <summary>AutoClip: clip to the <see cref="AutoClipNetOptionsBase.Percentile"/>-th percentile of the gradient-norm history (default).</summary>
    AutoClip = 0,

    /// <summary>Classic clipping to the fixed norm <see cref="AutoClipNetOptionsBase.FixedClipNorm"/>.</summary>
    FixedNorm = 1,

    /// <summary>No clipping at all (for comparisons).</summary>
    None = 2,
}

/// <summary>The optimizer that updates the network's weights.</summary>
public enum AutoClipNetOptimizer
{
    /// <summary>Adam (Kingma and Ba, 2015); <see cref="AutoClipNetOptionsBase.WeightDecay"/> is added to the gradient (L2).</summary>
    Adam = 0,

    /// <summary>AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2019).</summary>
    AdamW = 1,

    /// <summary>Stochastic gradient descent with <see cref="AutoClipNetOptionsBase.Momentum"/>.</summary>
    Sgd = 2,
}

/// <summary>
/// The options every AutoClipNet trainer shares (regression <see cref="AutoClipNetTrainer.Options"/>,
/// binary <see cref="AutoClipNetBinaryTrainer.Options"/>, multiclass <see cref="AutoClipNetMulticlassTrainer.Options"/>).
/// Every default is written once, in <see cref="AutoClipNetDefaults"/>, and shared by both catalog
/// overloads of each task.
/// </summary>
public abstract class AutoClipNetOptionsBase
{
    private protected AutoClipNetOptionsBase()
    {
    }

    /// <summary>The label column. Default "Label".</summary>
    public string LabelColumnName = AutoClipNetDefaults.LabelColumnName;

    /// <summary>The feature column: a known-size vector of Single. Default "Features".</summary>
    public string FeatureColumnName = AutoClipNetDefaults.FeatureColumnName;

    /// <summary>AutoClip's percentile p, 0..100. Default 10 (the paper's recommendation).</summary>
    public double Percentile = AutoClipNetDefaults.Percentile;

    /// <summary>Only the last N gradient norms count (null: all of them, as in the paper). Default null.</summary>
    public int? HistoryWindow;

    /// <summary>Number of initial steps whose norms are recorded but not clipped. Default 0.</summary>
    public int WarmupSteps;

    /// <summary>What to do with a step whose gradient is NaN or infinite. Default: skip the step.</summary>
    public NonFiniteGradientPolicy NonFiniteGradients = NonFiniteGradientPolicy.SkipStep;

    /// <summary>How gradients are clipped. Default <see cref="AutoClipNetClipping.AutoClip"/>.</summary>
    public AutoClipNetClipping Clipping = AutoClipNetClipping.AutoClip;

    /// <summary>The norm to clip to when <see cref="Clipping"/> is <see cref="AutoClipNetClipping.FixedNorm"/>. Default 1.</summary>
    public double FixedClipNorm = 1.0;

    /// <summary>Sizes of the hidden layers. Default { 64, 64 }. An empty array gives a linear model.</summary>
    public int[] HiddenLayerSizes = (int[])AutoClipNetDefaults.HiddenLayerSizes.Clone();

    /// <summary>Nonlinearity after each hidden layer. Default ReLU.</summary>
    public AutoClipNetActivation Activation = AutoClipNetActivation.ReLU;

    /// <summary>Passes over the training data. Default 30.</summary>
    public int NumberOfEpochs = AutoClipNetDefaults.NumberOfEpochs;

    /// <summary>Rows per optimizer step. Default 64.</summary>
    public int BatchSize = AutoClipNetDefaults.BatchSize;

    /// <summary>The optimizer's learning rate, &gt; 0. Default 0.001.</summary>
    public double LearningRate = AutoClipNetDefaults.LearningRate;

    /// <summary>The optimizer. Default Adam.</summary>
    public AutoClipNetOptimizer Optimizer = AutoClipNetOptimizer.Adam;

    /// <summary>Momentum of <see cref="AutoClipNetOptimizer.Sgd"/> (and Adam's β1), 0..1. Default 0.9.</summary>
    public double Momentum = 0.9;

    /// <summary>Weight decay, &gt;= 0 (L2 for Adam and SGD, decoupled for AdamW). Default 0.</summary>
    public double WeightDecay;

    /// <summary>Seed of the weight initialisation, the hold-out and the shuffling. Default null: drawn from the MLContext's seed.</summary>
    public int? Seed;

    /// <summary>
    /// Fraction of the training rows held out to measure validation loss after each epoch, 0..0.5.
    /// Default 0 (no hold-out). A validation set given to <c>Fit(train, validation)</c> takes precedence.
    /// </summary>
    public double ValidationFraction;

    /// <summary>
    /// With validation data: stop after this many epochs without a better validation loss, and keep
    /// the best epoch's weights. 0 trains all epochs (still keeping the best weights). Default 5.
    /// </summary>
    public int EarlyStoppingPatience = AutoClipNetDefaults.EarlyStoppingPatience;

    /// <summary>Standardize features to mean 0 and variance 1 inside the trainer (statistics saved with the model). Default true.</summary>
    public bool StandardizeFeatures = true;

    /// <summary>Skip (and count) rows with a NaN or infinite feature or a missing label instead of failing. Default false.</summary>
    public bool DropNonFiniteRows;

    /// <summary>
    /// Training data with more rows than this is streamed from the <see cref="IDataView"/> at every
    /// epoch, through a shuffle pool of <see cref="ShufflePoolSize"/> rows, instead of being packed in memory.
    /// Default 2,000,000.
    /// </summary>
    public int MaxRowsInMemory = AutoClipNetDefaults.MaxRowsInMemory;

    /// <summary>Rows held in the shuffle pool when streaming. Default 100,000.</summary>
    public int ShufflePoolSize = AutoClipNetDefaults.ShufflePoolSize;

    /// <summary>
    /// Record the step size ||θ_t − θ_{t−1}|| and the local smoothness ||g_t − g_{t−1}|| / ||θ_t − θ_{t−1}||
    /// every N steps (the AutoClip paper's diagnostics; each costs a copy of the weights and gradients). Default 0: off.
    /// </summary>
    public int DiagnosticsInterval;

    /// <summary>The options class's name in messages: "AutoClipNetTrainer.Options".</summary>
    private protected abstract string OptionsName { get; }

    /// <summary>Checks every option and throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid one and its value.</summary>
    public virtual void Validate()
    {
        Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), LabelColumnName, "the name of a column");
        Check(!string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), FeatureColumnName, "the name of a column");
        Check(Percentile >= 0 && Percentile <= 100, nameof(Percentile), Percentile, "between 0 and 100");
        Check(HistoryWindow is null or >= 1, nameof(HistoryWindow), HistoryWindow, "null or at least 1");
        Check(WarmupSteps >= 0, nameof(WarmupSteps), WarmupSteps, "0 or more");
        Check(Enum.IsDefined(NonFiniteGradients), nameof(NonFiniteGradients), NonFiniteGradients, "SkipStep or Throw");
        Check(Enum.IsDefined(Clipping), nameof(Clipping), Clipping, "AutoClip, FixedNorm or None");
        Check(FixedClipNorm > 0 && double.IsFinite(FixedClipNorm), nameof(FixedClipNorm), FixedClipNorm, "a positive number");
        Check(HiddenLayerSizes is not null, nameof(HiddenLayerSizes), HiddenLayerSizes, "an array of layer sizes");
        for (int i = 0; i < HiddenLayerSizes!.Length; i++)
        {
            Check(HiddenLayerSizes[i] >= 1 && HiddenLayerSizes[i] <= Network.Serialization.MaxWidth, nameof(HiddenLayerSizes), $"{{{string.Join(", ", HiddenLayerSizes)}}}", "an array of positive sizes");
        }
        Check(Enum.IsDefined(Activation), nameof(Activation), Activation, string.Join(", ", Enum.GetNames<AutoClipNetActivation>()));
        Check(NumberOfEpochs >= 1, nameof(NumberOfEpochs), NumberOfEpochs, "at least 1");
        Check(BatchSize >= 1, nameof(BatchSize), BatchSize, "at least 1");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "a positive number");
        Check(Enum.IsDefined(Optimizer), nameof(Optimizer), Optimizer, "Adam, AdamW or Sgd");
        Check(Momentum >= 0 && Momentum < 1, nameof(Momentum), Momentum, "in [0, 1)");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), WeightDecay, "0 or more");
        Check(ValidationFraction >= 0 && ValidationFraction <= 0.5, nameof(ValidationFraction), ValidationFraction, "between 0 and 0.5");
        Check(EarlyStoppingPatience >= 0, nameof(EarlyStoppingPatience), EarlyStoppingPatience, "0 or more");
        Check(MaxRowsInMemory >= 1, nameof(MaxRowsInMemory), MaxRowsInMemory, "at least 1");
        Check(ShufflePoolSize >= 1, nameof(ShufflePoolSize), ShufflePoolSize, "at least 1");
        Check(DiagnosticsInterval >= 0, nameof(DiagnosticsInterval), DiagnosticsInterval, "0 (off) or more");
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the option, its value and what was expected.</summary>
    private protected void Check(bool ok, string name, object? value, string expected)
    {
        if (!ok)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{OptionsName}.{name} must be {expected}, but was {Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "null"}.");
        }
    }

    internal AutoClipOptions ToAutoClipOptions() => new()
    {
        Percentile = Percentile,
        HistoryWindow = HistoryWindow,
        WarmupSteps = WarmupSteps,
        NonFiniteGradients = NonFiniteGradients,
    };

    /// <summary>A deep copy (the arrays copied too).</summary>
    private protected AutoClipNetOptionsBase CloneBase()
    {
        var copy = (AutoClipNetOptionsBase)MemberwiseClone();
        copy.HiddenLayerSizes = (int[])HiddenLayerSizes.Clone();
        return copy;
    }
}

/// <summary>The defaults of the AutoClipNet options, written once for every task and both catalog overloads.</summary>
internal static class AutoClipNetDefaults
{
    public const string LabelColumnName = "Label";
    public const string FeatureColumnName = "Features";
    public const double Percentile = AutoClipOptions.DefaultPercentile;
    public const int NumberOfEpochs = 30;
    public const int BatchSize = 64;
    public const double LearningRate = 1e-3;
    public const int EarlyStoppingPatience = 5;
    public const int MaxRowsInMemory = 2_000_000;
    public const int ShufflePoolSize = 100_000;
    public static readonly int[] HiddenLayerSizes = { 64, 64 };
}
