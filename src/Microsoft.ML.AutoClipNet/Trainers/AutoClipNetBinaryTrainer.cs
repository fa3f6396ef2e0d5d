using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// AutoClipNet for binary classification: a TorchSharp network trained with AutoClip in every step,
/// on binary cross-entropy of its logit. Create it with <c>mlContext.BinaryClassification.Trainers.AutoClipNet(...)</c>.
/// </summary>
/// <remarks>
/// The label is Boolean. Outputs are the ones of ML.NET's calibrated binary trainers: <c>Score</c> (the
/// logit), <c>Probability</c> (sigmoid of s × the logit, through a Platt calibrator of slope −s, where s is
/// fitted on the validation rows unless <see cref="Options.CalibrateProbabilities"/> is off) and
/// <c>PredictedLabel</c> (Score &gt; 0).
/// </remarks>
public sealed class AutoClipNetBinaryTrainer : AutoClipNetTrainerBase<AutoClipNetBinaryTrainer.Options,
    BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>>,
    CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>>
{
    internal const string LoadName = "AutoClipNetBinary";

    internal AutoClipNetBinaryTrainer(IHostEnvironment env, Options options)
        : base(env, LoadName, options, TrainerUtils.MakeBoolScalarLabel(options.LabelColumnName))
    {
    }

    /// <summary>The options of <see cref="AutoClipNetBinaryTrainer"/>: the shared ones and the weight of the positive class.</summary>
    public sealed class Options : AutoClipNetOptionsBase
    {
        /// <summary>
        /// The weight of a positive (true) row's loss relative to a negative one, &gt; 0. Default 1. A value
        /// above 1 trades precision for recall on an imbalanced set (about negatives/positives balances
        /// them), but the probabilities are then no longer calibrated.
        /// </summary>
        public double PositiveClassWeight = 1.0;

        /// <summary>
        /// Label smoothing ε, 0 ≤ ε &lt; 1: the training target of a row is 1 − ε/2 or ε/2 instead of 1 or 0. Default null: none
        /// (log-loss-calibrated probabilities).
        /// </summary>
        public double? LabelSmoothing;

        /// <summary>
        /// Fit the probabilities on the validation rows (the hold-out, or the validation set given to Fit): Probability =
        /// sigmoid(s·Score) with the s > 0 that minimises their log-loss (temperature scaling). Score and PredictedLabel do
        /// not change. Default true; with false, or with no validation rows, Probability = sigmoid(Score).
        /// </summary>
        public bool CalibrateProbabilities = true;

        private protected override string OptionsName => "AutoClipNetBinaryTrainer.Options";

        /// <inheritdoc/>
        public override void Validate()
        {
            base.Validate();
            Check(PositiveClassWeight > 0 && double.IsFinite(PositiveClassWeight), nameof(PositiveClassWeight), PositiveClassWeight, "a positive number");
            Check(LabelSmoothing is null || (LabelSmoothing >= 0 && LabelSmoothing < 1), nameof(LabelSmoothing), LabelSmoothing, "null or in [0, 1)");
        }

        internal override Recipe ApplyTaskOptions(Recipe recipe) => recipe with
        {
            PositiveClassWeight = PositiveClassWeight,
            LabelSmoothing = LabelSmoothing ?? recipe.LabelSmoothing,
            CalibrateProbabilities = CalibrateProbabilities,
        };

        internal Options Clone() => (Options)CloneBase();
    }

    private protected override Options Clone(Options options) => options.Clone();

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.BinaryClassification;

    /// <inheritdoc/>
    protected override SchemaShape.Column[] GetOutputColumnsCore(SchemaShape inputSchema) => new[]
    {
        new SchemaShape.Column(DefaultColumnNames.Score, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false,
            new SchemaShape(AnnotationUtils.GetTrainerOutputAnnotation())),
        new SchemaShape.Column(DefaultColumnNames.Probability, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false,
            new SchemaShape(AnnotationUtils.GetTrainerOutputAnnotation(true))),
        new SchemaShape.Column(DefaultColumnNames.PredictedLabel, SchemaShape.Column.VectorKind.Scalar, BooleanDataViewType.Instance, false,
            new SchemaShape(AnnotationUtils.GetTrainerOutputAnnotation())),
    };

    private protected override AutoClipNetTask Task => BinaryTask.Instance;

    /// <summary>The most validation rows the calibration scores.</summary>
    internal const int MaxCalibrationRows = 1 << 18;

    private protected override CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator> CreateModel(TrainingResult result, ScoreHead head,
        IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> validation, Recipe recipe, ITrainingMonitor monitor)
    {
        var network = new AutoClipNetBinaryModelParameters(Host, result.Network, result.AutoClipState, result.MemberHistories);
        // Platt with offset 0 and slope −s is sigmoid(s·Score): s = 1 is the probability the network was trained for;
        // temperature scaling fits s on the validation rows, which leaves Score and PredictedLabel (Score > 0) as they are.
        // An ensemble's members each score the rows they held out (out-of-fold logits), or share an explicit validation set.
        double slope = 1;
        if (recipe.CalibrateProbabilities && validation.Any(v => v.Rows.Count > 0))
        {
            var rows = TemperatureScaling.OutOfFold(validation, MaxCalibrationRows);
            slope = TemperatureScaling.FitSlope(rows.Outputs, rows.Labels, rows.Weights);
            monitor.Info(string.Format(System.Globalization.CultureInfo.InvariantCulture,
                "Probability = sigmoid({0:G4} × Score), fitted on {1} validation rows (temperature scaling): their log-loss {2:G4} → {3:G4}.",
                slope, rows.Count, TemperatureScaling.LogLoss(rows.Outputs, rows.Labels, 1, rows.Weights), TemperatureScaling.LogLoss(rows.Outputs, rows.Labels, slope, rows.Weights)));
        }
        return new ValueMapperCalibratedModelParameters<AutoClipNetBinaryModelParameters, PlattCalibrator>(Host, network, new PlattCalibrator(Host, -slope, 0));
    }

    /// <inheritdoc/>
    protected override BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>> MakeTransformer(
        CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator> model, DataViewSchema trainSchema)
        => new(Host, model, trainSchema, FeatureColumn.Name);
}
