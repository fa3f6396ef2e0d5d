using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>What training produced: for an ensemble, the combined network, the first member's history and AutoClip state, and every member's history.</summary>
internal sealed record TrainingResult(NetworkDescription Network, AutoClipNetTrainingHistory History, AutoClipperState? AutoClipState)
{
    /// <summary>Every member's history, the first one being <see cref="History"/> (one for a single network).</summary>
    public IReadOnlyList<AutoClipNetTrainingHistory> MemberHistories { get; init; } = new[] { History };
}

/// <summary>
/// The mutable state of one training run: the module, the optimizer, the clipper, the batch tensors
/// and the records. It runs the epochs (<see cref="Train"/>), produces an immutable
/// <see cref="TrainingResult"/> and is disposed afterwards. No ML.NET type appears here.
/// </summary>
internal sealed class TrainingRun : IDisposable
{
    private const int ValidationChunk = 4096;

    private readonly TrainingSettings _settings;
    private readonly Objective _objective;
    private readonly TrainingSet _train;
    private readonly TrainingSet? _validation; // an explicit validation set (its training rows), else the training set's held-out rows
    private readonly ITrainingMonitor _monitor;
    private readonly Random _random;
    private readonly int _featureCount;
    private readonly NetworkDescription _initial;
    private readonly TrainingModule _module;
    private readonly Backprop _backprop;
    private readonly FlatOptimizer _optimizer;
    private readonly GradientClipping _clipping;

    // The batch being assembled lives in LibTorch memory (see TensorMemory): rows are written straight into it.
    private readonly Tensor _x;
    private readonly Tensor _y;
    private int _fill;

    private readonly HistoryRecorder<AutoClipNetTrainingStep> _steps;
    private readonly List<AutoClipNetEpoch> _epochs = new();
    private readonly HistoryRecorder<AutoClipNetDiagnostic> _diagnostics;
    private long _clippedSteps, _skippedSteps;

    private int _epoch;
    private long _step;
    private long _totalSteps;
    private double _epochLossSum;
    private int _epochSteps;
    private int _epochSkipped;
    private int _epochClipped;

    // Diagnostics: the weights and gradient of the step before a measured one.
    private Tensor? _previousWeights;
    private Tensor? _previousGradient;

    public TrainingRun(TrainingSettings settings, NetworkDescription initial, Objective objective, TrainingSet train,
        TrainingSet? validation, ITrainingMonitor monitor)
    {
        if (initial.OutputSize != objective.OutputCount)
        {
            throw new ArgumentException($"The network has {initial.OutputSize} outputs; the objective needs {objective.OutputCount}.");
        }
        _settings = settings;
        _steps = new HistoryRecorder<AutoClipNetTrainingStep>(settings.HistoryDetail);
        _diagnostics = new HistoryRecorder<AutoClipNetDiagnostic>(settings.HistoryDetail);
        _objective = objective;
        _train = train;
        _validation = validation;
        _monitor = monitor;
        _random = new Random(settings.Seed);
        _featureCount = train.FeatureCount;
        _initial = initial;
        _module = new TrainingModule(initial);
        _backprop = new Backprop(_module, objective, settings.BatchSize);
        _optimizer = FlatOptimizer.Create(settings.Optimizer, _module, settings.Momentum, settings.Beta2);
        _clipping = new GradientClipping(settings.Clipping, settings.AutoClip, settings.FixedClipNorm);
        _x = empty(settings.BatchSize, _featureCount).DetachFromDisposeScope();
        _y = empty(settings.BatchSize).DetachFromDisposeScope();
    }

    private long ValidationRows => _validation?.TrainingRows ?? _train.ValidationRows;

    private bool HasValidation => ValidationRows > 0;

    /// <summary>Steps per epoch when every training row is used (the last partial batch dropped or not).</summary>
    private long StepsPerEpoch()
    {
        long rows = _train.TrainingRows;
        long batch = _settings.BatchSize;
        long full = rows / batch;
        return full == 0 ? 1 : _settings.DropLastPartialBatch || rows % batch == 0 ? full : full + 1;
    }

