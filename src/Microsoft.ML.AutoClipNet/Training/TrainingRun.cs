using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>How training reports progress and learns that it should stop.</summary>
internal interface ITrainingMonitor
{
    /// <summary>A progress message (one per epoch, and a summary at the start).</summary>
    void Info(string message);

    /// <summary>A warning (rows skipped, a class with no rows).</summary>
    void Warning(string message);

    /// <summary>Throws <see cref="OperationCanceledException"/> when training should stop.</summary>
    void CheckAlive();
}

/// <summary>What training produced: for an ensemble, the combined network, the first member's history and AutoClip state, and every member's history.</summary>
internal sealed record TrainingResult(NetworkDescription Network, AutoClipNetTrainingHistory History, AutoClipperState? AutoClipState)
{
    /// <summary>Every member's history, the first one being <see cref="History"/> (one for a single network).</summary>
    public IReadOnlyList<AutoClipNetTrainingHistory> MemberHistories { get; init; } = new[] { History };
}

/// <summary>
/// One network's training run: the epoch loop. Each epoch deals the rows into batches (<see cref="BatchFeeder"/>), takes an
/// optimizer step on each (<see cref="Optimization"/>), validates (<see cref="Validator"/>), keeps the best epoch's weights,
/// stops early if the recipe says so, and reports; a diverged run stops with advice. It produces an immutable
/// <see cref="TrainingResult"/> and is disposed afterwards. No ML.NET type appears here.
/// </summary>
internal sealed class TrainingRun : IDisposable
{
    private readonly Recipe _recipe;
    private readonly int _seed;
    private readonly TrainingSet _train;
    private readonly TrainingSet? _validation; // an explicit validation set (its training rows), else the training set's held-out rows
    private readonly ITrainingMonitor _monitor;
    private readonly NetworkDescription _initial;
    private readonly TrainingModule _module;
    private readonly TrainingStep _step;
    private readonly Optimization _optimization;
    private readonly BatchFeeder _feeder;
    private readonly Validator _validator;
    private readonly List<AutoClipNetEpoch> _epochs = new();
    private readonly bool _continued;

    /// <param name="recipe">Every value the run reads.</param>
    /// <param name="seed">The member's seed: the shuffling (the initial network was made with it too).</param>
    /// <param name="initial">The network to train.</param>
    /// <param name="objective">The task's loss.</param>
    /// <param name="train">The training rows (for an ensemble's member, its own view of them).</param>
    /// <param name="validation">An explicit validation set, or null for the training set's held-out rows.</param>
    /// <param name="monitor">Progress and cancellation.</param>
    /// <param name="clipState">AutoClip's state to continue from (warm start), or null for a new history.</param>
    /// <param name="continued">Whether <paramref name="initial"/> is a trained model being continued (warm start): then it is
    /// validated first, as epoch 0, and kept if no epoch does better on the validation rows.</param>
    public TrainingRun(Recipe recipe, int seed, NetworkDescription initial, Objective objective, TrainingSet train, TrainingSet? validation, ITrainingMonitor monitor,
        AutoClipperState? clipState = null, bool continued = false)
    {
        _continued = continued;
        if (initial.OutputSize != objective.OutputCount)
        {
            throw new ArgumentException($"The network has {initial.OutputSize} outputs; the objective needs {objective.OutputCount}.");
        }
        _recipe = recipe;
        _seed = seed;
        _train = train;
        _validation = validation;
        _monitor = monitor;
        _initial = initial;
        _module = new TrainingModule(initial);
        _step = new TrainingStep(_module, objective, recipe.BatchSize);
        _optimization = new Optimization(recipe, _module, _step, monitor, clipState);
        _feeder = new BatchFeeder(train, objective, recipe, seed);
        _validator = new Validator(new ValidationRows(train, validation), objective, _module, train.FeatureCount);
    }

    private bool HasValidation => _validator.Count > 0;

