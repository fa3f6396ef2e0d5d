using System;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// The rows that validate a training run, written once: an explicit validation set's rows (Fit(train, validation)), or the
/// training set's held-out ones (for an ensemble's member, the slice it holds out).
/// </summary>
internal sealed class ValidationRows
{
    private readonly TrainingSet _train;
    private readonly TrainingSet? _explicit;

    public ValidationRows(TrainingSet train, TrainingSet? explicitValidation)
    {
        _train = train;
        _explicit = explicitValidation;
    }

    public long Count => _explicit?.TrainingRows ?? _train.ValidationRows;

    /// <summary>Whether the rows are an explicit validation set (the same for every member of an ensemble), not the training set's hold-out.</summary>
    public bool IsExplicit => _explicit is not null;

    /// <summary>Whether the rows carry example weights.</summary>
    public bool HasWeights => (_explicit ?? _train).HasWeights;

    /// <summary>Rows the source skipped in the explicit validation set (0 for held-out rows: the training set counts those).</summary>
    public long DroppedRows => _explicit?.DroppedRows ?? 0;

    public void ForEach(RowAction action)
    {
        if (_explicit is not null)
        {
            _explicit.ForEachTrainingRow(action);
        }
        else
        {
            _train.ForEachValidationRow(action);
        }
    }

    /// <summary>
    /// The network's outputs (rows × OutputSize), the labels and the weights (null without example weights) of the first
    /// <paramref name="maxRows"/> rows, scored in batches with the same batched forward as Transform (calibration fits the
    /// trained model's own scores).
    /// </summary>
    public (float[] Outputs, float[] Labels, float[]? Weights) Score(NetworkDescription network, int maxRows)
    {
        int rows = (int)Math.Min(Count, maxRows);
        var outputs = new float[(long)rows * network.OutputSize];
        var labels = new float[rows];
        var weights = HasWeights ? new float[rows] : null;
        const int Batch = 4096;
        using var scorer = network.CreateBatchScorer(Math.Max(1, Math.Min(rows, Batch)));
        int filled = 0, done = 0, f = network.InputSize, k = network.OutputSize;
        void Flush()
        {
            if (filled > 0)
            {
                scorer.Forward(filled).CopyTo(outputs.AsSpan(done * k, filled * k));
                done += filled;
                filled = 0;
            }
        }
        ForEach((in Row row) =>
        {
            if (done + filled >= rows)
            {
                return;
            }
            row.Features.CopyTo(scorer.Input.Slice(filled * f, f));
            labels[done + filled] = row.Label;
            if (weights is not null)
            {
                weights[done + filled] = row.Weight;
            }
            if (++filled == scorer.Capacity)
            {
                Flush();
            }
        });
        Flush();
        // The network becomes the model: it makes its LibTorch copies again when the model first scores.
        network.Dispose();
        return (outputs, labels, weights);
    }
}

/// <summary>
/// A run's validation after each epoch: the mean validation loss and error of the network being trained, computed with the
/// training step's own forward pass (<see cref="TrainingStep.Forward"/>: the layers' steps, the arithmetic training uses, over
/// the module's current values) in chunks of up to <see cref="Chunk"/> rows, with buffers of its own, the rows copied into
/// LibTorch memory (held-out rows may be streamed again from the source).
/// </summary>
internal sealed class Validator : IDisposable
{
    /// <summary>The most rows one forward pass validates (a small batch size must not mean many small LibTorch calls).</summary>
    public const int Chunk = 4096;

    private readonly ValidationRows _rows;
    private readonly Objective _objective;
    private readonly TrainingStep _step;
    private readonly int _featureCount;
    private readonly Tensor _x, _y;
    private readonly Tensor? _w;

    public Validator(ValidationRows rows, Objective objective, TrainingModule module, int featureCount)
    {
        _rows = rows;
        _objective = objective;
        _featureCount = featureCount;
        int capacity = (int)Math.Max(1, Math.Min(Chunk, rows.Count));
        _step = new TrainingStep(module, objective, capacity, forwardOnly: true);
        _x = empty(capacity, featureCount).DetachFromDisposeScope();
        _y = empty(capacity).DetachFromDisposeScope();
        _w = rows.HasWeights ? empty(capacity).DetachFromDisposeScope() : null;
    }

    /// <summary>Rows that validate.</summary>
    public long Count => _rows.Count;

    /// <summary>The mean validation loss and error over every validation row (with example weights, Σ w·loss / Σ w).</summary>
    public (double Loss, double Error) Run(ITrainingMonitor monitor)
    {
        int f = _featureCount;
        int capacity = (int)_y.shape[0];
        double sum = 0, errors = 0, count = 0;
        int fill = 0;
        void Score()
        {
            monitor.CheckAlive();
            using var scope = NewDisposeScope();
            var x = fill == capacity ? _x : _x.narrow(0, 0, fill);
            var y = fill == capacity ? _y : _y.narrow(0, 0, fill);
            var w = _w is null ? null : fill == capacity ? _w : _w.narrow(0, 0, fill);
            var output = _step.Forward(x, fill);
            sum += _objective.ValidationLossSum(output, y, w);
            errors += _objective.ValidationErrorSum(output, y, w);
            fill = 0;
        }
        _rows.ForEach((in Row row) =>
        {
            row.Features.CopyTo(TensorMemory.Floats(_x).Slice(fill * f, f));
            TensorMemory.Floats(_y)[fill] = _objective.Target(row.Label);
            if (_w is not null)
            {
                TensorMemory.Floats(_w)[fill] = row.Weight;
            }
            count += _w is null ? 1 : row.Weight;
            if (++fill == capacity)
            {
                Score();
            }
        });
        if (fill > 0)
        {
            Score();
        }
        return (sum / count, errors / count);
    }

    public void Dispose()
    {
        _step.Dispose();
        _x.Dispose();
        _y.Dispose();
        _w?.Dispose();
    }
}
