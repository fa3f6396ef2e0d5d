using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClip;
using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// The mutable state of one training run (network, optimizer, clipper, records). It produces the
/// immutable <see cref="AutoClipNetModelParameters"/> and is disposed afterwards.
/// </summary>
internal sealed class TrainingRun : IDisposable
{
    private readonly IHost _host;
    private readonly IChannel _channel;
    private readonly AutoClipNetTrainer.Options _options;
    private readonly TrainingData _train;
    private readonly TrainingData? _validation;
    private readonly int _seed;
    private readonly Random _random;
    private readonly int _featureCount;
    private readonly float[] _featureMean;
    private readonly float[] _featureScale;
    private readonly float _labelMean;
    private readonly float _labelScale;

    private readonly Sequential _module;
    private readonly Parameter[] _parameters;
    private readonly Tensor _gradient; // every parameter's gradient is a view of this one buffer
    private readonly optim.Optimizer _optimizer;
    private readonly AutoClipper? _clipper;

    private readonly List<AutoClipNetTrainingStep> _steps = new();
    private readonly List<AutoClipNetEpoch> _epochs = new();
    private readonly List<AutoClipNetDiagnostic> _diagnostics = new();

    // Rows of the packed training data used for training and for validation (a seeded split).
    private int[] _trainRows = Array.Empty<int>();
    private int[] _validationRows = Array.Empty<int>();

    // The batch being assembled, already standardized.
    private readonly float[] _batchX;
    private readonly float[] _batchY;
    private int _batchFill;

    private int _epoch;
    private long _step;
    private Func<double, double>? _fixedThreshold; // FixedNorm clipping: the same threshold for every norm
    private long _streamedValidationRows; // rows held out by the seeded hash when streaming
    private double _epochLossSum;
    private int _epochSteps;
    private int _epochSkipped;
    private int _epochClipped;

    // Diagnostics: the weights and gradient of the step before a measured one.
    private Tensor? _previousWeights;
    private Tensor? _previousGradient;

    public TrainingRun(IHost host, IChannel channel, AutoClipNetTrainer.Options options, TrainingData train, TrainingData? validation, int seed)
    {
        _host = host;
        _channel = channel;
        _options = options;
        _train = train;
        _validation = validation;
        _seed = seed;
        _random = new Random(seed);
        _featureCount = train.FeatureCount;

        _featureMean = new float[_featureCount];
        _featureScale = new float[_featureCount];
        for (int j = 0; j < _featureCount; j++)
        {
            bool standardize = options.StandardizeFeatures && train.FeatureStd[j] > 0;
            _featureMean[j] = options.StandardizeFeatures ? (float)train.FeatureMean[j] : 0f;
            _featureScale[j] = standardize ? (float)(1.0 / train.FeatureStd[j]) : 1f;
        }
        _labelMean = options.StandardizeLabel ? (float)train.LabelMean : 0f;
        _labelScale = options.StandardizeLabel && train.LabelStd > 0 ? (float)train.LabelStd : 1f;

        _batchX = new float[options.BatchSize * _featureCount];
        _batchY = new float[options.BatchSize];

        TorchSharpNative.EnsureLoadable();
        // The global generator initialises nn.Linear: seed it right before building the network.
        random.manual_seed(seed);
        _module = MultiLayerPerceptron.CreateModule(_featureCount, options.HiddenLayerSizes, options.Activation);
        _parameters = _module.parameters().ToArray();
        _gradient = AutoClipper.CreateContiguousGradients(_parameters);
        _optimizer = options.Optimizer switch
        {
            AutoClipNetOptimizer.Adam => optim.Adam(_parameters, options.LearningRate, weight_decay: options.WeightDecay),
            AutoClipNetOptimizer.AdamW => optim.AdamW(_parameters, options.LearningRate, weight_decay: options.WeightDecay),
            _ => optim.SGD(_parameters, options.LearningRate, momentum: options.Momentum, weight_decay: options.WeightDecay),
        };
        _clipper = options.Clipping == AutoClipNetClipping.AutoClip ? new AutoClipper(options.ToAutoClipOptions()) : null;
    }

