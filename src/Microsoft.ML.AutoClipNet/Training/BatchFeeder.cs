using System;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>A batch of rows in LibTorch memory: features (rows × F), training targets and, when the rows carry weights, their weights.</summary>
internal readonly record struct Batch(Tensor X, Tensor Y, Tensor? Weights, int Rows);

/// <summary>
/// Deals an epoch's training rows into batches, in a seeded random order: packed rows are shuffled whole; streamed rows go
/// through a shuffle pool of <see cref="Recipe.ShufflePoolSize"/> rows (each incoming row replaces a random row of the pool,
/// which goes into the batch), so memory stays bounded by the pool. The batch is assembled straight in LibTorch memory (see
/// <see cref="TensorMemory"/>); the epoch's last, smaller batch is a step of its own unless the recipe drops it (and the epoch
/// already had a step).
/// </summary>
internal sealed class BatchFeeder : IDisposable
{
    private readonly TrainingSet _train;
    private readonly Objective _objective;
    private readonly Recipe _recipe;
    private readonly Random _random;
    private readonly int _featureCount;
    private readonly Tensor _x, _y;
    private readonly Tensor? _w;
    private readonly float _weightScale;
    private Action<Batch> _step = _ => { };
    private int _fill;
    private int _batches;

    public BatchFeeder(TrainingSet train, Objective objective, Recipe recipe, int seed)
    {
        _train = train;
        _objective = objective;
        _recipe = recipe;
        _random = new Random(seed);
        _featureCount = train.FeatureCount;
        _x = empty(recipe.BatchSize, _featureCount).DetachFromDisposeScope();
        _y = empty(recipe.BatchSize).DetachFromDisposeScope();
        _w = train.HasWeights ? empty(recipe.BatchSize).DetachFromDisposeScope() : null;
        // Example weights rescaled to mean 1 over the training rows: the loss keeps the scale of unweighted training.
        _weightScale = train.HasWeights ? (float)(train.Label.Count / train.Label.WeightSum) : 1f;
    }

    /// <summary>Steps per epoch when every training row is used (the last partial batch dropped or not).</summary>
    public long StepsPerEpoch
    {
        get
        {
            long rows = _train.TrainingRows;
            long batch = _recipe.BatchSize;
            long full = rows / batch;
            return full == 0 ? 1 : _recipe.DropLastPartialBatch || rows % batch == 0 ? full : full + 1;
        }
    }

    /// <summary>One pass over the training rows, calling <paramref name="step"/> for every batch; returns the number of batches.</summary>
    public int RunEpoch(Action<Batch> step)
    {
        _step = step;
        _batches = 0;
        _fill = 0;
        if (_train.IsPacked)
        {
            RunPacked();
        }
        else
        {
            RunStreamed();
        }
        int n = _fill;
        _fill = 0;
        if (n > 0 && (!_recipe.DropLastPartialBatch || _batches == 0))
        {
            Emit(n);
        }
        return _batches;
    }

    private void Shuffle(int[] values)
    {
        for (int i = values.Length - 1; i > 0; i--)
        {
            int j = _random.Next(i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    private static int[] Identity(int count)
    {
        var order = new int[count];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        return order;
    }

    private void RunPacked()
    {
        var x = _train.X!;
        var y = _train.Y!;
        var w = _train.W;
        var order = Identity(y.Length);
        Shuffle(order);
        int f = _featureCount;
        foreach (int row in order)
        {
            Add(x.AsSpan(row * f, f), y[row], w?[row] ?? 1f);
        }
    }

    private void RunStreamed()
    {
        int f = _featureCount;
        int poolSize = (int)Math.Min(_recipe.ShufflePoolSize, _train.TrainingRows);
        var poolX = new float[(long)poolSize * f];
        var poolY = new float[poolSize];
        var poolW = _w is null ? null : new float[poolSize];
        int poolFill = 0;
        _train.ForEachTrainingRow((in Row row) =>
        {
            if (poolFill < poolSize)
            {
                row.Features.CopyTo(poolX.AsSpan(poolFill * f, f));
                poolY[poolFill] = row.Label;
                if (poolW is not null)
                {
                    poolW[poolFill] = row.Weight;
                }
                poolFill++;
                return;
            }
            int j = _random.Next(poolSize);
            Add(poolX.AsSpan(j * f, f), poolY[j], poolW?[j] ?? 1f);
            row.Features.CopyTo(poolX.AsSpan(j * f, f));
            poolY[j] = row.Label;
            if (poolW is not null)
            {
                poolW[j] = row.Weight;
            }
        });
        var rest = Identity(poolFill);
        Shuffle(rest);
        foreach (int j in rest)
        {
            Add(poolX.AsSpan(j * f, f), poolY[j], poolW?[j] ?? 1f);
        }
    }

    private void Add(ReadOnlySpan<float> features, float label, float weight)
    {
        int f = _featureCount;
        features.CopyTo(TensorMemory.Floats(_x).Slice(_fill * f, f));
        TensorMemory.Floats(_y)[_fill] = _objective.Target(label);
        if (_w is not null)
        {
            TensorMemory.Floats(_w)[_fill] = weight * _weightScale;
        }
        if (++_fill == _recipe.BatchSize)
        {
            Emit(_fill);
            _fill = 0;
        }
    }

    /// <summary>A step on the first <paramref name="rows"/> rows of the batch tensors.</summary>
    private void Emit(int rows)
    {
        _batches++;
        using var scope = NewDisposeScope();
        bool full = rows == _recipe.BatchSize;
        _step(new Batch(full ? _x : _x.narrow(0, 0, rows), full ? _y : _y.narrow(0, 0, rows), _w is null ? null : full ? _w : _w.narrow(0, 0, rows), rows));
    }

    public void Dispose()
    {
        _x.Dispose();
        _y.Dispose();
        _w?.Dispose();
    }
}
