using System;
using Microsoft.ML.AutoClip;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// The part every AutoClipNet trainer shares: it reads the training data (schema checks, label
/// encoding, statistics, packing or streaming), builds the network, runs the training loop with
/// AutoClip in every step, and leaves to each task only what differs: the label's type, the
/// objective, the model and the prediction transformer. Create the trainers from the catalogs:
/// <c>mlContext.Regression.Trainers.AutoClipNet</c>, <c>mlContext.BinaryClassification.Trainers.AutoClipNet</c>,
/// <c>mlContext.MulticlassClassification.Trainers.AutoClipNet</c>.
/// </summary>
/// <typeparam name="TOptions">The task's options.</typeparam>
/// <typeparam name="TTransformer">The prediction transformer the trainer produces.</typeparam>
/// <typeparam name="TModel">The model parameters the trainer produces.</typeparam>
public abstract class AutoClipNetTrainerBase<TOptions, TTransformer, TModel> : TrainerEstimatorBase<TTransformer, TModel>
    where TOptions : AutoClipNetOptionsBase
    where TTransformer : ISingleFeaturePredictionTransformer<TModel>
    where TModel : class
{
    private protected AutoClipNetTrainerBase(IHostEnvironment env, string name, TOptions options, SchemaShape.Column label)
        : base(Contracts.CheckRef(env, nameof(env)).Register(name), TrainerUtils.MakeR4VecFeature(options.FeatureColumnName), label,
            TrainerUtils.MakeR4ScalarWeightColumn(options.ExampleWeightColumnName))
    {
        options.Validate();
        _options = Clone(options);
    }

    /// <summary>The options, copied when the trainer was created.</summary>
    private protected readonly TOptions _options;

    /// <summary>The options this trainer was created with (a copy).</summary>
    public TOptions TrainerOptions => Clone(_options);

    private protected abstract TOptions Clone(TOptions options);

    /// <inheritdoc/>
    public override TrainerInfo Info { get; } = new TrainerInfo(normalization: false, caching: false, supportIncrementalTrain: true, supportValid: true);

    /// <summary>Trains on <paramref name="trainData"/>, measuring validation loss on <paramref name="validationData"/> after every epoch (early stopping per the options).</summary>
    public TTransformer Fit(IDataView trainData, IDataView validationData) => TrainTransformer(trainData, validationData);

    /// <summary>
    /// Continues training <paramref name="modelParameters"/> (a model of this task, for example <c>transformer.Model</c> of an
    /// earlier fit or of a loaded model) on <paramref name="trainData"/> for the options' epochs (warm start). The network
    /// continues from its weights, with its own feature preprocessing (missing-value fills, feature scaling, encodings) and label
    /// encoding, and AutoClip from its saved history when the model kept one (<see cref="AutoClipNetHistoryDetail.EveryStep"/>;
    /// otherwise AutoClip starts a new history, as the log says). The optimizer's moments and the learning-rate schedule start
    /// anew (a model does not store them); the calibration and the prediction interval are fitted again on the new hold-out.
    /// Options that shape a new network (HiddenLayerSizes, EnsembleSize) must match the model's or be left unset.
    /// </summary>
    public TTransformer Fit(IDataView trainData, TModel modelParameters)
    {
        ArgumentNullException.ThrowIfNull(modelParameters);
        return TrainTransformer(trainData, initPredictor: (IPredictor)modelParameters);
    }

    /// <summary>Continues training <paramref name="modelParameters"/> (see <see cref="Fit(IDataView, TModel)"/>), validating on <paramref name="validationData"/>.</summary>
    public TTransformer Fit(IDataView trainData, IDataView validationData, TModel modelParameters)
    {
        ArgumentNullException.ThrowIfNull(modelParameters);
        return TrainTransformer(trainData, validationData, (IPredictor)modelParameters);
    }

    /// <summary>The task: its label, objective, recipe defaults and head (Tasks/).</summary>
    private protected abstract AutoClipNetTask Task { get; }

    /// <summary>
    /// The model from what training produced: <paramref name="head"/> turns the network's raw outputs into the task's score;
    /// <paramref name="validation"/> holds, for each member of an ensemble (or the single network), its trained network and
    /// the rows it was validated on (binary calibration fits on them).
    /// </summary>
    private protected abstract TModel CreateModel(TrainingResult result, ScoreHead head,
        IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> validation, Recipe recipe, ITrainingMonitor monitor);

    /// <inheritdoc/>
    protected override void CheckLabelCompatible(SchemaShape.Column labelCol)
    {
        bool ok = Task.Label switch
        {
            LabelKind.Single => labelCol.Kind == SchemaShape.Column.VectorKind.Scalar && labelCol.ItemType == NumberDataViewType.Single,
            LabelKind.Boolean => labelCol.Kind == SchemaShape.Column.VectorKind.Scalar && labelCol.ItemType == BooleanDataViewType.Instance,
            _ => labelCol.Kind == SchemaShape.Column.VectorKind.Scalar && labelCol.IsKey,
        };
        if (!ok)
        {
            throw new ArgumentOutOfRangeException(nameof(labelCol), labelCol.GetTypeString(),
                DataViewRowSource.WrongLabelType(labelCol.Name, labelCol.GetTypeString(), Task.Label, labelCol.ItemType is TextDataViewType, labelCol.IsKey, null));
        }
    }

    /// <inheritdoc/>
    protected override TModel TrainModelCore(TrainContext context)
    {
        using var channel = Host.Start("Training AutoClipNet");
        var monitor = new ChannelMonitor(Host, channel);
        var options = _options;
        var task = Task;
        int seed = options.Seed ?? Host.Rand.Next();

        // A warm start continues the model's network: its preprocessing decides whether NaN features are accepted.
        var start = context.InitialPredictor is null ? null : Continuable(context.InitialPredictor);
        bool missingFeatures = start is null ? options.MissingValues != AutoClipNetMissingValues.Error : start.Network.Layers.Any(l => l is MissingValuesLayer);

        // What the hold-out and the statistics need is known before the rows are read; the rest of the recipe depends on their number.
        var plan = Recipe.Plan(options, task);
        var source = new DataViewRowSource(Host, context.TrainingSet.Data, options.FeatureColumnName, options.LabelColumnName, task.Label,
            options.DropNonFiniteRows, "training data", options.ExampleWeightColumnName, missingFeatures);
        if (start is not null)
        {
            CheckContinuable(start, task, source.FeatureCount, options, monitor);
            if (context.ValidationSet is null)
            {
                monitor.Warning("Continuing a model with a hold-out of the training data: if the model trained on these rows, the hold-out holds rows it has " +
                    "seen, which flatters it as epoch 0 and narrows the calibration and the interval. Give a validation set of new rows, or the first fit's Seed on the same data.");
            }
        }
        int classCount = source.ClassCount;
        var train = TrainingSet.Read(source,
            new TrainingSetOptions(options.MaxRowsInMemory, context.ValidationSet is null ? plan.ValidationFraction : 0, seed, classCount,
                SampleQuantiles: plan.SampleQuantiles, KeepPositions: plan.MayBeEnsemble || start?.Network.EnsembleSize > 1),
            "training data");
        if (train.DroppedRows > 0)
        {
            monitor.Warning($"Skipped {train.DroppedRows} training rows with a value the trainer cannot use: an infinite feature, a missing label or weight{(options.MissingValues == AutoClipNetMissingValues.Error ? ", a NaN feature" : "")} (DropNonFiniteRows).");
        }
        if (source.ZeroWeightRows > 0)
        {
            channel.Info($"Skipped {source.ZeroWeightRows} training rows of weight 0 in '{options.ExampleWeightColumnName}'.");
        }
        TrainingSet? validation = null;
        if (context.ValidationSet is not null)
        {
            // The validation set's weights weigh the validation loss when it has the weight column (ML.NET's weight role is the training set's).
            string? validationWeights = options.ExampleWeightColumnName is { } weights && context.ValidationSet.Data.Schema.GetColumnOrNull(weights) is not null ? weights : null;
            var validationSource = new DataViewRowSource(Host, context.ValidationSet.Data, options.FeatureColumnName, options.LabelColumnName, task.Label,
                options.DropNonFiniteRows, "validation data", validationWeights, missingFeatures);
            if (validationSource.FeatureCount != source.FeatureCount)
            {
                throw new ArgumentOutOfRangeException("validationData", validationSource.FeatureCount,
                    $"The validation data has {validationSource.FeatureCount} features in '{options.FeatureColumnName}'; the training data has {source.FeatureCount}.");
            }
            if (validationSource.ClassCount != classCount)
            {
                throw new ArgumentOutOfRangeException("validationData", validationSource.ClassCount,
                    $"The validation data's label '{options.LabelColumnName}' has {validationSource.ClassCount} classes; the training data's has {classCount}. Map both with the same MapValueToKey transformer.");
            }
            validation = TrainingSet.Read(validationSource, new TrainingSetOptions(options.MaxRowsInMemory, 0, seed, classCount, SampleQuantiles: false), "validation data");
        }
        task.CheckTrainingRows(train, classCount, options.LabelColumnName, monitor);
        ReportMissingValues(train, options, monitor);

        var recipe = Recipe.Resolve(options, task, train.TrainingRows);
        if (start is not null)
        {
            recipe = recipe with { EnsembleSize = start.Network.EnsembleSize };
        }
        channel.Info($"Recipe: {recipe}.");
        Objective NewObjective() => start is null ? task.CreateObjective(train, classCount, recipe) : task.ContinueObjective(start.Head, train, classCount, recipe);
        using var objective = NewObjective();
        if (start is not null && start.Network.OutputSize != objective.OutputCount)
        {
            throw new ArgumentOutOfRangeException("trainData", classCount,
                $"The model to continue was trained on {start.Network.OutputSize} classes; the label '{options.LabelColumnName}' of the data has {classCount}. Map the label with the model's MapValueToKey transformer.");
        }
        var clipState = start is null ? null : ResumedClipState(start, recipe, monitor);
        // The model continued keeps its own layers: training works on a copy (what a later step frees is not the caller's).
        using var startNetwork = start?.Network.Copy();
        var result = Ensembles.Train(recipe, seed, train, validation, objective, NewObjective, monitor, out var validations, startNetwork, clipState);
        var head = start is null ? task.CreateHead(objective, train, recipe, objective.OutputCount) : task.ContinueHead(start.Head, objective, train, recipe, objective.OutputCount);
        // Calibration and intervals score the validation rows: with one LibTorch thread, as the members trained (Ensembles.WithOneThread).
        return Ensembles.WithOneThread(() => CreateModel(result, head, validations, recipe, monitor));
    }

    /// <summary>The AutoClipNet model inside what ML.NET passes as the initial predictor (the binary trainer's is calibrated).</summary>
    private static IContinuableModel Continuable(IPredictor predictor) => predictor switch
    {
        IContinuableModel model => model,
        Calibrators.CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, Calibrators.PlattCalibrator> calibrated => calibrated.SubModel,
        _ => throw new ArgumentException($"AutoClipNet continues AutoClipNet models only, not {predictor.GetType().Name}.", "modelParameters"),
    };

    /// <summary>The model can continue on these rows with these options: the same features, a network that trains, options that agree with it.</summary>
    private static void CheckContinuable(IContinuableModel start, AutoClipNetTask task, int featureCount, TOptions options, ITrainingMonitor monitor)
    {
        var network = start.Network;
        if (!task.OwnsHead(start.Head))
        {
            throw new ArgumentException($"The model to continue is not a {task.Name} model; a {task.Name} trainer continues {task.Name} models only.", "modelParameters");
        }
        if (network.Layers.Any(l => l is Model.Legacy.Format11Layer))
        {
            throw new NotSupportedException("The model to continue was saved in format 1.1, whose network cannot be trained further. Train a new model.");
        }
        if (network.InputSize != featureCount)
        {
            throw new ArgumentOutOfRangeException("trainData", featureCount,
                $"The model to continue was trained on {network.InputSize} features in '{options.FeatureColumnName}'; the data has {featureCount}. Featurize it with the model's pipeline.");
        }
        if (options.EnsembleSize is { } members && members != network.EnsembleSize)
        {
            throw new ArgumentOutOfRangeException(nameof(options.EnsembleSize), members,
                $"The model to continue is an ensemble of {network.EnsembleSize}; EnsembleSize asks for {members}. Leave it unset to continue the model's members.");
        }
        var first = Ensembles.Split(network)[0];
        var hidden = first.Layers.OfType<DenseLayer>().SkipLast(1).Select(d => d.OutputSize).ToArray();
        if (options.HiddenLayerSizes is { } sizes && !sizes.SequenceEqual(hidden))
        {
            throw new ArgumentOutOfRangeException(nameof(options.HiddenLayerSizes), $"{{{string.Join(", ", sizes)}}}",
                $"The model to continue has hidden layers {{{string.Join(", ", hidden)}}}; HiddenLayerSizes asks for {{{string.Join(", ", sizes)}}}. Leave it unset to continue the model's network.");
        }
        var unused = new List<string>();
        if (options.FeatureScaling is not null) unused.Add(nameof(options.FeatureScaling));
        if (options.EmbeddingFrequencies is not null) unused.Add(nameof(options.EmbeddingFrequencies));
        if (options.PiecewiseLinearBins is not null) unused.Add(nameof(options.PiecewiseLinearBins));
        if (options.Activation is not null) unused.Add(nameof(options.Activation));
        if (unused.Count > 0)
        {
            monitor.Warning($"Continuing a model: its network keeps its own layers; {string.Join(", ", unused)} {(unused.Count == 1 ? "is" : "are")} not used.");
        }
    }

    /// <summary>The model's AutoClip state when it kept one and the options clip the same way; otherwise null (a new history), said in the log.</summary>
    private static AutoClipperState? ResumedClipState(IContinuableModel start, Recipe recipe, ITrainingMonitor monitor)
    {
        if (recipe.Clipping != AutoClipNetClipping.AutoClip)
        {
            return null;
        }
        var state = start.AutoClipState;
        if (state is null)
        {
            monitor.Info("Continuing a model that kept no AutoClip state (HistoryDetail was not EveryStep): AutoClip starts a new history of gradient norms.");
            return null;
        }
        var kept = state.Options;
        var now = recipe.AutoClip;
        if (kept.Percentile != now.Percentile || kept.HistoryWindow != now.HistoryWindow || kept.Scope != now.Scope || kept.WarmupSteps != now.WarmupSteps
            || kept.NonFiniteGradients != now.NonFiniteGradients)
        {
            monitor.Warning($"Continuing a model whose AutoClip ran with {kept}; the options ask for {now}: AutoClip starts a new history of gradient norms.");
            return null;
        }
        monitor.Info(string.Format(System.Globalization.CultureInfo.InvariantCulture,
            "Continuing the model's AutoClip history: {0} gradient norms, threshold {1:G5}{2}.", state.RecordedSteps, state.Threshold,
            start.Network.EnsembleSize > 1 ? " (the first member's, the one the model kept, for every member)" : ""));
        return state;
    }

    /// <summary>Says which features had missing values in the training rows, and warns about a feature that never had a value.</summary>
    private static void ReportMissingValues(TrainingSet train, TOptions options, ITrainingMonitor monitor)
    {
        var features = train.Features;
        var missing = Enumerable.Range(0, features.FeatureCount).Where(j => features.MissingCount(j) > 0).ToArray();
        if (missing.Length == 0)
        {
            return;
        }
        var empty = missing.Where(j => features.MissingCount(j) == features.Count).ToArray();
        monitor.Info($"{missing.Length} of the {features.FeatureCount} slots of '{options.FeatureColumnName}' have missing values (NaN) in the training rows " +
            $"({string.Join(", ", missing.Take(10).Select(j => $"slot {j}: {features.MissingCount(j)}"))}{(missing.Length > 10 ? ", ..." : "")}): " +
            (options.MissingValues == AutoClipNetMissingValues.FillAndIndicate ? "each is filled and gains an indicator." : "each is filled."));
        if (empty.Length > 0)
        {
            monitor.Warning($"{empty.Length} slot{(empty.Length == 1 ? "" : "s")} of '{options.FeatureColumnName}' ha{(empty.Length == 1 ? "s" : "ve")} no value in any training row " +
                $"({string.Join(", ", empty.Take(10).Select(j => $"slot {j}"))}{(empty.Length > 10 ? ", ..." : "")}): filled with 0, they carry nothing but whether they are missing.");
        }
    }

    /// <summary>Training's progress into the ML.NET channel, and ML.NET's cancellation into training.</summary>
    private sealed class ChannelMonitor : ITrainingMonitor
    {
        private readonly IHost _host;
        private readonly IChannel _channel;

        public ChannelMonitor(IHost host, IChannel channel)
        {
            _host = host;
            _channel = channel;
        }

        public void Info(string message) => _channel.Info(message);

        public void Warning(string message) => _channel.Warning(message);

        public void CheckAlive() => _host.CheckAlive();
    }
}
