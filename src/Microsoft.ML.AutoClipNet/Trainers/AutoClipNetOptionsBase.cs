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

/// <summary>What AutoClipNet does with a missing value (NaN) in a feature.</summary>
public enum AutoClipNetMissingValues
{
    /// <summary>
    /// The model handles it (default): a NaN takes the feature's fill value (its center in the training rows: the median under
    /// robust scaling, the mean otherwise), and each feature that had a NaN in the training rows gains a learned 0/1 indicator,
    /// so that the network can tell a missing value from the typical one. The same in training, scoring and ONNX.
    /// </summary>
    FillAndIndicate = 0,

    /// <summary>As <see cref="FillAndIndicate"/> without the indicators: a missing value is the typical value.</summary>
    Fill = 1,

    /// <summary>A NaN feature in the training or validation rows is an error (or the row is skipped under DropNonFiniteRows), as before missing values were supported; the model does not handle NaN.</summary>
    Error = 2,
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

    /// <summary>
    /// The example weight column (Single), or null for none (every row weighs 1). Default null. A row of weight w counts as w
    /// rows: in the training loss (each batch's mean of w·loss, the weights rescaled to mean 1 over the training rows), in the
    /// validation loss and error that pick the best epoch, in the probability calibration, and in the label's mean and scale
    /// (regression). The feature scaling's statistics (medians, quartiles, quantile bins) are the rows', unweighted, as tree
    /// trainers' bins are. A row of weight 0 is skipped entirely; a negative, NaN or infinite weight is an error naming the
    /// row (NaN and infinity skip the row under <see cref="DropNonFiniteRows"/>). ML.NET requires a validation set given to
    /// Fit to have the weight column too; its weights weigh the validation loss.
    /// </summary>
    public string? ExampleWeightColumnName;

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

    /// <summary>
    /// The network and its training recipe. Default <see cref="AutoClipNetArchitecture.RealMlp"/>;
    /// <see cref="AutoClipNetArchitecture.Mlp"/> is the network of the first release. Every option below left
    /// at null takes the recipe's value for the architecture, the task and the size of the data: the README's table of
    /// options lists them (written once, in the library's recipe, which a test holds the table to), and the trainer logs the
    /// recipe it chose ("Recipe: ...").
    /// </summary>
    public AutoClipNetArchitecture Architecture = AutoClipNetArchitecture.RealMlp;

    /// <summary>
    /// How much training RealMlp spends: <see cref="AutoClipNetEffort.Best"/>, <see cref="AutoClipNetEffort.Balanced"/>,
    /// <see cref="AutoClipNetEffort.Fast"/> or <see cref="AutoClipNetEffort.Fastest"/>. Each step down sets cheaper defaults for
    /// <see cref="HiddenLayerSizes"/>, <see cref="NumberOfEpochs"/> and <see cref="EnsembleSize"/> (an option set explicitly
    /// still wins); docs/effort.md measures fit time against accuracy over the bundled data sets, and the README's table
    /// lists each step's values. Default null: the task's, <see cref="AutoClipNetEffort.Fast"/> for regression and binary
    /// classification, <see cref="AutoClipNetEffort.Best"/> for multiclass (docs/effort.md, over three seeds). Mlp has its own
    /// defaults and takes only null or <see cref="AutoClipNetEffort.Best"/>.
    /// </summary>
    public AutoClipNetEffort? Effort;

    /// <summary>How features are scaled inside the trainer (statistics saved with the model). Default null: the recipe's (robust scaling with smooth clipping for RealMlp, standardization for Mlp).</summary>
    public AutoClipNetFeatureScaling? FeatureScaling;

    /// <summary>Periodic embeddings of the numeric features: frequencies per feature, 0 for none. Default null: the recipe's (none for Mlp).</summary>
    public int? EmbeddingFrequencies;

    /// <summary>
    /// Piecewise-linear encodings of the numeric features (Gorishniy et al., NeurIPS 2022): each feature's value is also given
    /// as its position in each of this many bins between quantiles of the training rows (−1 below a bin, 1 above it), so
    /// that the network can tell values apart as finely as trees do; 0 for none. Default null: none. Worth trying where
    /// LightGbm leads (docs/resolution.md measures 32 bins, with and without the periodic embeddings); it lowered most
    /// other sets measured. The periodic embeddings stay unless <see cref="EmbeddingFrequencies"/> is 0.
    /// </summary>
    public int? PiecewiseLinearBins;

    /// <summary>Sizes of the hidden layers; an empty array gives a linear model. Default null: the recipe's.</summary>
    public int[]? HiddenLayerSizes;