    public TrainingResult Train()
    {
        _totalSteps = StepsPerEpoch() * _settings.Epochs;
        _monitor.Info(string.Format(CultureInfo.InvariantCulture,
            "AutoClipNet: {0} training rows{1}{12}, {2} features, network {3} ({4} parameters), {5} at {6}{7}, batch {8}, {9} epochs, clipping {10}, seed {11}.",
            _train.TrainingRows, HasValidation ? $" ({ValidationRows} for validation)" : "", _featureCount,
            _initial, _module.ParameterCount, _settings.Optimizer, _settings.LearningRate,
            _settings.Schedule == AutoClipNetLearningRateSchedule.Constant ? "" : $" on the {_settings.Schedule} schedule", _settings.BatchSize, _settings.Epochs,
            _clipping.Describe(_settings.AutoClip), _settings.Seed,
            _train.IsPacked ? " held in memory" : " streamed from the source at every pass (more than MaxRowsInMemory)"));

        Tensor? best = null;
        double bestLoss = double.PositiveInfinity;
        int bestEpoch = 0;
        int sinceBest = 0;
        try
        {
            for (_epoch = 1; _epoch <= _settings.Epochs; _epoch++)
            {
                _epochLossSum = 0;
                _epochSteps = _epochSkipped = _epochClipped = 0;
                if (_train.IsPacked)
                {
                    RunPackedEpoch();
                }
                else
                {
                    RunStreamedEpoch();
                }
                FlushPartialBatch();

                double trainLoss = _epochSteps > _epochSkipped ? _epochLossSum / (_epochSteps - _epochSkipped) : double.NaN;
                CheckDiverged(trainLoss);
                var (validLoss, validError) = HasValidation ? Validate() : (double.NaN, double.NaN);
                _epochs.Add(new AutoClipNetEpoch(_epoch, trainLoss, validLoss, validError));
                _monitor.Info(string.Format(CultureInfo.InvariantCulture, "Epoch {0}/{1}: training loss {2:G5}{3}, {4} steps ({5} clipped, {6} skipped){7}.",
                    _epoch, _settings.Epochs, trainLoss,
                    HasValidation ? string.Format(CultureInfo.InvariantCulture, ", validation loss {0:G5}, error {1:G4}", validLoss, validError) : "",
                    _epochSteps, _epochClipped, _epochSkipped,
                    _settings.Clipping == AutoClipNetClipping.AutoClip ? string.Format(CultureInfo.InvariantCulture, ", AutoClip threshold {0:G4}", _clipping.Threshold) : ""));

                if (HasValidation)
                {
                    // By loss, the first of equal epochs; by error (RealMLP's rule), the last.
                    bool byError = _settings.EpochSelection == AutoClipNetEpochSelection.ValidationError;
                    double score = byError ? validError : validLoss;
                    if (byError ? score <= bestLoss : score < bestLoss)
                    {
                        bestLoss = score;
                        bestEpoch = _epoch;
                        sinceBest = 0;
                        best ??= empty_like(_module.Values).DetachFromDisposeScope();
                        using var noGrad = no_grad();
                        best.copy_(_module.Values);
                    }
                    else if (_settings.EarlyStoppingPatience > 0 && ++sinceBest >= _settings.EarlyStoppingPatience)
                    {
                        _monitor.Info($"Early stopping after epoch {_epoch}: no better validation {(byError ? "error" : "loss")} since epoch {bestEpoch}.");
                        break;
                    }
                }
            }

            if (best is not null)
            {
                using var noGrad = no_grad();
                _module.Values.copy_(best);
            }
            var detail = _settings.HistoryDetail;
            var history = new AutoClipNetTrainingHistory(_steps.Records(), detail == AutoClipNetHistoryDetail.None ? new List<AutoClipNetEpoch>() : _epochs,
                _diagnostics.Records(), best is null ? _epochs.Count : bestEpoch, _train.TrainingRows, ValidationRows, _train.DroppedRows + (_validation?.DroppedRows ?? 0),
                detail, (_step, _clippedSteps, _skippedSteps));
            // The AutoClip state holds every norm (8 bytes a step): kept with the full history only.
            return new TrainingResult(_module.Snapshot(), history, detail == AutoClipNetHistoryDetail.EveryStep ? _clipping.State : null);
        }
        finally
        {
            best?.Dispose();
        }
    }

