using System;
using Microsoft.ML.AutoClip;

namespace Microsoft.ML.AutoClipNet;

/// <summary>How AutoClipNet clips gradients.</summary>
public enum AutoClipNetClipping
{
    /// <summary>AutoClip: clip to the <see cref="AutoClipNetTrainer.Options.Percentile"/>-th percentile of the gradient-norm history (default).</summary>
    AutoClip = 0,

    /// <summary>Classic clipping to the fixed norm <see cref="AutoClipNetTrainer.Options.FixedClipNorm"/>.</summary>
    FixedNorm = 1,

    /// <summary>No clipping at all (for comparisons).</summary>
    None = 2,
}

/// <summary>The optimizer that updates the network's weights.</summary>
public enum AutoClipNetOptimizer
{
    /// <summary>Adam (Kingma and Ba, 2015); <see cref="AutoClipNetTrainer.Options.WeightDecay"/> is added to the gradient (L2).</summary>
    Adam = 0,

    /// <summary>AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2019).</summary>
    AdamW = 1,

    /// <summary>Stochastic gradient descent with <see cref="AutoClipNetTrainer.Options.Momentum"/>.</summary>
    Sgd = 2,
}

public sealed partial class AutoClipNetTrainer
{
    /// <summary>
    /// Options of <see cref="AutoClipNetTrainer"/>. Every default is written once, in
    /// <see cref="Defaults"/>, and shared by both catalog overloads.
    /// </summary>
    public sealed class Options
    {
        /// <summary>The label column: a Single. Default "Label".</summary>
        public string LabelColumnName = DefaultColumnNames.Label;

        /// <summary>The feature column: a known-size vector of Single. Default "Features".</summary>
        public string FeatureColumnName = DefaultColumnNames.Features;

        /// <summary>AutoClip's percentile p, 0..100. Default 10 (the paper's recommendation).</summary>
        public double Percentile = Defaults.Percentile;

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
        public int[] HiddenLayerSizes = (int[])Defaults.HiddenLayerSizes.Clone();

        /// <summary>Nonlinearity after each hidden layer. Default ReLU.</summary>
        public AutoClipNetActivation Activation = AutoClipNetActivation.ReLU;

        /// <summary>Passes over the training data. Default 30.</summary>
        public int NumberOfEpochs = Defaults.NumberOfEpochs;

        /// <summary>Rows per optimizer step. Default 64.</summary>
        public int BatchSize = Defaults.BatchSize;

        /// <summary>The optimizer's learning rate, &gt; 0. Default 0.001.</summary>
        public double LearningRate = Defaults.LearningRate;

        /// <summary>The optimizer. Default Adam.</summary>
        public AutoClipNetOptimizer Optimizer = AutoClipNetOptimizer.Adam;

        /// <summary>Momentum of <see cref="AutoClipNetOptimizer.Sgd"/>, 0..1. Default 0.9.</summary>
        public double Momentum = 0.9;

        /// <summary>Weight decay, &gt;= 0 (L2 for Adam and SGD, decoupled for AdamW). Default 0.</summary>
        public double WeightDecay;

        /// <summary>Seed of the weight initialisation and the shuffling. Default null: drawn from the MLContext's seed.</summary>
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
        public int EarlyStoppingPatience = Defaults.EarlyStoppingPatience;

        /// <summary>Standardize features to mean 0 and variance 1 inside the trainer (statistics saved with the model). Default true.</summary>
        public bool StandardizeFeatures = true;

        /// <summary>Standardize the label inside the trainer; predictions are mapped back. Default true.</summary>
        public bool StandardizeLabel = true;

        /// <summary>Skip (and count) rows with a NaN or infinite feature or label instead of failing. Default false.</summary>
        public bool DropNonFiniteRows;

        /// <summary>
        /// Training data with more rows than this is streamed from the <see cref="IDataView"/> at every
        /// epoch, through a shuffle pool of <see cref="ShufflePoolSize"/> rows, instead of being packed in memory.
        /// Default 2,000,000.
        /// </summary>
        public int MaxRowsInMemory = Defaults.MaxRowsInMemory;

        /// <summary>Rows held in the shuffle pool when streaming. Default 100,000.</summary>
        public int ShufflePoolSize = Defaults.ShufflePoolSize;

        /// <summary>
        /// Record the step size ||θ_t − θ_{t−1}|| and the local smoothness ||g_t − g_{t−1}|| / ||θ_t − θ_{t−1}||
        /// every N steps (the AutoClip paper's diagnostics; each costs a copy of the weights and gradients). Default 0: off.
        /// </summary>
        public int DiagnosticsInterval;

        /// <summary>Checks every option and throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid one and its value.</summary>
        public void Validate()
        {
            static void Check(bool ok, string name, object? value, string expected)
            {
                if (!ok)
                {
                    throw new ArgumentOutOfRangeException(name, value, $"AutoClipNetTrainer.Options.{name} must be {expected}, but was {value ?? "null"}.");
                }
            }

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
                Check(HiddenLayerSizes[i] >= 1, nameof(HiddenLayerSizes), $"{{{string.Join(", ", HiddenLayerSizes)}}}", "an array of positive sizes");
            }
            Check(Enum.IsDefined(Activation), nameof(Activation), Activation, "ReLU, Tanh, Gelu or LeakyReLU");
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

        internal AutoClipOptions ToAutoClipOptions() => new()
        {
            Percentile = Percentile,
            HistoryWindow = HistoryWindow,
            WarmupSteps = WarmupSteps,
            NonFiniteGradients = NonFiniteGradients,
        };

        internal Options Clone()
        {
            var copy = (Options)MemberwiseClone();
            copy.HiddenLayerSizes = (int[])HiddenLayerSizes.Clone();
            return copy;
        }
    }

    /// <summary>The defaults, written once for both catalog overloads.</summary>
    internal static class Defaults
    {
        public const double Percentile = AutoClipOptions.DefaultPercentile;
        public const int NumberOfEpochs = 30;
        public const int BatchSize = 64;
        public const double LearningRate = 1e-3;
        public const int EarlyStoppingPatience = 5;
        public const int MaxRowsInMemory = 2_000_000;
        public const int ShufflePoolSize = 100_000;
        public static readonly int[] HiddenLayerSizes = { 64, 64 };
    }

    internal static class DefaultColumnNames
    {
        public const string Label = "Label";
        public const string Features = "Features";
        public const string Score = "Score";
    }
}
