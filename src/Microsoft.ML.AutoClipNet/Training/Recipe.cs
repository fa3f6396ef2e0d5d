using System;
using System.Globalization;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Tasks;

namespace Microsoft.ML.AutoClipNet
{
    /// <summary>Which network AutoClipNet trains, and with which recipe.</summary>
    public enum AutoClipNetArchitecture
    {
        /// <summary>
        /// The network of the first release: standardized features, dense layers of ReLU units, Adam at a constant learning
        /// rate, no hold-out (its values: the README's table of options).
        /// </summary>
        Mlp = 0,

        /// <summary>
        /// The default: a tabular recipe after RealMLP (Holzmüller et al., NeurIPS 2024): robust scaling with smooth
        /// clipping, periodic embeddings of the numeric features, a learnable per-feature scale, NTK-parametrized dense
        /// layers of SELU units with a zero-initialised output layer, Adam on a multi-cycle learning-rate schedule, a step
        /// budget that sets the epochs by data size, and the best epoch on a hold-out kept (its values: the README's table
        /// of options). (RealMLP uses Mish for regression; SELU measured as accurate at half the cost: docs/ablation.md.)
        /// </summary>
        RealMlp = 1,
    }

    /// <summary>How the trainer scales the features before the network (the statistics are saved with the model).</summary>
    public enum AutoClipNetFeatureScaling
    {
        /// <summary>(x − mean) / standard deviation.</summary>
        Standardize = 0,

        /// <summary>
        /// (x − median) / interquartile range (half the range when that is 0; 0 for a constant feature), then
        /// smooth clipping x / √(1 + (x/3)²) into (−3, 3): outliers stop dominating. One-hot slots stay two-valued.
        /// </summary>
        RobustSmoothClip = 1,

        /// <summary>The features as they come.</summary>
        None = 2,
    }

    /// <summary>
    /// How much training the RealMlp recipe spends, in named steps from the fastest fit to the most accurate one
    /// (<see cref="AutoClipNetOptionsBase.Effort"/>). Each step sets the defaults of the network's width, the step budget, the
    /// epoch cap and the ensemble; an option set explicitly still wins. docs/effort.md measures fit time against accuracy
    /// over the bundled data sets, step by step.
    /// </summary>
    public enum AutoClipNetEffort
    {
        /// <summary>One network of three hidden layers of 128, about 256 optimizer steps (at most 64 epochs): the cheapest fit.</summary>
        Fastest = 0,

        /// <summary>
        /// Hidden layers of 128, about 512 steps (at most 128 epochs), the ensemble on small data as in <see cref="Best"/>: the
        /// default for regression and binary classification.
        /// </summary>
        Fast = 1,

        /// <summary>Hidden layers of 256, about 512 steps (at most 128 epochs), the ensemble on small data as in <see cref="Best"/>.</summary>
        Balanced = 2,

        /// <summary>Hidden layers of 256, about 1,024 steps (at most 256 epochs), an ensemble of five networks on small data: the default for multiclass classification.</summary>
        Best = 3,
    }

    /// <summary>What a network's defaults become at one <see cref="AutoClipNetEffort"/>.</summary>
    /// <param name="Width">The hidden layers' size (three of them).</param>
    /// <param name="StepBudget">The optimizer steps the epochs aim at.</param>
    /// <param name="MaxEpochs">The most epochs the budget may give (small data reaches it first).</param>
    /// <param name="SmallDataMembers">Networks averaged up to <c>Recipe.DefaultEnsembleMaxRows</c> training rows (one above).</param>
    internal sealed record EffortProfile(int Width, int StepBudget, int MaxEpochs, int SmallDataMembers)
    {
        public static EffortProfile Of(AutoClipNetEffort effort) => effort switch
        {
            AutoClipNetEffort.Fastest => new(128, 256, 64, 1),
            AutoClipNetEffort.Fast => new(128, 512, 128, 5),
            AutoClipNetEffort.Balanced => new(256, 512, 128, 5),
            AutoClipNetEffort.Best => new(256, 1024, 256, 5),
            _ => throw new ArgumentOutOfRangeException(nameof(effort), effort, "Fastest, Fast, Balanced or Best"),
        };
    }

    /// <summary>What picks the epoch whose weights the model keeps, when there are validation rows.</summary>
    public enum AutoClipNetEpochSelection
    {
        /// <summary>The lowest validation loss (mean squared error, log-loss).</summary>
        ValidationLoss = 0,