    private void Shuffle(int[] values)
    {
        for (int i = values.Length - 1; i > 0; i--)
        {
            int j = _random.Next(i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    private void RunPackedEpoch()
    {
        var x = _train.X!;
        var y = _train.Y!;
        var order = new int[y.Length];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        Shuffle(order);
        int f = _featureCount;
        foreach (int row in order)
        {
            Add(x.AsSpan(row * f, f), y[row]);
        }
    }

    /// <summary>
    /// Streams the rows through a shuffle pool of ShufflePoolSize rows: each incoming row replaces a
    /// random row of the pool, which goes into the batch. Memory stays bounded by the pool.
    /// </summary>
    private void RunStreamedEpoch()
    {
        int f = _featureCount;
        int poolSize = (int)Math.Min(_settings.ShufflePoolSize, _train.TrainingRows);
        var poolX = new float[(long)poolSize * f];
        var poolY = new float[poolSize];
        int poolFill = 0;
        _train.ForEachTrainingRow((ReadOnlySpan<float> values, float label, long position) =>
        {
            if (poolFill < poolSize)
            {
                values.CopyTo(poolX.AsSpan(poolFill * f, f));
                poolY[poolFill++] = label;
                return;
            }
            int j = _random.Next(poolSize);
            Add(poolX.AsSpan(j * f, f), poolY[j]);
            values.CopyTo(poolX.AsSpan(j * f, f));
            poolY[j] = label;
        });
        var rest = new int[poolFill];
        for (int i = 0; i < rest.Length; i++)
        {
            rest[i] = i;
        }
        Shuffle(rest);
        foreach (int j in rest)
        {
            Add(poolX.AsSpan(j * f, f), poolY[j]);
        }
    }

    private void Add(ReadOnlySpan<float> features, float label)
    {
        int f = _featureCount;
        features.CopyTo(TensorMemory.Floats(_x).Slice(_fill * f, f));
        TensorMemory.Floats(_y)[_fill] = _objective.Target(label);
        if (++_fill == _settings.BatchSize)
        {
            Step(_fill);
            _fill = 0;
        }
    }

    /// <summary>The epoch's last, smaller batch: a step of its own, unless the settings drop it (and the epoch already had a step).</summary>
    private void FlushPartialBatch()
    {
        int n = _fill;
        _fill = 0;
        if (n > 0 && (!_settings.DropLastPartialBatch || _epochSteps == 0))
        {
            Step(n);
        }
    }

    /// <summary>One optimizer step on the first <paramref name="n"/> rows of the batch tensors, inside its own dispose scope.</summary>
    private void Step(int n)
    {
        _monitor.CheckAlive();
        _step++;
        using var scope = NewDisposeScope();
        var x = n == _settings.BatchSize ? _x : _x.narrow(0, 0, n);
        var y = n == _settings.BatchSize ? _y : _y.narrow(0, 0, n);
        float lossValue = _backprop.Step(x, y, n);

        int interval = _settings.DiagnosticsInterval;
        bool measure = interval > 0 && _step % interval == 0 && _previousWeights is not null;
        bool snapshot = interval > 0 && (_step + 1) % interval == 0;
        Tensor? gradient = measure || snapshot ? FlatGradient() : null;

        var clip = _clipping.Clip(_module.Gradients);
        if (measure && !clip.Skipped)
        {
            RecordDiagnostic(gradient!, clip.Norm);
        }
        if (snapshot && !clip.Skipped)
        {
            _previousGradient?.Dispose();
            _previousWeights?.Dispose();
            _previousGradient = gradient!.MoveToOuterDisposeScope();
            _previousWeights = FlatWeights().MoveToOuterDisposeScope();
        }
        if (!clip.Skipped)
        {
            double t = _totalSteps > 0 ? Math.Min(1.0, (double)(_step - 1) / _totalSteps) : 0;
            double learningRate = _settings.LearningRate * Schedules.LearningRateFactor(_settings.Schedule, t);
            double weightDecay = _settings.WeightDecay * (_settings.ScheduleWeightDecay ? Schedules.FlatCosine(t) : 1.0);
            _optimizer.Step(learningRate, weightDecay);
            _epochLossSum += lossValue;
        }
        _epochSteps++;
        if (clip.Skipped)
        {
            _epochSkipped++;
            _skippedSteps++;
        }
        if (clip.Scale < 1)
        {
            _epochClipped++;
            _clippedSteps++;
        }
        _steps.Add(_step, new AutoClipNetTrainingStep(_epoch, _step, lossValue, clip.Norm, clip.Threshold, clip.Scale, clip.Skipped));
    }

    private Tensor FlatGradient()
    {
        using var noGrad = no_grad();
        return _module.Gradients.to_type(ScalarType.Float64);
    }

    private Tensor FlatWeights()
    {
        using var noGrad = no_grad();
        return _module.Values.to_type(ScalarType.Float64);
    }

    private void RecordDiagnostic(Tensor gradient, double norm)
    {
        var weights = FlatWeights();
        double stepSize = weights.sub(_previousWeights!).norm(2f).item<double>();
        double gradientChange = gradient.sub(_previousGradient!).norm(2f).item<double>();
        if (double.IsNaN(norm))
        {
            norm = gradient.norm(2f).item<double>();
        }
        _diagnostics.Add(_step, new AutoClipNetDiagnostic(_step, norm, stepSize, stepSize > 0 ? gradientChange / stepSize : double.NaN));
    }

    private void CheckDiverged(double trainLoss)
    {
        string? what = !_module.AllFinite() ? "the network's weights are no longer finite numbers"
            : _epochSteps > 0 && _epochSkipped == _epochSteps ? $"every step of the epoch had a NaN or infinite gradient ({_epochSkipped} skipped)"
            : !double.IsFinite(trainLoss) ? $"the training loss is {trainLoss.ToString(CultureInfo.InvariantCulture)}"
            : null;
        if (what is not null)
        {
            throw new InvalidOperationException(
                $"AutoClipNet training diverged in epoch {_epoch}: {what}. Try a lower LearningRate (now {_settings.LearningRate.ToString(CultureInfo.InvariantCulture)}), " +
                $"a lower Percentile (now {_settings.AutoClip.Percentile.ToString(CultureInfo.InvariantCulture)}) or a HistoryWindow, keep the features (and a regression label) standardized, " +
                "and look for extreme values in the features and the label.");
        }
    }

    /// <summary>The mean validation loss and error, in chunks of rows copied into LibTorch memory (held-out rows may be streamed again).</summary>
    private (double Loss, double Error) Validate()
    {
        using var noGrad = no_grad();
        int f = _featureCount;
        int capacity = (int)Math.Min(ValidationChunk, ValidationRows);
        using var x = empty(capacity, f);
        using var y = empty(capacity);
        double sum = 0, errors = 0;
        long count = 0;
        int fill = 0;
        void Score()
        {
            _monitor.CheckAlive();
            using var scope = NewDisposeScope();
            var xs = fill == capacity ? x : x.narrow(0, 0, fill);
            var ys = fill == capacity ? y : y.narrow(0, 0, fill);
            var output = _module.Forward(xs, training: false);
            sum += _objective.ValidationLossSum(output, ys);
            errors += _objective.ValidationErrorSum(output, ys);
            count += fill;
            fill = 0;
        }
        RowAction add = (ReadOnlySpan<float> row, float label, long position) =>
        {
            row.CopyTo(TensorMemory.Floats(x).Slice(fill * f, f));
            TensorMemory.Floats(y)[fill] = _objective.Target(label);
            if (++fill == capacity)
            {
                Score();
            }
        };
        if (_validation is not null)
        {
            _validation.ForEachTrainingRow(add);
        }
        else
        {
            _train.ForEachValidationRow(add);
        }
        if (fill > 0)
        {
            Score();
        }
        return (sum / count, errors / count);
    }

    public void Dispose()
    {
        _previousGradient?.Dispose();
        _previousWeights?.Dispose();
        _x.Dispose();
        _y.Dispose();
        _optimizer.Dispose();
        _backprop.Dispose();
        _module.Dispose();
    }
}
