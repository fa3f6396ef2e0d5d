using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// AutoClipNet for multiclass classification: a TorchSharp network trained with AutoClip in every
/// step, on softmax cross-entropy. Create it with <c>mlContext.MulticlassClassification.Trainers.AutoClipNet(...)</c>.
/// </summary>
/// <remarks>
/// The label is a key (<c>mlContext.Transforms.Conversion.MapValueToKey</c>). Outputs are ML.NET's:
/// <c>Score</c>, the probability of every class (with the label's values as slot names), and
/// <c>PredictedLabel</c>, the most probable class as a key carrying the label's key values, so
/// <c>MapKeyToValue("PredictedLabel")</c> gives the class names back.
/// </remarks>
public sealed class AutoClipNetMulticlassTrainer : AutoClipNetTrainerBase<AutoClipNetMulticlassTrainer.Options,
    MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters>, AutoClipNetMulticlassModelParameters>
{
    internal const string LoadName = "AutoClipNetMulticlass";

    internal AutoClipNetMulticlassTrainer(IHostEnvironment env, Options options)
        : base(env, LoadName, options, TrainerUtils.MakeU4ScalarColumn(options.LabelColumnName))
    {
    }

    /// <summary>The options of <see cref="AutoClipNetMulticlassTrainer"/>: the shared ones and label smoothing.</summary>
    public sealed class Options : AutoClipNetOptionsBase
    {
        /// <summary>
        /// Label smoothing ε, 0 ≤ ε &lt; 1: the training target puts 1 − ε on the row's class and spreads ε
        /// over all classes. Default null: the recipe's (RealMlp smooths multiclass labels, Mlp does not).
        /// </summary>
        public double? LabelSmoothing;

        /// <summary>
        /// Fit the probabilities on the validation rows (the hold-out, or the validation set given to Fit): Score =
        /// softmax(s·z) with the s &gt; 0 that minimises their log-loss (temperature scaling, as the binary trainer's). The most
        /// probable class never changes. Default true; with false, or with no validation rows, Score = softmax(z).
        /// </summary>
        public bool CalibrateProbabilities = true;

        private protected override string OptionsName => "AutoClipNetMulticlassTrainer.Options";

        /// <inheritdoc/>
        public override void Validate()
        {
            base.Validate();
            Check(LabelSmoothing is null || (LabelSmoothing >= 0 && LabelSmoothing < 1), nameof(LabelSmoothing), LabelSmoothing, "null or in [0, 1)");
        }

        internal override Recipe ApplyTaskOptions(Recipe recipe) => recipe with
        {
            LabelSmoothing = LabelSmoothing ?? recipe.LabelSmoothing,
            CalibrateProbabilities = CalibrateProbabilities,
        };

        internal Options Clone() => (Options)CloneBase();
    }

    private protected override Options Clone(Options options) => options.Clone();

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.MulticlassClassification;

    /// <inheritdoc/>
    protected override SchemaShape.Column[] GetOutputColumnsCore(SchemaShape inputSchema)
    {
        if (!inputSchema.TryFindColumn(LabelColumn.Name, out var labelCol))
        {
            throw new ArgumentOutOfRangeException(nameof(inputSchema), LabelColumn.Name, $"The data has no label column '{LabelColumn.Name}'.");
        }
        var predictedLabelAnnotations = new SchemaShape(labelCol.Annotations.Where(x => x.Name == AnnotationUtils.Kinds.KeyValues)
            .Concat(AnnotationUtils.GetTrainerOutputAnnotation()));
        return new[]
        {
            new SchemaShape.Column(DefaultColumnNames.Score, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false,
                new SchemaShape(AnnotationUtils.AnnotationsForMulticlassScoreColumn(labelCol))),
            new SchemaShape.Column(DefaultColumnNames.PredictedLabel, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true, predictedLabelAnnotations),
        };
    }

    private protected override AutoClipNetTask Task => MulticlassTask.Instance;

    private protected override AutoClipNetMulticlassModelParameters CreateModel(TrainingResult result, ScoreHead head,
        IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> validation, Recipe recipe, ITrainingMonitor monitor)
    {
        // Temperature scaling on the validation rows (out of fold for an ensemble's members), as the binary trainer calibrates:
        // Score = softmax(s·z). Label smoothing caps the network's confidence by design (the true class's target is 1 − ε + ε/K);
        // s > 1 lifts the cap where the held-out rows say the model is right that often.
        var multiclass = (MulticlassHead)head;
        if (recipe.CalibrateProbabilities && validation.Any(v => v.Rows.Count > 0))
        {
            var rows = TemperatureScaling.OutOfFold(validation, AutoClipNetBinaryTrainer.MaxCalibrationRows);
            double slope = TemperatureScaling.FitSoftmaxSlope(rows.Outputs, rows.Classes, rows.Labels, rows.Weights);
            multiclass = new MulticlassHead(multiclass.ClassCount, multiclass.Outputs, (float)slope);
            monitor.Info(string.Format(System.Globalization.CultureInfo.InvariantCulture,
                "Score = softmax({0:G4} × the network's outputs), fitted on {1} validation rows (temperature scaling): their log-loss {2:G4} → {3:G4}.",
                multiclass.Slope, rows.Count, TemperatureScaling.SoftmaxLogLoss(rows.Outputs, rows.Classes, rows.Labels, 1, rows.Weights),
                TemperatureScaling.SoftmaxLogLoss(rows.Outputs, rows.Classes, rows.Labels, multiclass.Slope, rows.Weights)));
        }
        return new(Host, result.Network, multiclass, result.AutoClipState, result.MemberHistories);
    }

    /// <inheritdoc/>
    protected override MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters> MakeTransformer(AutoClipNetMulticlassModelParameters model, DataViewSchema trainSchema)
        => new(Host, model, trainSchema, FeatureColumn.Name, LabelColumn.Name);
}