    public AutoClipNetModelParameters Train()
    {
        StandardizePackedData();
        SplitValidation();
        bool hasValidation = _validation is not null || _validationRows.Length > 0 || (!_train.IsPacked && _options.ValidationFraction > 0);
        _channel.Info("AutoClipNet: {0} training rows, {1} features, network {2}, {3}, clipping {4}, seed {5}.",
            _train.IsPacked ? _trainRows.Length : _train.Rows - _streamedValidationRows, _featureCount,
            string.Join("-", new[] { _featureCount }.Concat(_options.HiddenLayerSizes).Append(1)),
            _options.Optimizer, DescribeClipping(), _seed);

        MultiLayerPerceptron? best = null;
        double bestLoss = double.PositiveInfinity;
        int bestEpoch = 0;
        int sinceBest = 0;
        for (_epoch = 1; _epoch <= _options.NumberOfEpochs; _epoch++)
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
            FlushBatch();

            double trainLoss = _epochSteps > _epochSkipped ? _epochLossSum / (_epochSteps - _epochSkipped) : double.NaN;
            CheckDiverged(trainLoss);
            double validLoss = hasValidation ? ValidationLoss() : double.NaN;
            _epochs.Add(new AutoClipNetEpoch(_epoch, trainLoss, validLoss));
            _channel.Info("Epoch {0}/{1}: training loss {2:G5}{3}, {4} steps ({5} clipped, {6} skipped){7}.",
                _epoch, _options.NumberOfEpochs, trainLoss,
                hasValidation ? $", validation loss {validLoss:G5}" : "",
                _epochSteps, _epochClipped, _epochSkipped,
                _clipper is null ? "" : $", AutoClip threshold {_clipper.Threshold:G4}");

            if (hasValidation)
            {
                if (validLoss < bestLoss)
                {
                    bestLoss = validLoss;
                    bestEpoch = _epoch;
                    sinceBest = 0;
                    best?.Dispose();
                    best = MultiLayerPerceptron.FromModule(_module, _featureCount, _options.Activation);
                }
                else if (_options.EarlyStoppingPatience > 0 && ++sinceBest >= _options.EarlyStoppingPatience)
                {
                    _channel.Info("Early stopping after epoch {0}: no better validation loss since epoch {1}.", _epoch, bestEpoch);
                    break;
                }
            }
        }

