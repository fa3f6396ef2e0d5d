using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Microsoft.ML.AutoClipNet
{
    /// <summary>Which network AutoClipNet trains, and with which recipe.</summary>
    public enum AutoClipNetArchitecture
    {
        /// <summary>
        /// The network of the first release: standardized features, dense layers of 64 ReLU units, Adam at a
        /// constant learning rate of 0.001, batches of 64, 30 epochs, no hold-out.
        /// </summary>
        Mlp = 0,

        /// <summary>
        /// The default: a tabular recipe after RealMLP (Holzmüller et al., NeurIPS 2024): robust scaling with
        /// smooth clipping, periodic embeddings of the numeric features, a learnable per-feature scale,
        /// three NTK-parametrized dense layers of 256 SELU units with a zero-initialised output layer, Adam with
        /// β2 = 0.95 on a multi-cycle learning-rate schedule, batches of 256 and about 1,000 steps (4 to 256
        /// epochs by data size), and the best epoch on a 20% hold-out kept. (RealMLP uses Mish for regression;
        /// SELU measured as accurate at half the cost: docs/ablation.md.)
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

    /// <summary>What picks the epoch whose weights the model keeps, when there are validation rows.</summary>
    public enum AutoClipNetEpochSelection
    {
        /// <summary>The lowest validation loss (mean squared error, log-loss).</summary>
        ValidationLoss = 0,

        /// <summary>The lowest validation error: RMSE for regression, the misclassified share for classification; ties go to the later epoch.</summary>
        ValidationError = 1,
    }
}

namespace Microsoft.ML.AutoClipNet.Training
{
    /// <summary>The task, as training sees it.</summary>
    internal enum TrainingTask
    {
        Regression,
        Binary,
        Multiclass,
    }

    /// <summary>What the user asked for: every value may be left to the recipe (null).</summary>
    internal sealed record RecipeRequest
    {
        public AutoClipNetArchitecture Architecture { get; init; } = AutoClipNetArchitecture.RealMlp;

        public AutoClipNetFeatureScaling? FeatureScaling { get; init; }

        public int? EmbeddingFrequencies { get; init; }

        public int? PiecewiseLinearBins { get; init; }

        public int[]? HiddenLayerSizes { get; init; }

        public AutoClipNetActivation? Activation { get; init; }

        public int? NumberOfEpochs { get; init; }

        public int? BatchSize { get; init; }

        public double? LearningRate { get; init; }

        public AutoClipNetLearningRateSchedule? Schedule { get; init; }

        public double? AdamBeta2 { get; init; }

        public double? ValidationFraction { get; init; }

        public int? EnsembleSize { get; init; }

        public int? EarlyStoppingPatience { get; init; }

        public bool? DropLastPartialBatch { get; init; }

        public AutoClipNetEpochSelection? EpochSelection { get; init; }

        public double? LabelSmoothing { get; init; }

        public bool? ClampPredictions { get; init; }

        public double WeightDecay { get; init; }

        /// <summary>For ablation studies only: changes the resolved recipe before training (no public option reaches it).</summary>
        public Func<Recipe, Recipe>? Override { get; init; }
    }

    /// <summary>
    /// Every choice a training run makes, resolved from a <see cref="RecipeRequest"/>, the task and the size of
    /// the data. The defaults of both architectures are written here, once.
    /// </summary>
    internal sealed record Recipe
    {
        public required AutoClipNetArchitecture Architecture { get; init; }

        public required AutoClipNetFeatureScaling FeatureScaling { get; init; }

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

        public required int Epochs { get; init; }

        public required int BatchSize { get; init; }

        public required double LearningRate { get; init; }

        public required AutoClipNetLearningRateSchedule Schedule { get; init; }

        public required double AdamBeta2 { get; init; }

        public required double ValidationFraction { get; init; }

        /// <summary>Networks trained and averaged (1: a single network).</summary>
        public required int EnsembleSize { get; init; }

        public required int EarlyStoppingPatience { get; init; }

        public required bool DropLastPartialBatch { get; init; }

        public required AutoClipNetEpochSelection EpochSelection { get; init; }

        public required double LabelSmoothing { get; init; }

        public required bool ClampPredictions { get; init; }

        public double WeightDecay { get; init; }

        /// <summary>The training rows the recipe was resolved for (after the hold-out).</summary>
        public long TrainingRows { get; init; }

        /// <summary>The recipe's architecture defaults that do not depend on the data (for the options' documentation and checks).</summary>
        public static Recipe Resolve(RecipeRequest request, TrainingTask task, long trainingRows)
        {
            bool real = request.Architecture == AutoClipNetArchitecture.RealMlp;
            bool classification = task != TrainingTask.Regression;
            int batch = request.BatchSize ?? (real ? DefaultBatchSize(trainingRows) : 64);
            var recipe = new Recipe
            {
                Architecture = request.Architecture,
                FeatureScaling = request.FeatureScaling ?? (real ? AutoClipNetFeatureScaling.RobustSmoothClip : AutoClipNetFeatureScaling.Standardize),
                EmbeddingFrequencies = request.EmbeddingFrequencies ?? (real ? 16 : 0),
                PiecewiseLinearBins = request.PiecewiseLinearBins ?? 0,
                FeatureScaleLayer = real,
                HiddenLayerSizes = request.HiddenLayerSizes ?? (real ? new[] { 256, 256, 256 } : new[] { 64, 64 }),
                Activation = request.Activation ?? (real ? AutoClipNetActivation.Selu : AutoClipNetActivation.ReLU),
                HiddenInit = real ? Network.DenseInit.NtkNormal : Network.DenseInit.Uniform,
                OutputInit = real ? Network.DenseInit.NtkZero : Network.DenseInit.Uniform,
                ScaleLearningRateFactor = real ? 6f : 1f,
                BiasLearningRateFactor = real ? 0.1f : 1f,
                EmbeddingLearningRateFactor = real ? 0.1f : 1f,
                Epochs = request.NumberOfEpochs ?? (real ? DefaultEpochs(trainingRows, batch, request.DropLastPartialBatch ?? true) : 30),
                BatchSize = batch,
                LearningRate = request.LearningRate ?? (!real ? 1e-3 : classification ? 0.04 : 0.07),
                Schedule = request.Schedule ?? (real ? AutoClipNetLearningRateSchedule.CosLog4 : AutoClipNetLearningRateSchedule.Constant),
                AdamBeta2 = request.AdamBeta2 ?? (real ? 0.95 : 0.999),
                ValidationFraction = request.ValidationFraction ?? (real ? 0.2 : 0),
                EnsembleSize = request.EnsembleSize ?? (real ? DefaultEnsembleSize(trainingRows) : 1),
                EarlyStoppingPatience = request.EarlyStoppingPatience ?? (real ? 0 : 5),
                DropLastPartialBatch = request.DropLastPartialBatch ?? real,
                EpochSelection = request.EpochSelection ?? (real ? AutoClipNetEpochSelection.ValidationError : AutoClipNetEpochSelection.ValidationLoss),
                LabelSmoothing = request.LabelSmoothing ?? (real && task == TrainingTask.Multiclass ? 0.1 : 0),
                ClampPredictions = request.ClampPredictions ?? real,
                WeightDecay = request.WeightDecay,
                TrainingRows = trainingRows,
            };
            return request.Override?.Invoke(recipe) ?? recipe;
        }

        /// <summary>The most training rows (after the hold-out) for which the default is an ensemble.</summary>
        public const long DefaultEnsembleMaxRows = 4_000;

        /// <summary>The members of the default ensemble.</summary>
        public const int DefaultEnsembleMembers = 5;

        /// <summary>
        /// Networks averaged by data size: 5 up to <see cref="DefaultEnsembleMaxRows"/> training rows, where a seed alone moves
        /// a single network's held-out metric by hundredths and a network trains in a few seconds; 1 above (docs/ensembles.md).
        /// </summary>
        public static int DefaultEnsembleSize(long trainingRows) => trainingRows <= DefaultEnsembleMaxRows ? DefaultEnsembleMembers : 1;

        /// <summary>Rows per step by data size: 256, or all the rows when there are fewer.</summary>
        public static int DefaultBatchSize(long trainingRows) => (int)Math.Clamp(trainingRows, 1, 256);

        /// <summary>The optimizer steps the default epochs aim at (docs/ablation.md: large sets converge within them, small sets keep gaining up to them).</summary>
        public const int DefaultStepBudget = 1024;

        /// <summary>The fewest and the most epochs the default gives.</summary>
        public const int MinimumDefaultEpochs = 4, MaximumDefaultEpochs = 256;

        /// <summary>
        /// Epochs by data size: enough for <paramref name="stepBudget"/> optimizer steps, between 4 and 256 (RealMLP's
        /// count). 1,000 rows in batches of 256 get 256 epochs; 35,000 rows get 8; 130,000 rows get 4.
        /// </summary>
        public static int DefaultEpochs(long trainingRows, int batchSize, bool dropLastPartialBatch, int stepBudget = DefaultStepBudget)
        {
            long steps = Math.Max(1, dropLastPartialBatch ? trainingRows / batchSize : (trainingRows + batchSize - 1) / batchSize);
            return (int)Math.Clamp((stepBudget + steps - 1) / steps, MinimumDefaultEpochs, MaximumDefaultEpochs);
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Architecture}, {FeatureScaling}, {(PiecewiseLinearBins > 0 ? $"piecewise-linear encodings of {PiecewiseLinearBins} bins, " : "")}embeddings {EmbeddingFrequencies}, hidden {string.Join("-", HiddenLayerSizes)} {Activation}, " +
            $"Adam(β2 {AdamBeta2}) at {LearningRate} {Schedule}, batch {BatchSize}{(DropLastPartialBatch ? " (last partial dropped)" : "")}, {Epochs} epochs of {TrainingRows} rows, " +
            $"hold-out {ValidationFraction}, best epoch by {EpochSelection}, label smoothing {LabelSmoothing}{(EnsembleSize > 1 ? $", an ensemble of {EnsembleSize} networks" : "")}");
    }
}
