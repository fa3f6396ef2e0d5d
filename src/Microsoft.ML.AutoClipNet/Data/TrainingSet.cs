using System;
using System.Collections.Generic;

namespace Microsoft.ML.AutoClipNet.Data;

/// <summary>How a <see cref="TrainingSet"/> is read.</summary>
/// <param name="MaxRowsInMemory">Above this many rows (training and held-out together) the rows are not kept: every epoch streams them again from the source.</param>
/// <param name="ValidationFraction">Share of the rows held out for validation (a seeded hash of the row position, so the same rows at every pass).</param>
/// <param name="Seed">Seed of the hold-out and of the statistics' sample.</param>
/// <param name="ClassCount">Number of classes (0 for regression): the label is a class index 0..ClassCount−1.</param>
/// <param name="SampleQuantiles">Keep a sample of the features for robust scaling's quartiles.</param>
internal sealed record TrainingSetOptions(long MaxRowsInMemory, double ValidationFraction, int Seed, int ClassCount, bool SampleQuantiles);

/// <summary>Statistics of the label over the training rows.</summary>
internal sealed class LabelStatistics
{
    private double _m2;

    public LabelStatistics(int classCount) => ClassCounts = new long[classCount];

    public long Count { get; private set; }

    public double Mean { get; private set; }

    /// <summary>The sample standard deviation (n − 1; 0 for fewer than two rows).</summary>
    public double StandardDeviation => Count > 1 ? Math.Sqrt(_m2 / (Count - 1)) : 0;

    public float Min { get; private set; } = float.PositiveInfinity;

    public float Max { get; private set; } = float.NegativeInfinity;

    /// <summary>Rows per class (classification).</summary>
    public long[] ClassCounts { get; }

    public void Add(float label)
    {
        Count++;
        double delta = label - Mean;
        Mean += delta / Count;
        _m2 += delta * (label - Mean);
        Min = Math.Min(Min, label);
        Max = Math.Max(Max, label);
        if (ClassCounts.Length > 0)
        {
            ClassCounts[(int)label]++;
        }
    }
}

/// <summary>
/// The training rows read once: which rows are held out for validation, the statistics of the
/// training rows (never of the validation rows), and the rows themselves packed in two contiguous
/// arrays when there are at most <see cref="TrainingSetOptions.MaxRowsInMemory"/> of them; otherwise
/// they are streamed again from the source at every epoch, and memory stays bounded.
/// </summary>
internal sealed class TrainingSet
{
    private const int ChunkRows = 4096;

    private readonly IRowSource _source;
    private readonly TrainingSetOptions _options;

    private TrainingSet(IRowSource source, TrainingSetOptions options)
    {
        _source = source;
        _options = options;
        FeatureCount = source.FeatureCount;
        Features = new FeatureStatistics(FeatureCount, options.Seed, options.SampleQuantiles);
        Label = new LabelStatistics(options.ClassCount);
    }

    public int FeatureCount { get; }

    public FeatureStatistics Features { get; }

    public LabelStatistics Label { get; }

    /// <summary>Rows trained on.</summary>
    public long TrainingRows => Label.Count;

    /// <summary>Rows held out by the validation fraction.</summary>
    public long ValidationRows { get; private set; }

    /// <summary>Rows the source skipped (non-finite or missing values, when asked to skip them).</summary>
    public long DroppedRows { get; private set; }

    /// <summary>Training rows, row-major, when packed; null when streamed.</summary>
    public float[]? X { get; private set; }

    /// <summary>Training labels when packed.</summary>
    public float[]? Y { get; private set; }

    /// <summary>The held-out rows, row-major, when packed (empty when streamed or when nothing is held out).</summary>
    public float[] ValidationX { get; private set; } = Array.Empty<float>();

    public float[] ValidationY { get; private set; } = Array.Empty<float>();

    public bool IsPacked => X is not null;

    /// <summary>Reads every row of <paramref name="source"/> once.</summary>
    /// <exception cref="InvalidOperationException">No row is left to train on.</exception>
    public static TrainingSet Read(IRowSource source, TrainingSetOptions options, string dataName)
    {
        var set = new TrainingSet(source, options);
        set.ReadAll(dataName);
        return set;
    }

