using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClip;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// AutoClipNet: an ML.NET regression trainer that trains a fully connected TorchSharp network with
/// AutoClip (adaptive gradient clipping, Seetharaman et al., MLSP 2020) in every training step.
/// Create it with <c>mlContext.Regression.Trainers.AutoClipNet(...)</c>.
/// </summary>
/// <remarks>
/// Features and label are standardized inside the trainer (the statistics are saved with the model),
/// so the defaults work on ordinary tabular data without a normalizer in the pipeline. Training with
/// the same data, options and seed gives bit-identical weights on CPU.
/// </remarks>
public sealed partial class AutoClipNetTrainer : TrainerEstimatorBase<AutoClipNetPredictionTransformer, AutoClipNetModelParameters>
{
    internal const string LoadName = "AutoClipNet";

    private readonly Options _options;

    internal AutoClipNetTrainer(IHostEnvironment env, Options options)
        : base(Contracts.CheckRef(env, nameof(env)).Register(LoadName),
               TrainerUtils.MakeR4VecFeature((options ?? throw new ArgumentNullException(nameof(options))).FeatureColumnName),
               TrainerUtils.MakeR4ScalarColumn(options.LabelColumnName))
    {
        options.Validate();
        _options = options.Clone();
    }

    /// <summary>The options this trainer was created with (a copy).</summary>
    public Options TrainerOptions => _options.Clone();

    /// <inheritdoc/>
    public override TrainerInfo Info { get; } = new TrainerInfo(normalization: false, caching: false, supportValid: true);

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.Regression;

    /// <summary>Trains on <paramref name="trainData"/>, measuring validation loss on <paramref name="validationData"/> after every epoch (early stopping per the options).</summary>
    public AutoClipNetPredictionTransformer Fit(IDataView trainData, IDataView validationData)
        => TrainTransformer(trainData, validationData);

    /// <inheritdoc/>
    protected override SchemaShape.Column[] GetOutputColumnsCore(SchemaShape inputSchema) => new[]
    {
        new SchemaShape.Column(DefaultColumnNames.Score, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false,
            new SchemaShape(AnnotationUtils.GetTrainerOutputAnnotation())),
    };

    /// <inheritdoc/>
    protected override void CheckLabelCompatible(SchemaShape.Column labelCol)
    {
        if (labelCol.Kind != SchemaShape.Column.VectorKind.Scalar || labelCol.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentOutOfRangeException(nameof(labelCol), labelCol.GetTypeString(),
                $"The label column '{LabelColumn.Name}' must be Single, but is {labelCol.GetTypeString()}. Convert it with mlContext.Transforms.Conversion.ConvertType.");
        }
    }

    /// <inheritdoc/>
    protected override AutoClipNetPredictionTransformer MakeTransformer(AutoClipNetModelParameters model, DataViewSchema trainSchema)
        => new(Host, model, trainSchema, FeatureColumn.Name);

    /// <inheritdoc/>
    protected override AutoClipNetModelParameters TrainModelCore(TrainContext context)
    {
        using var channel = Host.Start("Training AutoClipNet");
        var train = TrainingData.Read(Host, context.TrainingSet.Data, _options.FeatureColumnName, _options.LabelColumnName,
            _options.DropNonFiniteRows, _options.MaxRowsInMemory, "training data");
        if (train.DroppedRows > 0)
        {
            channel.Warning("Skipped {0} training rows with NaN or infinite values (DropNonFiniteRows).", train.DroppedRows);
        }
        TrainingData? validation = null;
        if (context.ValidationSet is not null)
        {
            validation = TrainingData.Read(Host, context.ValidationSet.Data, _options.FeatureColumnName, _options.LabelColumnName,
                _options.DropNonFiniteRows, int.MaxValue, "validation data");
            if (validation.FeatureCount != train.FeatureCount)
            {
                throw new ArgumentOutOfRangeException("validationData", validation.FeatureCount,
                    $"The validation data has {validation.FeatureCount} features in '{_options.FeatureColumnName}'; the training data has {train.FeatureCount}.");
            }
        }
        int seed = _options.Seed ?? Host.Rand.Next();
        using var run = new TrainingRun(Host, channel, _options, train, validation, seed);
        return run.Train();
    }
}