        /// <summary>The lowest validation error: the mean squared error for regression, the misclassified share for classification; ties go to the later epoch.</summary>
        ValidationError = 1,
    }
}

namespace Microsoft.ML.AutoClipNet.Training
{
    /// <summary>What reading the rows needs from the recipe, before their number is known.</summary>
    /// <param name="ValidationFraction">The share of the rows held out (0 with an explicit validation set).</param>
    /// <param name="SampleQuantiles">Keep a sample of the features for robust scaling's quartiles and the encodings' bins.</param>
    /// <param name="MayBeEnsemble">The ensemble may have more than one member (its size depends on the rows): keep each packed row's position.</param>
    internal sealed record ReadPlan(double ValidationFraction, bool SampleQuantiles, bool MayBeEnsemble);

    /// <summary>
    /// Every value a training run reads, resolved once from the trainer's options, the task and the number of training rows:
    /// the defaults of both architectures are written here and nowhere else (the options' documentation points here and to the
    /// README's table of options, which a test holds to these values). A training run (<see cref="TrainingRun"/>) takes the
    /// recipe and a member's seed, and nothing else of the options.
    /// </summary>
    internal sealed record Recipe
    {
        // ---- The network (NetworkBuilder) ----

        public required AutoClipNetArchitecture Architecture { get; init; }

        /// <summary>The effort whose defaults the recipe took: the options', else the task's (<see cref="AutoClipNetEffort.Best"/> for Mlp, which has its own).</summary>
        public AutoClipNetEffort Effort { get; init; } = AutoClipNetEffort.Best;

        public required AutoClipNetFeatureScaling FeatureScaling { get; init; }

        /// <summary>Missing values: filled (with indicators) by the network's first layer, or refused.</summary>
        public AutoClipNetMissingValues MissingValues { get; init; }

        /// <summary>Periodic-embedding frequencies per numeric feature (0: no embeddings).</summary>
        public required int EmbeddingFrequencies { get; init; }

        public int EmbeddingSize { get; init; } = 3;

        public double EmbeddingSigma { get; init; } = 0.1;

        /// <summary>Quantile bins of the piecewise-linear encodings per numeric feature (0: none).</summary>
        public int PiecewiseLinearBins { get; init; }

        public required bool FeatureScaleLayer { get; init; }

        public required int[] HiddenLayerSizes { get; init; }

        public required AutoClipNetActivation Activation { get; init; }

        public required Network.DenseInit HiddenInit { get; init; }

        public required Network.DenseInit OutputInit { get; init; }

        /// <summary>Learning-rate factors of the scale layer, the biases and the embeddings (RealMLP: 6, 0.1, 0.1).</summary>
        public float ScaleLearningRateFactor { get; init; } = 1f;

        public float BiasLearningRateFactor { get; init; } = 1f;

        public float EmbeddingLearningRateFactor { get; init; } = 1f;

        /// <summary>The weight decay factor of the dense layers' biases (the previous network decayed every parameter, the tabular recipe leaves biases alone).</summary>
        public float BiasWeightDecayFactor { get; init; } = 1f;

        // ---- The optimization (Optimization, BatchFeeder) ----

        public required int Epochs { get; init; }

        public required int BatchSize { get; init; }

        /// <summary>Skip the last, smaller batch of each epoch (unless it is the only one).</summary>
        public required bool DropLastPartialBatch { get; init; }

        public required double LearningRate { get; init; }

        public required AutoClipNetLearningRateSchedule Schedule { get; init; }

        public AutoClipNetOptimizer Optimizer { get; init; } = AutoClipNetOptimizer.Adam;

        /// <summary>SGD's momentum, or Adam's β1.</summary>
        public double Momentum { get; init; } = 0.9;

        public required double AdamBeta2 { get; init; }

        /// <summary>L2 for Adam and SGD, decoupled for AdamW.</summary>
        public double WeightDecay { get; init; }

        public AutoClipNetClipping Clipping { get; init; } = AutoClipNetClipping.AutoClip;

        public AutoClipOptions AutoClip { get; init; } = new();

        public double FixedClipNorm { get; init; } = 1.0;

        /// <summary>Rows in the shuffle pool when the training rows are streamed.</summary>
        public int ShufflePoolSize { get; init; } = AutoClipNetDefaults.ShufflePoolSize;

