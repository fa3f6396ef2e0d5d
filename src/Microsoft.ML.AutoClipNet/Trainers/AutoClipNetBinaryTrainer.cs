using System;
using Microsoft.ML.AutoClipNet.Data;
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
/// logit), <c>Probability</c> (sigmoid of the logit, through a fixed Platt calibrator of slope −1: the
/// network was trained to give this probability) and <c>PredictedLabel</c> (Score &gt; 0).
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

        private protected override string OptionsName => "AutoClipNetBinaryTrainer.Options";

        /// <inheritdoc/>
        public override void Validate()
        {
            base.Validate();
            Check(PositiveClassWeight > 0 && double.IsFinite(PositiveClassWeight), nameof(PositiveClassWeight), PositiveClassWeight, "a positive number");
        }

        internal Options Clone() => (Options)CloneBase();
    }

    private protected override Options Clone(Options options) => options.Clone();

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.BinaryClassification;

    private protected override LabelKind LabelKind => LabelKind.Boolean;

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

    private protected override Objective CreateObjective(TrainingSet train, int classCount) => new BinaryObjective(_options.PositiveClassWeight);

    private protected override void CheckTrainingRows(TrainingSet train, int classCount, ITrainingMonitor monitor)
    {
        long positives = (long)Math.Round(train.Label.Mean * train.Label.Count);
        if (positives == 0 || positives == train.Label.Count)
        {
            monitor.Warning($"Every one of the {train.Label.Count} training rows has the label {(positives == 0 ? "false" : "true")}: the model can only learn to predict it.");
        }
    }

    private protected override CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator> CreateModel(TrainingResult result, Objective objective)
    {
        var network = new AutoClipNetBinaryModelParameters(Host, result.Network, result.AutoClipState, result.History);
        // Platt with slope −1 and offset 0 is exactly sigmoid(Score): the probability the network was trained for.
        return new ValueMapperCalibratedModelParameters<AutoClipNetBinaryModelParameters, PlattCalibrator>(Host, network, new PlattCalibrator(Host, -1, 0));
    }

    /// <inheritdoc/>
    protected override BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>> MakeTransformer(
        CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator> model, DataViewSchema trainSchema)
        => new(Host, model, trainSchema, FeatureColumn.Name);
}