    /// <summary>Nonlinearity after each hidden layer. Default null: the recipe's (SELU for RealMlp, ReLU for Mlp).</summary>
    public AutoClipNetActivation? Activation;

    /// <summary>Passes over the training data. Default null: the recipe's (for RealMlp by data size: enough for its budget of optimizer steps).</summary>
    public int? NumberOfEpochs;

    /// <summary>Rows per optimizer step. Default null: the recipe's (for RealMlp, all the training rows when there are fewer).</summary>
    public int? BatchSize;

    /// <summary>The optimizer's (peak) learning rate, &gt; 0. Default null: the recipe's (for RealMlp, each task's own).</summary>
    public double? LearningRate;

    /// <summary>How the learning rate changes over training. Default null: the recipe's (<see cref="AutoClipNetLearningRateSchedule.CosLog4"/> for RealMlp, constant for Mlp).</summary>
    public AutoClipNetLearningRateSchedule? LearningRateSchedule;

    /// <summary>The optimizer. Default Adam.</summary>
    public AutoClipNetOptimizer Optimizer = AutoClipNetOptimizer.Adam;

    /// <summary>Momentum of <see cref="AutoClipNetOptimizer.Sgd"/>, and β1 of Adam and AdamW, in [0, 1). Default 0.9.</summary>
    public double Momentum = 0.9;

    /// <summary>β2 of Adam and AdamW, in [0, 1). Default null: the recipe's.</summary>
    public double? AdamBeta2;

    /// <summary>Weight decay, &gt;= 0 (L2 for Adam and SGD, decoupled for AdamW). Default 0.</summary>
    public double WeightDecay;

    /// <summary>Seed of the weight initialisation, the hold-out and the shuffling. Default null: drawn from the MLContext's seed.</summary>
    public int? Seed;

    /// <summary>
    /// Fraction of the training rows held out to pick the best epoch, 0..0.5. Default null: the recipe's (none for Mlp).
    /// A validation set given to <c>Fit(train, validation)</c> takes precedence.
    /// </summary>
    public double? ValidationFraction;

    /// <summary>
    /// Networks trained and averaged, 1 to 64. Default null: the recipe's (for RealMlp by data size: an ensemble on small
    /// data, docs/ensembles.md; one network for Mlp). Each member has its own initialisation and shuffling and, with a hold-out,
    /// holds out its own slice of the rows (member k the k-th of K slices of <see cref="ValidationFraction"/> each: with
    /// 5 members and 0.2, every row is held out by exactly one member and trained on by the other four), on which it
    /// keeps its best epoch; the model averages the members' outputs. Training and scoring take K times as long.
    /// </summary>
    public int? EnsembleSize;

    /// <summary>
    /// The most cores training uses, as LightGbm's <c>NumberOfThreads</c>: an ensemble trains up to this many members side by
    /// side (each with one LibTorch thread, so their bits do not depend on it), and a single network gets this many LibTorch
    /// threads. Default null: every core, and a single network LibTorch's own thread count. A single network's last bits can
    /// differ between thread counts (LibTorch's products round differently); an ensemble's do not.
    /// </summary>
    public int? NumberOfThreads;

    /// <summary>
    /// With validation data: stop after this many epochs without a better validation score (0: never stop early; the
    /// best epoch's weights are kept either way). Default null: the recipe's (never for RealMlp, whose schedule runs to its end).
    /// </summary>
    public int? EarlyStoppingPatience;

    /// <summary>
    /// With validation data and the <see cref="AutoClipNetLearningRateSchedule.CosLog4"/> schedule: stop at the end of the
    /// schedule's third cycle (7/15 of the epochs, where the learning rate returns to zero) when that cycle found no better
    /// validation score than the first two did, instead of running the fourth cycle (the last 8/15 of the epochs). The best
    /// epoch's weights are kept either way, so a network whose best epoch came before the stop and was neither beaten nor
    /// matched later (by the validation error, a later tie wins) is trained to the same bits as without the stop. Runs of fewer
    /// than 15 epochs (a cycle shorter than an epoch) and runs whose validation scores were never finite run to their end. Default null: the recipe's (on for RealMlp, off for Mlp; docs/cycle-stop.md measures it).
    /// </summary>
    public bool? CycleEarlyStopping;

    /// <summary>What picks the epoch whose weights the model keeps. Default null: the recipe's (the validation error for RealMlp, the loss for Mlp).</summary>
    public AutoClipNetEpochSelection? EpochSelection;