        // ---- Hold-out, epoch selection, ensembles (TrainingRun, Ensembles) ----

        public required double ValidationFraction { get; init; }

        /// <summary>Networks trained and averaged (1: a single network).</summary>
        public required int EnsembleSize { get; init; }

        /// <summary>The most cores training uses (members side by side; a single network's LibTorch threads); null: every core.</summary>
        public int? Threads { get; init; }

        /// <summary>With validation rows: stop after this many epochs without a better validation score (0: never).</summary>
        public required int EarlyStoppingPatience { get; init; }

        public required AutoClipNetEpochSelection EpochSelection { get; init; }

        /// <summary>Stop at the end of CosLog4's third cycle when it did not improve on the first two (<see cref="AutoClipNetOptionsBase.CycleEarlyStopping"/>).</summary>
        public bool CycleEarlyStopping { get; init; }

        /// <summary>The fewest epochs for which the cycle stop applies: with fewer, a cycle can end inside an epoch.</summary>
        public const int MinimumCycleStopEpochs = 15;

        /// <summary>
        /// The epochs at whose ends CosLog4's second and third cycles are over (t = 3/15 and 7/15 of the epochs, rounded up), if
        /// this run may stop at the third's end; null otherwise.
        /// </summary>
        public (int SecondCycleEnd, int ThirdCycleEnd)? CycleStopEpochs => CycleEarlyStopping && Schedule == AutoClipNetLearningRateSchedule.CosLog4 && Epochs >= MinimumCycleStopEpochs
            ? (CosLog4CycleEnd(2, Epochs), CosLog4CycleEnd(3, Epochs))
            : null;

        /// <summary>
        /// The epoch at whose end CosLog4's <paramref name="cycle"/> (1 to 4) is over in a run of <paramref name="epochs"/>: the
        /// learning rate returns to zero at t = 1/15, 3/15, 7/15 and 1, rounded up to a whole epoch.
        /// </summary>
        public static int CosLog4CycleEnd(int cycle, int epochs) => (int)Math.Ceiling(((1 << cycle) - 1) / 15.0 * epochs);

        /// <summary>
        /// The cycle stop's rule: the third cycle stalled when the lowest validation score by its end is not strictly lower than
        /// the lowest by the second's end (the run stops only if that one was finite: one that had not yet scored finitely goes on).
        /// </summary>
        public static bool ThirdCycleStalled(double lowestBySecondCycleEnd, double lowestByThirdCycleEnd) =>
            !(lowestByThirdCycleEnd < lowestBySecondCycleEnd);

        // ---- What the run records ----

        /// <summary>Record step size and smoothness every N steps (0: off).</summary>
        public int DiagnosticsInterval { get; init; }

        public AutoClipNetHistoryDetail HistoryDetail { get; init; } = AutoClipNetHistoryDetail.EveryStep;

        // ---- The task's own values (Tasks/) ----

        public required double LabelSmoothing { get; init; }

        /// <summary>Regression: clamp predictions to the training labels' range.</summary>
        public required bool ClampPredictions { get; init; }

        /// <summary>Regression: standardize the label inside the trainer.</summary>
        public bool StandardizeLabel { get; init; } = true;

        /// <summary>Binary: the weight of a positive row's loss.</summary>
        public double PositiveClassWeight { get; init; } = 1;

        /// <summary>Binary: fit the probabilities' temperature on the validation rows.</summary>
        public bool CalibrateProbabilities { get; init; } = true;

        /// <summary>The training rows the recipe was resolved for (after the hold-out).</summary>
        public long TrainingRows { get; init; }

        /// <summary>What reading the rows needs, before their number is known (the same rules as <see cref="Resolve"/>).</summary>
        public static ReadPlan Plan(AutoClipNetOptionsBase options, AutoClipNetTask task)
        {
            bool real = IsTabular(options);
            return new ReadPlan(ValidationFractionOf(options, real), FeatureScalingOf(options, real) == AutoClipNetFeatureScaling.RobustSmoothClip || (options.PiecewiseLinearBins ?? 0) > 0,
                options.EnsembleSize is > 1 || (options.EnsembleSize is null && real && EffortProfile.Of(EffortOf(options, task)).SmallDataMembers > 1));
        }