    /// <summary>Whether the row at <paramref name="position"/> is held out for validation (a seeded hash: the same rows in every pass).</summary>
    public bool IsValidationRow(long position) => IsHeldOut(position, _options.Seed, _options.ValidationFraction);

    internal static bool IsHeldOut(long position, int seed, double fraction)
    {
        if (fraction <= 0)
        {
            return false;
        }
        ulong h = (ulong)position * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)seed * 0xC2B2AE3D27D4EB4FUL;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 32;
        return (h >> 11) * (1.0 / (1UL << 53)) < fraction;
    }

    private void ReadAll(string dataName)
    {
        int f = FeatureCount;
        var chunks = new List<float[]>();
        var labels = new List<float>();
        var chunk = new float[ChunkRows * f];
        int chunkFill = 0;
        bool packing = true;
        var validationX = new List<float>();
        var validationY = new List<float>();

        DroppedRows = _source.ForEachRow((ReadOnlySpan<float> row, float label, long position) =>
        {
            if (packing && Label.Count + ValidationRows >= _options.MaxRowsInMemory)
            {
                packing = false;
                chunks.Clear();
                labels.Clear();
                chunk = Array.Empty<float>();
                validationX.Clear();
                validationY.Clear();
            }
            if (IsValidationRow(position))
            {
                if (packing)
                {
                    foreach (float v in row)
                    {
                        validationX.Add(v);
                    }
                    validationY.Add(label);
                }
                ValidationRows++;
                return;
            }
            Features.Add(row);
            Label.Add(label);
            if (packing)
            {
                if (chunkFill == chunk.Length)
                {
                    chunks.Add(chunk);
                    chunk = new float[ChunkRows * f];
                    chunkFill = 0;
                }
                row.CopyTo(chunk.AsSpan(chunkFill, f));
                chunkFill += f;
                labels.Add(label);
            }
        });

        if (Label.Count == 0)
        {
            throw new InvalidOperationException(
                DroppedRows > 0 ? $"Every one of the {DroppedRows} rows of the {dataName} has a missing, NaN or infinite value, so no row is left to train on."
                : ValidationRows > 0 ? $"Every one of the {ValidationRows} rows of the {dataName} was held out for validation; lower ValidationFraction or give more rows."
                : $"The {dataName} has no rows.");
        }
        if (packing)
        {
            var all = new float[Label.Count * f];
            int offset = 0;
            foreach (var full in chunks)
            {
                full.CopyTo(all, offset);
                offset += full.Length;
            }
            Array.Copy(chunk, 0, all, offset, chunkFill);
            X = all;
            Y = labels.ToArray();
        }
        ValidationX = validationX.ToArray();
        ValidationY = validationY.ToArray();
    }

    /// <summary>Streams the training rows (not the held-out ones) again from the source, in order.</summary>
    public void ForEachTrainingRow(RowAction action)
    {
        if (IsPacked)
        {
            int f = FeatureCount;
            for (int i = 0; i < Y!.Length; i++)
            {
                action(X.AsSpan(i * f, f), Y[i], i);
            }
            return;
        }
        _source.ForEachRow((ReadOnlySpan<float> row, float label, long position) =>
        {
            if (!IsValidationRow(position))
            {
                action(row, label, position);
            }
        });
    }

    /// <summary>The held-out rows, from memory or streamed again from the source.</summary>
    public void ForEachValidationRow(RowAction action)
    {
        if (ValidationRows == 0)
        {
            return;
        }
        if (IsPacked)
        {
            int f = FeatureCount;
            for (int i = 0; i < ValidationY.Length; i++)
            {
                action(ValidationX.AsSpan(i * f, f), ValidationY[i], i);
            }
            return;
        }
        _source.ForEachRow((ReadOnlySpan<float> row, float label, long position) =>
        {
            if (IsValidationRow(position))
            {
                action(row, label, position);
            }
        });
    }
}