    /// <summary>Skip an epoch's last, smaller batch. Default null: the recipe's (skipped for RealMlp).</summary>
    public bool? DropLastPartialBatch;

    /// <summary>
    /// Scale the features at all (then as <see cref="FeatureScaling"/> says). Default true. False turns every
    /// feature scaling off, as <c>FeatureScaling = None</c> does.
    /// </summary>
    public bool StandardizeFeatures = true;

    /// <summary>
    /// Missing values (NaN) in the features. Default <see cref="AutoClipNetMissingValues.FillAndIndicate"/>: the model fills them
    /// and learns from an indicator. An infinite feature is never a missing value: it is an error naming the row and slot (or the
    /// row is skipped under <see cref="DropNonFiniteRows"/>).
    /// </summary>
    public AutoClipNetMissingValues MissingValues = AutoClipNetMissingValues.FillAndIndicate;

    /// <summary>
    /// Skip (and count) rows with a value the trainer cannot use instead of failing: an infinite feature, a NaN feature when
    /// <see cref="MissingValues"/> is <see cref="AutoClipNetMissingValues.Error"/>, a missing label, a NaN or infinite weight.
    /// Default false.
    /// </summary>
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

    /// <summary>
    /// How much of its training the model keeps. Default <see cref="AutoClipNetHistoryDetail.Summary"/>: every epoch, exact
    /// counts and up to 2,048 evenly spaced steps, so a long run's model stays small. <see cref="AutoClipNetHistoryDetail.EveryStep"/>
    /// keeps every step and the AutoClip state (its whole history of norms: 8 bytes a step); <see cref="AutoClipNetHistoryDetail.None"/>
    /// only the counts.
    /// </summary>
    public AutoClipNetHistoryDetail HistoryDetail = AutoClipNetHistoryDetail.Summary;

    /// <summary>The options class's name in messages: "AutoClipNetTrainer.Options".</summary>
    private protected abstract string OptionsName { get; }