        /// <summary>The effort the recipe takes: the options', else the task's default (Mlp: Best, which its own defaults ignore).</summary>
        public static AutoClipNetEffort EffortOf(AutoClipNetOptionsBase options, AutoClipNetTask task)
            => options.Effort ?? (IsTabular(options) ? task.DefaultEffort : AutoClipNetEffort.Best);

        /// <summary>Every value of the run: what the options ask for, else the architecture's and the task's default, some by data size.</summary>
        public static Recipe Resolve(AutoClipNetOptionsBase options, AutoClipNetTask task, long trainingRows)
        {
            bool real = IsTabular(options);
            var effortStep = EffortOf(options, task);
            var effort = EffortProfile.Of(effortStep);
            int batch = options.BatchSize ?? (real ? DefaultBatchSize(trainingRows) : 64);
            bool dropLast = options.DropLastPartialBatch ?? real;
            var recipe = new Recipe
            {
                Architecture = options.Architecture,
                Effort = effortStep,
                FeatureScaling = FeatureScalingOf(options, real),
                MissingValues = options.MissingValues,
                EmbeddingFrequencies = options.EmbeddingFrequencies ?? (real ? 16 : 0),
                PiecewiseLinearBins = options.PiecewiseLinearBins ?? 0,
                FeatureScaleLayer = real,
                HiddenLayerSizes = (int[]?)options.HiddenLayerSizes?.Clone() ?? (real ? new[] { effort.Width, effort.Width, effort.Width } : new[] { 64, 64 }),
                Activation = options.Activation ?? (real ? AutoClipNetActivation.Selu : AutoClipNetActivation.ReLU),
                HiddenInit = real ? Network.DenseInit.NtkNormal : Network.DenseInit.Uniform,
                OutputInit = real ? Network.DenseInit.NtkZero : Network.DenseInit.Uniform,
                ScaleLearningRateFactor = real ? 6f : 1f,
                BiasLearningRateFactor = real ? 0.1f : 1f,
                EmbeddingLearningRateFactor = real ? 0.1f : 1f,
                BiasWeightDecayFactor = real ? 0f : 1f,
                Epochs = options.NumberOfEpochs ?? (real ? DefaultEpochs(trainingRows, batch, dropLast, effort.StepBudget, effort.MaxEpochs) : 30),
                BatchSize = batch,
                DropLastPartialBatch = dropLast,
                LearningRate = options.LearningRate ?? (real ? task.DefaultLearningRate : 1e-3),
                Schedule = options.LearningRateSchedule ?? (real ? AutoClipNetLearningRateSchedule.CosLog4 : AutoClipNetLearningRateSchedule.Constant),
                Optimizer = options.Optimizer,
                Momentum = options.Momentum,
                AdamBeta2 = options.AdamBeta2 ?? (real ? 0.95 : 0.999),
                WeightDecay = options.WeightDecay,
                Clipping = options.Clipping,
                AutoClip = new AutoClipOptions
                {
                    Percentile = options.Percentile,
                    HistoryWindow = options.HistoryWindow,
                    WarmupSteps = options.WarmupSteps,
                    NonFiniteGradients = options.NonFiniteGradients,
                },
                FixedClipNorm = options.FixedClipNorm,
                ShufflePoolSize = options.ShufflePoolSize,
                ValidationFraction = ValidationFractionOf(options, real),
                EnsembleSize = options.EnsembleSize ?? (real ? DefaultEnsembleSize(trainingRows, effort.SmallDataMembers) : 1),
                Threads = options.NumberOfThreads,
                EarlyStoppingPatience = options.EarlyStoppingPatience ?? (real ? 0 : 5),
                EpochSelection = options.EpochSelection ?? (real ? AutoClipNetEpochSelection.ValidationError : AutoClipNetEpochSelection.ValidationLoss),
                CycleEarlyStopping = options.CycleEarlyStopping ?? real,
                DiagnosticsInterval = options.DiagnosticsInterval,
                HistoryDetail = options.HistoryDetail,
                LabelSmoothing = real ? task.DefaultLabelSmoothing : 0,
                ClampPredictions = real,
                TrainingRows = trainingRows,
            };
            recipe = options.ApplyTaskOptions(recipe);
            return options.RecipeOverride?.Invoke(recipe) ?? recipe;
        }

        private static bool IsTabular(AutoClipNetOptionsBase options) => options.Architecture == AutoClipNetArchitecture.RealMlp;

