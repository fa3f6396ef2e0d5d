using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
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
        : base(Contracts.CheckRef(env, nameof(env)).Register(name), TrainerUtils.MakeR4VecFeature(options.FeatureColumnName), label)
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
    public override TrainerInfo Info { get; } = new TrainerInfo(normalization: false, caching: false, supportValid: true);

    /// <summary>Trains on <paramref name="trainData"/>, measuring validation loss on <paramref name="validationData"/> after every epoch (early stopping per the options).</summary>
    public TTransformer Fit(IDataView trainData, IDataView validationData) => TrainTransformer(trainData, validationData);

    /// <summary>How this task stores its label.</summary>
    private protected abstract LabelKind LabelKind { get; }

    /// <summary>The task, as the recipe sees it.</summary>
    private protected abstract TrainingTask Task { get; }

    /// <summary>The objective for these training rows (<paramref name="classCount"/> from a key label, else 0).</summary>
    private protected abstract Objective CreateObjective(TrainingSet train, int classCount, Recipe recipe);

    /// <summary>Warnings about the training rows (a class with no rows).</summary>
    private protected virtual void CheckTrainingRows(TrainingSet train, int classCount, ITrainingMonitor monitor)
    {
    }

    /// <summary>The model from what training produced.</summary>
    /// <summary>
    /// The model from what training produced. <paramref name="validation"/> holds, for each member of an ensemble (or the
    /// single network), its trained network and the rows it was validated on.
    /// </summary>
    private protected abstract TModel CreateModel(TrainingResult result, Objective objective, TrainingSet train,
        IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> validation, Recipe recipe, ITrainingMonitor monitor);

    /// <inheritdoc/>
    protected override void CheckLabelCompatible(SchemaShape.Column labelCol)
    {
        bool ok = LabelKind switch
        {
            LabelKind.Single => labelCol.Kind == SchemaShape.Column.VectorKind.Scalar && labelCol.ItemType == NumberDataViewType.Single,
            LabelKind.Boolean => labelCol.Kind == SchemaShape.Column.VectorKind.Scalar && labelCol.ItemType == BooleanDataViewType.Instance,
            _ => labelCol.Kind == SchemaShape.Column.VectorKind.Scalar && labelCol.IsKey,
        };
        if (!ok)
        {
            throw new ArgumentOutOfRangeException(nameof(labelCol), labelCol.GetTypeString(),
                DataViewRowSource.WrongLabelType(labelCol.Name, labelCol.GetTypeString(), LabelKind, labelCol.ItemType is TextDataViewType, labelCol.IsKey, null));
        }
    }

    /// <inheritdoc/>
    protected override TModel TrainModelCore(TrainContext context)
    {
        using var channel = Host.Start("Training AutoClipNet");
        var monitor = new ChannelMonitor(Host, channel);
        var options = _options;
        int seed = options.Seed ?? Host.Rand.Next();

        var request = options.ToRequest();
        // What the hold-out and the statistics need is known before the rows are read; the rest of the recipe depends on their number.
        var prior = Recipe.Resolve(request, Task, trainingRows: 1);
        var source = new DataViewRowSource(Host, context.TrainingSet.Data, options.FeatureColumnName, options.LabelColumnName, LabelKind,
            options.DropNonFiniteRows, "training data");
        int classCount = source.ClassCount;
        var train = TrainingSet.Read(source,
            new TrainingSetOptions(options.MaxRowsInMemory, context.ValidationSet is null ? prior.ValidationFraction : 0, seed, classCount,
                SampleQuantiles: prior.FeatureScaling == AutoClipNetFeatureScaling.RobustSmoothClip, KeepPositions: prior.EnsembleSize != 1),
            "training data");
        if (train.DroppedRows > 0)
        {
            monitor.Warning($"Skipped {train.DroppedRows} training rows with a missing, NaN or infinite value (DropNonFiniteRows).");
        }
        TrainingSet? validation = null;
        if (context.ValidationSet is not null)
        {
            var validationSource = new DataViewRowSource(Host, context.ValidationSet.Data, options.FeatureColumnName, options.LabelColumnName, LabelKind,
                options.DropNonFiniteRows, "validation data");
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
        CheckTrainingRows(train, classCount, monitor);

        var recipe = Recipe.Resolve(request, Task, train.TrainingRows);
        channel.Info($"Recipe: {recipe}.");
        using var objective = CreateObjective(train, classCount, recipe);
        int members = recipe.EnsembleSize;
        // Every member's initial network first (they share the feature scaling, whose quartiles come from the sample).
        var initial = new NetworkDescription[members];
        for (int k = 0; k < members; k++)
        {
            initial[k] = NetworkBuilder.Build(recipe, train.Features, objective.OutputCount, new Random(Ensembles.MemberSeed(seed, k)));
        }
        train.Features.ReleaseSample();
        // With a hold-out, member k holds out the k-th of K slices of the rows; otherwise every member trains on every row.
        bool ownHoldOut = validation is null && train.ValidationRows > 0;
        var gate = new object();
        var validations = new (NetworkDescription Network, ValidationRows Rows)[members];
        var results = Ensembles.Run(members, Environment.ProcessorCount, k =>
        {
            var memberTrain = ownHoldOut ? train.ForMember(k, members) : train;
            var settings = new TrainingSettings
            {
                Epochs = recipe.Epochs,
                BatchSize = recipe.BatchSize,
                DropLastPartialBatch = recipe.DropLastPartialBatch,
                LearningRate = recipe.LearningRate,
                Schedule = recipe.Schedule,
                Optimizer = options.Optimizer,
                Momentum = options.Momentum,
                Beta2 = recipe.AdamBeta2,
                WeightDecay = recipe.WeightDecay,
                Clipping = options.Clipping,
                AutoClip = options.ToAutoClipOptions(),
                FixedClipNorm = options.FixedClipNorm,
                Seed = Ensembles.MemberSeed(seed, k),
                ShufflePoolSize = options.ShufflePoolSize,
                EarlyStoppingPatience = recipe.EarlyStoppingPatience,
                EpochSelection = recipe.EpochSelection,
                DiagnosticsInterval = options.DiagnosticsInterval,
                HistoryDetail = options.HistoryDetail,
            };
            ITrainingMonitor memberMonitor = members == 1 ? monitor : new Ensembles.MemberMonitor(monitor, k, members, gate);
            // Each member its own objective (they keep LibTorch tensors, and members may train side by side).
            using var memberObjective = members == 1 ? null : CreateObjective(train, classCount, recipe);
            using var run = new TrainingRun(settings, initial[k], memberObjective ?? objective, memberTrain, validation, memberMonitor);
            TrainingResult trained;
            try
            {
                trained = run.Train();
            }
            catch (InvalidOperationException e) when (members > 1)
            {
                throw new InvalidOperationException($"Ensemble member {k + 1} of {members}: {e.Message}", e);
            }
            validations[k] = (trained.Network, new ValidationRows(memberTrain, validation));
            return trained;
        });
        var result = members == 1 ? results[0] : new TrainingResult(Ensembles.Combine(results.Select(r => r.Network).ToArray()), results[0].History, results[0].AutoClipState)
        {
            MemberHistories = results.Select(r => r.History).ToArray(),
        };
        return CreateModel(result, objective, train, validations, recipe, monitor);
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