        var network = best ?? MultiLayerPerceptron.FromModule(_module, _featureCount, _options.Activation);
        var history = new AutoClipNetTrainingHistory(_steps, _epochs, _diagnostics, best is null ? _epochs.Count : bestEpoch,
            _train.IsPacked ? _trainRows.Length : _train.Rows - _streamedValidationRows,
            _validation?.Rows ?? (_train.IsPacked ? _validationRows.Length : _streamedValidationRows), _train.DroppedRows + (_validation?.DroppedRows ?? 0));
        return new AutoClipNetModelParameters(_host, network, _featureMean, _featureScale, _labelMean, _labelScale, _clipper?.GetState(), history);
    }

    private string DescribeClipping() => _options.Clipping switch
    {
        AutoClipNetClipping.AutoClip => $"AutoClip p = {_options.Percentile}" + (_options.HistoryWindow is int w ? $" over the last {w} norms" : ""),
        AutoClipNetClipping.FixedNorm => $"fixed norm {_options.FixedClipNorm}",
        _ => "off",
    };

    private void StandardizePackedData()
    {
        if (_train.IsPacked)
        {
            Standardize(_train.X!, _train.Y!);
        }
        if (_validation is not null)
        {
            Standardize(_validation.X!, _validation.Y!);
        }
    }

    private void Standardize(float[] x, float[] y)
    {
        int f = _featureCount;
        for (int offset = 0; offset < x.Length; offset += f)
        {
            var row = x.AsSpan(offset, f);
            Standardization.Apply(row, _featureMean, _featureScale, row);
        }
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = (y[i] - _labelMean) / _labelScale;
        }
    }

    private void SplitValidation()
    {
        if (!_train.IsPacked)
        {
            return;
        }
        int rows = (int)_train.Rows;
        var order = Enumerable.Range(0, rows).ToArray();
        int holdOut = _validation is null ? (int)Math.Round(rows * _options.ValidationFraction) : 0;
        if (holdOut > 0)
        {
            Shuffle(order);
            if (holdOut >= rows)
            {
                holdOut = rows - 1;
            }
            _validationRows = order[..holdOut];
            _trainRows = order[holdOut..];
            Array.Sort(_validationRows);
            Array.Sort(_trainRows);
        }
        else
        {
            _trainRows = order;
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
        var order = (int[])_trainRows.Clone();
        Shuffle(order);
        int f = _featureCount;
        float[] x = _train.X!, y = _train.Y!;
        foreach (int row in order)
        {
            Array.Copy(x, (long)row * f, _batchX, (long)_batchFill * f, f);
            _batchY[_batchFill] = y[row];
            if (++_batchFill == _options.BatchSize)
            {
                FlushBatch();
            }
        }
    }

    /// <summary>
    /// Streams the rows through a shuffle pool of ShufflePoolSize rows: each incoming row replaces a
    /// random row of the pool, which goes into the batch. Memory stays bounded by the pool.
    /// </summary>
    private void RunStreamedEpoch()
    {
        int f = _featureCount;
        int poolSize = (int)Math.Min(_options.ShufflePoolSize, _train.Rows);
        var poolX = new float[(long)poolSize * f];
        var poolY = new float[poolSize];
        int poolFill = 0;
        var row = new float[f];
        _train.ForEachRow(_host, row, (ReadOnlySpan<float> values, float label, long position) =>
        {
            if (IsStreamedValidationRow(position))
            {
                return;
            }
            if (poolFill < poolSize)
            {
                values.CopyTo(poolX.AsSpan(poolFill * f, f));
                poolY[poolFill++] = label;
                return;
            }
            int j = _random.Next(poolSize);
            AddToBatch(poolX.AsSpan(j * f, f), poolY[j]);
            values.CopyTo(poolX.AsSpan(j * f, f));
            poolY[j] = label;
        }, "training data");
        var rest = Enumerable.Range(0, poolFill).ToArray();
        Shuffle(rest);
        foreach (int j in rest)
        {
            AddToBatch(poolX.AsSpan(j * f, f), poolY[j]);
        }
    }

    private bool IsStreamedValidationRow(long position)
    {
        if (_validation is not null || _options.ValidationFraction <= 0)
        {
            return false;
        }
        // A seeded hash of the row number: the same rows are held out at every epoch.
        ulong h = (ulong)position * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)_seed * 0xC2B2AE3D27D4EB4FUL;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 32;
        return (h >> 11) * (1.0 / (1UL << 53)) < _options.ValidationFraction;
    }

    private void AddToBatch(ReadOnlySpan<float> rawFeatures, float rawLabel)
    {
        int f = _featureCount;
        Standardization.Apply(rawFeatures, _featureMean, _featureScale, _batchX.AsSpan(_batchFill * f, f));
        _batchY[_batchFill] = (rawLabel - _labelMean) / _labelScale;
        if (++_batchFill == _options.BatchSize)
        {
            FlushBatch();
        }
    }

    /// <summary>One optimizer step on the assembled batch, inside its own dispose scope.</summary>
    private void FlushBatch()
    {
        int n = _batchFill;
        if (n == 0)
        {
            return;
        }
        _batchFill = 0;
        _host.CheckAlive();
        _step++;
        using var scope = NewDisposeScope();
        var x = tensor(_batchX, _options.BatchSize, _featureCount);
        var y = tensor(_batchY, _options.BatchSize, 1);
        if (n < _options.BatchSize)
        {
            x = x.narrow(0, 0, n);
            y = y.narrow(0, 0, n);
        }
        _gradient.zero_();
        var loss = nn.functional.mse_loss(_module.call(x), y);
        loss.backward();
        float lossValue = loss.item<float>();

        bool measure = _options.DiagnosticsInterval > 0 && _step % _options.DiagnosticsInterval == 0 && _previousWeights is not null;
        bool snapshot = _options.DiagnosticsInterval > 0 && (_step + 1) % _options.DiagnosticsInterval == 0;
        Tensor? gradient = measure || snapshot ? FlatGradient() : null;

        var (norm, threshold, scale, skipped) = Clip();
        if (measure && !skipped)
        {
            RecordDiagnostic(gradient!, norm);
        }
        if (snapshot && !skipped)
        {
            _previousGradient?.Dispose();
            _previousWeights?.Dispose();
            _previousGradient = gradient!.MoveToOuterDisposeScope();
            _previousWeights = FlatWeights().MoveToOuterDisposeScope();
        }
        if (!skipped)
        {
            _optimizer.step();
            _epochLossSum += lossValue;
        }
        _epochSteps++;
        if (skipped)
        {
            _epochSkipped++;
        }
        if (scale < 1)
        {
            _epochClipped++;
        }
        _steps.Add(new AutoClipNetTrainingStep(_epoch, _step, lossValue, norm, threshold, scale, skipped));
    }

    private (double Norm, double Threshold, double Scale, bool Skipped) Clip()
    {
        switch (_options.Clipping)
        {
            case AutoClipNetClipping.AutoClip:
                var record = _clipper!.ClipGradient(_gradient);
                return (record.GradientNorm, record.Threshold, record.Scale, record.Skipped);
            case AutoClipNetClipping.FixedNorm:
                var step = AutoClipper.ClipToThreshold(_step, new[] { _gradient }, _fixedThreshold ??= _ => _options.FixedClipNorm, _options.NonFiniteGradients);
                return (step.GradientNorm, step.Threshold, step.Scale, step.Skipped);
            default:
                return (double.NaN, double.NaN, 1.0, false);
        }
    }

    private Tensor FlatGradient()
    {
        using var noGrad = no_grad();
        return _gradient.to_type(ScalarType.Float64);
    }

    private Tensor FlatWeights()
    {
        using var noGrad = no_grad();
        return cat(_parameters.Select(p => p.detach().flatten()).ToArray()).to_type(ScalarType.Float64);
    }

    private void RecordDiagnostic(Tensor gradient, double norm)
    {
        var weights = FlatWeights();
        double stepSize = linalg.vector_norm(weights - _previousWeights!).item<double>();
        double gradientChange = linalg.vector_norm(gradient - _previousGradient!).item<double>();
        if (double.IsNaN(norm))
        {
            norm = linalg.vector_norm(gradient).item<double>();
        }
        _diagnostics.Add(new AutoClipNetDiagnostic(_step, norm, stepSize, stepSize > 0 ? gradientChange / stepSize : double.NaN));
    }

    private void CheckDiverged(double trainLoss)
    {
        bool weightsFinite;
        using (var scope = NewDisposeScope())
        {
            weightsFinite = _parameters.All(p => p.isfinite().all().item<bool>());
        }
        string? what = !weightsFinite ? "the network's weights are no longer finite numbers"
            : _epochSteps > 0 && _epochSkipped == _epochSteps ? $"every step of the epoch had a NaN or infinite gradient ({_epochSkipped} skipped)"
            : !double.IsFinite(trainLoss) ? $"the training loss is {trainLoss}"
            : null;
        if (what is not null)
        {
            throw new InvalidOperationException(
                $"AutoClipNet training diverged in epoch {_epoch}: {what}. Try a lower LearningRate (now {_options.LearningRate}), " +
                $"a lower Percentile (now {_options.Percentile}) or a HistoryWindow, keep StandardizeFeatures and StandardizeLabel on, " +
                "and look for extreme values in the features and the label.");
        }
    }

    private double ValidationLoss()
    {
        using var noGrad = no_grad();
        double sum = 0;
        long count = 0;
        const int chunk = 4096;
        int f = _featureCount;
        void Score(float[] x, float[] y, int rows)
        {
            using var scope = NewDisposeScope();
            var predicted = _module.call(tensor(x, rows, f));
            var target = tensor(y, rows, 1);
            sum += (predicted - target).square().sum().to_type(ScalarType.Float64).item<double>();
            count += rows;
        }

        if (_validation is not null)
        {
            for (int start = 0; start < _validation.Rows; start += chunk)
            {
                int rows = (int)Math.Min(chunk, _validation.Rows - start);
                Score(_validation.X!.AsSpan(start * f, rows * f).ToArray(), _validation.Y!.AsSpan(start, rows).ToArray(), rows);
            }
        }
        else if (_train.IsPacked)
        {
            var x = new float[chunk * f];
            var y = new float[chunk];
            int fill = 0;
            foreach (int row in _validationRows)
            {
                Array.Copy(_train.X!, (long)row * f, x, (long)fill * f, f);
                y[fill] = _train.Y![row];
                if (++fill == chunk)
                {
                    Score(x, y, fill);
                    fill = 0;
                }
            }
            if (fill > 0)
            {
                Score(x[..(fill * f)], y[..fill], fill);
            }
        }
        else
        {
            var x = new float[chunk * f];
            var y = new float[chunk];
            int fill = 0;
            var row = new float[f];
            _train.ForEachRow(_host, row, (ReadOnlySpan<float> values, float label, long position) =>
            {
                if (!IsStreamedValidationRow(position))
                {
                    return;
                }
                Standardization.Apply(values, _featureMean, _featureScale, x.AsSpan(fill * f, f));
                y[fill] = (label - _labelMean) / _labelScale;
                if (++fill == chunk)
                {
                    Score(x, y, fill);
                    fill = 0;
                }
            }, "training data");
            if (fill > 0)
            {
                Score(x[..(fill * f)], y[..fill], fill);
            }
            _streamedValidationRows = count;
        }
        return count > 0 ? sum / count : double.NaN;
    }

    public void Dispose()
    {
        _previousGradient?.Dispose();
        _previousWeights?.Dispose();
        _gradient.Dispose();
        _optimizer.Dispose();
        foreach (var parameter in _parameters)
        {
            parameter.Dispose();
        }
        _module.Dispose();
    }
}
