using System.Collections.Generic;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// AutoClipNet for regression: an ML.NET trainer that trains a TorchSharp network with AutoClip
/// (adaptive gradient clipping, Seetharaman et al., MLSP 2020) in every training step. Create it with
/// <c>mlContext.Regression.Trainers.AutoClipNet(...)</c>. (The regression trainer kept the name it had
/// before the classification trainers, <see cref="AutoClipNetBinaryTrainer"/> and
/// <see cref="AutoClipNetMulticlassTrainer"/>, joined it.)
/// </summary>
/// <remarks>
/// Features are scaled (robust scaling with smooth clipping by default) and the label standardized inside the trainer (the
/// statistics are saved with the model), so the defaults work on ordinary tabular data without a normalizer in the pipeline.
/// Training with the same data, options and seed gives bit-identical weights and predictions on CPU.
/// </remarks>
public sealed class AutoClipNetTrainer : AutoClipNetTrainerBase<AutoClipNetTrainer.Options, AutoClipNetPredictionTransformer, AutoClipNetModelParameters>
{
    internal const string LoadName = "AutoClipNet";

    internal AutoClipNetTrainer(IHostEnvironment env, Options options)
        : base(env, LoadName, options, TrainerUtils.MakeR4ScalarColumn(options.LabelColumnName))
    {
    }

    /// <summary>The options of <see cref="AutoClipNetTrainer"/>: the shared ones and the label's standardization.</summary>
    public sealed class Options : AutoClipNetOptionsBase
    {
        /// <summary>Standardize the label inside the trainer; predictions are mapped back. Default true.</summary>
        public bool StandardizeLabel = true;

        /// <summary>Clip predictions to the range of the training labels. Default null: the recipe's (clipped for RealMlp, not for Mlp).</summary>
        public bool? ClampPredictions;

        private protected override string OptionsName => "AutoClipNetTrainer.Options";

        internal override Recipe ApplyTaskOptions(Recipe recipe) => recipe with { StandardizeLabel = StandardizeLabel, ClampPredictions = ClampPredictions ?? recipe.ClampPredictions };

        internal Options Clone() => (Options)CloneBase();
    }

    private protected override Options Clone(Options options) => options.Clone();

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.Regression;

    /// <inheritdoc/>
    protected override SchemaShape.Column[] GetOutputColumnsCore(SchemaShape inputSchema) => new[]
    {
        new SchemaShape.Column(DefaultColumnNames.Score, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false,
            new SchemaShape(AnnotationUtils.GetTrainerOutputAnnotation())),
    };

    private protected override AutoClipNetTask Task => RegressionTask.Instance;

    private protected override AutoClipNetModelParameters CreateModel(TrainingResult result, ScoreHead head,
        IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> validation, Recipe recipe, ITrainingMonitor monitor)
        => new(Host, result.Network, (RegressionHead)head, result.AutoClipState, result.MemberHistories);

    /// <inheritdoc/>
    protected override AutoClipNetPredictionTransformer MakeTransformer(AutoClipNetModelParameters model, DataViewSchema trainSchema)
        => new(Host, model, trainSchema, FeatureColumn.Name);
}