        private static double ValidationFractionOf(AutoClipNetOptionsBase options, bool real) => options.ValidationFraction ?? (real ? 0.2 : 0);

        private static AutoClipNetFeatureScaling FeatureScalingOf(AutoClipNetOptionsBase options, bool real)
            => !options.StandardizeFeatures ? AutoClipNetFeatureScaling.None
            : options.FeatureScaling ?? (real ? AutoClipNetFeatureScaling.RobustSmoothClip : AutoClipNetFeatureScaling.Standardize);

        /// <summary>The most training rows (after the hold-out) for which the default is an ensemble.</summary>
        public const long DefaultEnsembleMaxRows = 4_000;

        /// <summary>The members of the default ensemble.</summary>
        public const int DefaultEnsembleMembers = 5;

        /// <summary>
        /// Networks averaged by data size: 5 up to <see cref="DefaultEnsembleMaxRows"/> training rows, where a seed alone moves
        /// a single network's held-out metric by hundredths and a network trains in a few seconds; 1 above (docs/ensembles.md).
        /// </summary>
        public static int DefaultEnsembleSize(long trainingRows, int members = DefaultEnsembleMembers) => trainingRows <= DefaultEnsembleMaxRows ? members : 1;

        /// <summary>Rows per step by data size: 256, or all the rows when there are fewer.</summary>
        public static int DefaultBatchSize(long trainingRows) => (int)Math.Clamp(trainingRows, 1, 256);

        /// <summary>The optimizer steps the default epochs aim at (docs/ablation.md: large sets converge within them, small sets keep gaining up to them).</summary>
        public const int DefaultStepBudget = 1024;

        /// <summary>The fewest and the most epochs the default gives.</summary>
        public const int MinimumDefaultEpochs = 4, MaximumDefaultEpochs = 256;

        /// <summary>
        /// Epochs by data size: enough for <paramref name="stepBudget"/> optimizer steps, between 4 and
        /// <paramref name="maxEpochs"/> (by default 256, RealMLP's count). 1,000 rows in batches of 256 get 256 epochs; 35,000
        /// rows get 8; 130,000 rows get 4.
        /// </summary>
        public static int DefaultEpochs(long trainingRows, int batchSize, bool dropLastPartialBatch, int stepBudget = DefaultStepBudget, int maxEpochs = MaximumDefaultEpochs)
        {
            long steps = Math.Max(1, dropLastPartialBatch ? trainingRows / batchSize : (trainingRows + batchSize - 1) / batchSize);
            return (int)Math.Clamp((stepBudget + steps - 1) / steps, MinimumDefaultEpochs, Math.Max(MinimumDefaultEpochs, maxEpochs));
        }

        /// <summary>The optimizer as the log shows it: "Adam(β1 0.9, β2 0.95)", "AdamW(β1 0.9, β2 0.95, decay 0.01)", "Sgd(momentum 0.9)".</summary>
        public string DescribeOptimizer() => (Optimizer == AutoClipNetOptimizer.Sgd
            ? FormattableString.Invariant($"Sgd(momentum {Momentum}")
            : FormattableString.Invariant($"{Optimizer}(β1 {Momentum}, β2 {AdamBeta2}"))
            + (WeightDecay > 0 ? FormattableString.Invariant($", weight decay {WeightDecay})") : ")");

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Architecture}{(Architecture == AutoClipNetArchitecture.RealMlp ? $" (effort {Effort})" : "")}, {FeatureScaling}, {(PiecewiseLinearBins > 0 ? $"piecewise-linear encodings of {PiecewiseLinearBins} bins, " : "")}embeddings {EmbeddingFrequencies}, hidden {string.Join("-", HiddenLayerSizes)} {Activation}, " +
            $"{DescribeOptimizer()} at {LearningRate} {Schedule}, batch {BatchSize}{(DropLastPartialBatch ? " (last partial dropped)" : "")}, {Epochs} epochs of {TrainingRows} rows, " +
            $"hold-out {ValidationFraction}, best epoch by {EpochSelection}{(CycleStopEpochs is { } stop ? $" (stop after epoch {stop.ThirdCycleEnd} if no better than by epoch {stop.SecondCycleEnd})" : "")}, label smoothing {LabelSmoothing}{(EnsembleSize > 1 ? $", an ensemble of {EnsembleSize} networks" : "")}");
    }
}