    /// <summary>Checks every option and throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid one and its value.</summary>
    public virtual void Validate()
    {
        Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), LabelColumnName, "the name of a column");
        Check(!string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), FeatureColumnName, "the name of a column");
        Check(ExampleWeightColumnName is null || !string.IsNullOrWhiteSpace(ExampleWeightColumnName), nameof(ExampleWeightColumnName), ExampleWeightColumnName, "null or the name of a column");
        Check(Percentile >= 0 && Percentile <= 100, nameof(Percentile), Percentile, "between 0 and 100");
        Check(HistoryWindow is null or >= 1, nameof(HistoryWindow), HistoryWindow, "null or at least 1");
        Check(WarmupSteps >= 0, nameof(WarmupSteps), WarmupSteps, "0 or more");
        Check(Enum.IsDefined(NonFiniteGradients), nameof(NonFiniteGradients), NonFiniteGradients, "SkipStep or Throw");
        Check(Enum.IsDefined(Clipping), nameof(Clipping), Clipping, "AutoClip, FixedNorm or None");
        Check(FixedClipNorm > 0 && double.IsFinite(FixedClipNorm), nameof(FixedClipNorm), FixedClipNorm, "a positive number");
        Check(Enum.IsDefined(Architecture), nameof(Architecture), Architecture, "RealMlp or Mlp");
        Check(Effort is null || Enum.IsDefined(Effort.Value), nameof(Effort), Effort, "null, Fastest, Fast, Balanced or Best");
        Check(Effort is null or AutoClipNetEffort.Best || Architecture == AutoClipNetArchitecture.RealMlp, nameof(Effort), Effort,
            "null or Best with Architecture = Mlp (its own defaults; the effort steps are RealMlp's)");
        Check(Enum.IsDefined(MissingValues), nameof(MissingValues), MissingValues, "FillAndIndicate, Fill or Error");
        Check(FeatureScaling is null || Enum.IsDefined(FeatureScaling.Value), nameof(FeatureScaling), FeatureScaling, "null, Standardize, RobustSmoothClip or None");
        Check(EmbeddingFrequencies is null or (>= 0 and <= 1024), nameof(EmbeddingFrequencies), EmbeddingFrequencies, "null or 0 to 1024");
        Check(PiecewiseLinearBins is null or 0 or (>= 2 and <= 1024), nameof(PiecewiseLinearBins), PiecewiseLinearBins, "null, 0 or 2 to 1024");
        if (HiddenLayerSizes is not null)
        {
            for (int i = 0; i < HiddenLayerSizes.Length; i++)
            {
                Check(HiddenLayerSizes[i] >= 1 && HiddenLayerSizes[i] <= Network.Serialization.MaxWidth, nameof(HiddenLayerSizes), $"{{{string.Join(", ", HiddenLayerSizes)}}}", "null or an array of positive sizes");
            }
        }
        Check(Activation is null || Enum.IsDefined(Activation.Value), nameof(Activation), Activation, "null or one of " + string.Join(", ", Enum.GetNames<AutoClipNetActivation>()));
        Check(NumberOfEpochs is null or >= 1, nameof(NumberOfEpochs), NumberOfEpochs, "null or at least 1");
        Check(BatchSize is null or >= 1, nameof(BatchSize), BatchSize, "null or at least 1");
        Check(LearningRate is null || (LearningRate > 0 && double.IsFinite(LearningRate.Value)), nameof(LearningRate), LearningRate, "null or a positive number");
        Check(LearningRateSchedule is null || Enum.IsDefined(LearningRateSchedule.Value), nameof(LearningRateSchedule), LearningRateSchedule, "null, Constant, CosLog4 or Cosine");
        Check(Enum.IsDefined(Optimizer), nameof(Optimizer), Optimizer, "Adam, AdamW or Sgd");
        Check(Momentum >= 0 && Momentum < 1, nameof(Momentum), Momentum, "in [0, 1)");
        Check(AdamBeta2 is null || (AdamBeta2 >= 0 && AdamBeta2 < 1), nameof(AdamBeta2), AdamBeta2, "null or in [0, 1)");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), WeightDecay, "0 or more");
        Check(ValidationFraction is null || (ValidationFraction >= 0 && ValidationFraction <= 0.5), nameof(ValidationFraction), ValidationFraction, "null or between 0 and 0.5");
        Check(EnsembleSize is null or (>= 1 and <= Network.EnsembleLayer.MaxMembers), nameof(EnsembleSize), EnsembleSize, $"null or 1 to {Network.EnsembleLayer.MaxMembers}");
        Check(NumberOfThreads is null or >= 1, nameof(NumberOfThreads), NumberOfThreads, "null (every core) or at least 1");
        Check(EarlyStoppingPatience is null or >= 0, nameof(EarlyStoppingPatience), EarlyStoppingPatience, "null, or 0 or more");
        Check(EpochSelection is null || Enum.IsDefined(EpochSelection.Value), nameof(EpochSelection), EpochSelection, "null, ValidationLoss or ValidationError");
        Check(MaxRowsInMemory >= 1, nameof(MaxRowsInMemory), MaxRowsInMemory, "at least 1");
        Check(ShufflePoolSize >= 1, nameof(ShufflePoolSize), ShufflePoolSize, "at least 1");
        Check(DiagnosticsInterval >= 0, nameof(DiagnosticsInterval), DiagnosticsInterval, "0 (off) or more");
        Check(Enum.IsDefined(HistoryDetail), nameof(HistoryDetail), HistoryDetail, "None, Summary or EveryStep");
    }

    /// <summary>For ablation studies only (InternalsVisibleTo the studies): changes the resolved recipe.</summary>
    internal Func<Training.Recipe, Training.Recipe>? RecipeOverride;

    /// <summary>The recipe with this task's own options applied (each task's options override it; the shared ones are read by <see cref="Training.Recipe.Resolve"/>).</summary>
    internal virtual Training.Recipe ApplyTaskOptions(Training.Recipe recipe) => recipe;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the option, its value and what was expected.</summary>
    private protected void Check(bool ok, string name, object? value, string expected)
    {
        if (!ok)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{OptionsName}.{name} must be {expected}, but was {Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "null"}.");
        }
    }

    /// <summary>A deep copy (the arrays copied too).</summary>
    private protected AutoClipNetOptionsBase CloneBase()
    {
        var copy = (AutoClipNetOptionsBase)MemberwiseClone();
        copy.HiddenLayerSizes = (int[]?)HiddenLayerSizes?.Clone();
        return copy;
    }
}

/// <summary>
/// The defaults of the AutoClipNet options that are fixed values, written once for every task and both catalog
/// overloads. What a null option becomes is the recipe's (Training/Recipe.cs), also written once.
/// </summary>
internal static class AutoClipNetDefaults
{
    public const string LabelColumnName = "Label";
    public const string FeatureColumnName = "Features";
    public const double Percentile = AutoClipOptions.DefaultPercentile;
    public const int MaxRowsInMemory = 2_000_000;
    public const int ShufflePoolSize = 100_000;
}