    public TrainingResult Train()
    {
        var recipe = _recipe;
        _optimization.PlanSteps(_feeder.StepsPerEpoch * recipe.Epochs);
        _monitor.Info(string.Format(CultureInfo.InvariantCulture,
            "AutoClipNet: {0} training rows{1}{12}, {2} features, network {3} ({4} parameters), {5} at {6}{7}, batch {8}, {9} epochs, clipping {10}, seed {11}.",
            _train.TrainingRows, HasValidation ? $" ({_validator.Count} for validation)" : "", _train.FeatureCount,
            _initial, _module.ParameterCount, recipe.Optimizer, recipe.LearningRate,
            recipe.Schedule == AutoClipNetLearningRateSchedule.Constant ? "" : $" on the {recipe.Schedule} schedule", recipe.BatchSize, recipe.Epochs,
            _optimization.DescribeClipping(), _seed,
            _train.IsPacked ? " held in memory" : " streamed from the source at every pass (more than MaxRowsInMemory)"));

        Tensor? best = null;
        double bestScore = double.PositiveInfinity;
        int bestEpoch = 0;
        int sinceBest = 0;
        bool byError = recipe.EpochSelection == AutoClipNetEpochSelection.ValidationError;
        var cycleStop = recipe.CycleStopEpochs;
        double bestBySecondCycleEnd = double.NaN;
        try
        {
            if (_continued && HasValidation)
            {
                // The model being continued is the candidate to beat: epoch 0.
                var (startLoss, startError) = _validator.Run(_monitor);
                bestScore = byError ? startError : startLoss;
                best = empty_like(_module.Values).DetachFromDisposeScope();
                using (var noGrad = no_grad())
                {
                    best.copy_(_module.Values);
                }
                _monitor.Info(string.Format(CultureInfo.InvariantCulture, "The model continued (epoch 0): validation loss {0:G5}, error {1:G4}.", startLoss, startError));
            }
            for (int epoch = 1; epoch <= recipe.Epochs; epoch++)
            {
                _optimization.StartEpoch(epoch);
                _feeder.RunEpoch(_optimization.Step);
                var totals = _optimization.EpochTotals;
                double trainLoss = totals.Steps > totals.Skipped ? totals.LossSum / (totals.Steps - totals.Skipped) : double.NaN;
                CheckDiverged(epoch, trainLoss);
                var (validLoss, validError) = HasValidation ? _validator.Run(_monitor) : (double.NaN, double.NaN);
                _epochs.Add(new AutoClipNetEpoch(epoch, trainLoss, validLoss, validError));
                _monitor.Info(string.Format(CultureInfo.InvariantCulture, "Epoch {0}/{1}: training loss {2:G5}{3}, {4} steps ({5} clipped, {6} skipped){7}.",
                    epoch, recipe.Epochs, trainLoss,
                    HasValidation ? string.Format(CultureInfo.InvariantCulture, ", validation loss {0:G5}, error {1:G4}", validLoss, validError) : "",
                    totals.Steps, totals.Clipped, totals.Skipped,
                    recipe.Clipping == AutoClipNetClipping.AutoClip ? string.Format(CultureInfo.InvariantCulture, ", AutoClip threshold {0:G4}", _optimization.Threshold) : ""));

                if (!HasValidation)
                {
                    continue;
                }
                // By loss, the first of equal epochs; by error (RealMLP's rule), the last.
                double score = byError ? validError : validLoss;
                if (byError ? score <= bestScore : score < bestScore)
                {
                    bestScore = score;
                    bestEpoch = epoch;
                    sinceBest = 0;
                    best ??= empty_like(_module.Values).DetachFromDisposeScope();
                    using var noGrad = no_grad();
                    best.copy_(_module.Values);
                }
                else if (recipe.EarlyStoppingPatience > 0 && ++sinceBest >= recipe.EarlyStoppingPatience)
                {
                    _monitor.Info($"Early stopping after epoch {epoch}: no better validation {(byError ? "error" : "loss")} since epoch {bestEpoch}.");
                    break;
                }
                if (cycleStop is { } cycles)
                {
                    if (epoch == cycles.SecondCycleEnd)
                    {
                        bestBySecondCycleEnd = bestScore;
                    }
                    else if (epoch == cycles.ThirdCycleEnd && best is not null && double.IsFinite(bestBySecondCycleEnd) && Recipe.ThirdCycleStalled(bestBySecondCycleEnd, bestScore))
                    {
                        _monitor.Info(string.Format(CultureInfo.InvariantCulture,
                            "Stopping at the end of the schedule's third cycle (epoch {0} of {1}): no better validation {2} than by the end of the second (epoch {3}); the best is epoch {4}.",
                            epoch, recipe.Epochs, byError ? "error" : "loss", cycles.SecondCycleEnd, bestEpoch));
                        break;
                    }
                }
            }

            if (best is not null)
            {
                using var noGrad = no_grad();
                _module.Values.copy_(best);
            }
            var detail = recipe.HistoryDetail;
            var history = new AutoClipNetTrainingHistory(_optimization.StepRecords.Records(), detail == AutoClipNetHistoryDetail.None ? new List<AutoClipNetEpoch>() : _epochs,
                _optimization.DiagnosticRecords.Records(), best is null ? _epochs.Count : bestEpoch, _train.TrainingRows, _validator.Count, _train.DroppedRows + (_validation?.DroppedRows ?? 0),
                detail, (_optimization.Steps, _optimization.ClippedSteps, _optimization.SkippedSteps));
            // The AutoClip state holds every norm (8 bytes a step): kept with the full history only.
            return new TrainingResult(_module.Snapshot(), history, detail == AutoClipNetHistoryDetail.EveryStep ? _optimization.ClipperState : null);
        }
        finally
        {
            best?.Dispose();
        }
    }

    private void CheckDiverged(int epoch, double trainLoss)
    {
        var totals = _optimization.EpochTotals;
        string? what = !_module.AllFinite() ? "the network's weights are no longer finite numbers"
            : totals.Steps > 0 && totals.Skipped == totals.Steps ? $"every step of the epoch had a NaN or infinite gradient ({totals.Skipped} skipped)"
            : !double.IsFinite(trainLoss) ? $"the training loss is {trainLoss.ToString(CultureInfo.InvariantCulture)}"
            : null;
        if (what is not null)
        {
            throw new InvalidOperationException(
                $"AutoClipNet training diverged in epoch {epoch}: {what}. Try a lower LearningRate (now {_recipe.LearningRate.ToString(CultureInfo.InvariantCulture)}), " +
                $"a lower Percentile (now {_recipe.AutoClip.Percentile.ToString(CultureInfo.InvariantCulture)}) or a HistoryWindow, keep the features (and a regression label) standardized, " +
                "and look for extreme values in the features and the label.");
        }
    }

    public void Dispose()
    {
        _validator.Dispose();
        _feeder.Dispose();
        _optimization.Dispose();
        _step.Dispose();
        _module.Dispose();
    }
}
