using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.AutoClipNet.Data;

/// <summary>
/// Per-feature statistics of the training rows, gathered in one pass with bounded memory: mean and
/// standard deviation (Welford, double precision), minimum and maximum, whether the feature only ever
/// takes the values 0 and 1 (a one-hot slot), and the quartiles of a fixed-size uniform sample. A NaN is a
/// missing value: it is counted (<see cref="MissingCount"/>) and left out of every statistic of its feature,
/// which are those of the values present (without a NaN the arithmetic is the same, bit for bit, as before NaN
/// was allowed).
/// </summary>
/// <remarks>
/// The quartiles come from a reservoir sample of at most <see cref="MaxSampleSize"/> rows (Vitter's
/// algorithm R, seeded, so the sample is the same in every run). It is exact whenever the training
/// rows fit in the sample, and otherwise an unbiased sample whose quartiles are accurate to about
/// 1/√(sample size) in rank (0.4% of the rows at 65,536): far finer than robust scaling needs, in at
/// most <see cref="MaxSampleValues"/> floats (64 MB) whatever the number of rows; very wide data gets
/// fewer sample rows (at least <see cref="MinSampleSize"/>). A quantile sketch (t-digest, KLL) would save
/// memory for very wide data but gives different answers for different insertion orders and needs
/// its own error analysis; a sample is simpler, exact for ordinary sizes and the same whether the
/// rows were packed in memory or streamed.
/// </remarks>
internal sealed class FeatureStatistics : IColumnStatistics
{
    public const int MaxSampleSize = 65_536;
    public const int MinSampleSize = 1_024;
    public const long MaxSampleValues = 16L << 20;

    private readonly int _features;
    private readonly double[] _mean;
    private readonly double[] _m2;
    private readonly float[] _min;
    private readonly float[] _max;
    private readonly bool[] _binary;
    private readonly long[] _present;
    private float[] _sample = Array.Empty<float>(); // row-major, _sampledRows × _features
    private int _sampledRows;
    private bool _released;
    private readonly Random _random;
    private readonly int _sampleSize;
    private long _count;

    /// <param name="features">Values per row.</param>
    /// <param name="seed">Seed of the reservoir sample.</param>
    /// <param name="sampleQuantiles">Keep the sample for <see cref="Quartiles"/> (robust scaling); otherwise only moments and ranges.</param>
    public FeatureStatistics(int features, int seed, bool sampleQuantiles)
    {
        _sampleSize = sampleQuantiles ? (int)Math.Clamp(MaxSampleValues / Math.Max(1, features), MinSampleSize, MaxSampleSize) : 0;
        _features = features;
        _mean = new double[features];
        _m2 = new double[features];
        _min = new float[features];
        _max = new float[features];
        _binary = new bool[features];
        _present = new long[features];
        Array.Fill(_min, float.PositiveInfinity);
        Array.Fill(_max, float.NegativeInfinity);
        Array.Fill(_binary, true);
        _random = new Random(unchecked(seed * 31 + 17));
    }

    /// <summary>Rows seen.</summary>
    public long Count => _count;

    /// <summary>Values per row.</summary>
    public int FeatureCount => _features;

    /// <summary>Rows in the quantile sample (all rows when they fit).</summary>
    public int SampledRows => _sampledRows;

    public void Add(ReadOnlySpan<float> row)
    {
        _count++;
        for (int j = 0; j < _features; j++)
        {
            float value = row[j];
            if (float.IsNaN(value))
            {
                continue;
            }
            long n = ++_present[j];
            double delta = value - _mean[j];
            _mean[j] += delta / n;
            _m2[j] += delta * (value - _mean[j]);
            if (value < _min[j])
            {
                _min[j] = value;
            }
            if (value > _max[j])
            {
                _max[j] = value;
            }
            if (value != 0f && value != 1f)
            {
                _binary[j] = false;
            }
        }
        // Reservoir sampling: the first SampleSize rows fill it, row n replaces a random one with probability SampleSize/n.
        if (_sampleSize == 0)
        {
            return;
        }
        if (_released)
        {
            throw new InvalidOperationException("The quantile sample was released.");
        }
        if (_sampledRows < _sampleSize)
        {
            long needed = (long)(_sampledRows + 1) * _features;
            if (needed > _sample.Length)
            {
                // Doubling, at least one more row (a row can hold more than 1,024 values), at most the whole sample.
                Array.Resize(ref _sample, (int)Math.Min((long)_sampleSize * _features, Math.Max(needed, Math.Max(1024L, 2L * _sample.Length))));
            }
            row.CopyTo(_sample.AsSpan(_sampledRows++ * _features, _features));
        }
        else
        {
            long slot = _random.NextInt64(_count);
            if (slot < _sampleSize)
            {
                row.CopyTo(_sample.AsSpan((int)slot * _features, _features));
            }
        }
    }

    /// <summary>Rows whose value of the feature is missing (NaN).</summary>
    public long MissingCount(int feature) => _count - _present[feature];

    /// <summary>Whether any feature had a missing value.</summary>
    public bool AnyMissing => _present.Any(n => n != _count);

    /// <summary>The mean of the values present (0 when none is).</summary>
    public double Mean(int feature) => _mean[feature];

    /// <summary>The sample standard deviation of the values present (n − 1; 0 for fewer than two).</summary>
    public double StandardDeviation(int feature) => _present[feature] > 1 ? Math.Sqrt(_m2[feature] / (_present[feature] - 1)) : 0;

    /// <summary>The smallest value present (+∞ when none is).</summary>
    public float Min(int feature) => _min[feature];

    /// <summary>The largest value present (−∞ when none is).</summary>
    public float Max(int feature) => _max[feature];

    /// <summary>True when every value of the feature is 0 or 1 (one-hot slots, indicator columns).</summary>
    public bool IsBinary(int feature) => _binary[feature];

    /// <summary>
    /// The q-quantile (0 ≤ q ≤ 1) of the feature's values present in the sample, with NumPy's default linear
    /// interpolation between the two nearest sorted values (0 when the sample holds none).
    /// </summary>
    public double Quantile(int feature, double q)
    {
        var values = SortedSample(feature);
        return QuantileOfSorted(values, q);
    }

    /// <summary>The <paramref name="q"/>-quantiles of the feature (each 0 to 1), sorting the sample once.</summary>
    public double[] Quantiles(int feature, IReadOnlyList<double> q)
    {
        var values = SortedSample(feature);
        return q.Select(p => QuantileOfSorted(values, p)).ToArray();
    }

    /// <summary>Median and the 25% and 75% quantiles, sorting the sample once.</summary>
    public (double Q25, double Median, double Q75) Quartiles(int feature)
    {
        var values = SortedSample(feature);
        return (QuantileOfSorted(values, 0.25), QuantileOfSorted(values, 0.5), QuantileOfSorted(values, 0.75));
    }

    /// <summary>
    /// The <paramref name="q"/>-quantiles of feature <paramref name="feature"/>'s missing-value indicator (1 where the value is
    /// NaN, else 0) over the sample.
    /// </summary>
    public double[] IndicatorQuantiles(int feature, IReadOnlyList<double> q)
    {
        if (_sampledRows == 0 || _released)
        {
            throw new InvalidOperationException(_released ? "The quantile sample was released." : "These statistics keep no sample for quantiles.");
        }
        int missing = 0;
        for (int i = 0; i < _sampledRows; i++)
        {
            missing += float.IsNaN(_sample[i * _features + feature]) ? 1 : 0;
        }
        var sorted = new float[_sampledRows];
        sorted.AsSpan(_sampledRows - missing).Fill(1f);
        return q.Select(p => QuantileOfSorted(sorted, p)).ToArray();
    }

    /// <summary>Frees the quantile sample once the quantiles are taken (it is the statistics' one large part; training does not need it).</summary>
    public void ReleaseSample()
    {
        _sample = Array.Empty<float>();
        _released = true;
    }

    private float[] SortedSample(int feature)
    {
        if (_sampledRows == 0 || _released)
        {
            throw new InvalidOperationException(_released ? "The quantile sample was released." : _sampleSize == 0 ? "These statistics keep no sample for quantiles." : "No rows were seen.");
        }
        var values = new float[_sampledRows];
        int present = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float value = _sample[i * _features + feature];
            if (!float.IsNaN(value))
            {
                values[present++] = value;
            }
        }
        if (present < values.Length)
        {
            Array.Resize(ref values, present);
        }
        Array.Sort(values);
        return values;
    }

    internal static double QuantileOfSorted(float[] sorted, double q)
    {
        if (sorted.Length == 0)
        {
            return 0;
        }
        double index = (sorted.Length - 1) * q;
        int below = (int)Math.Floor(index);
        int above = Math.Min(below + 1, sorted.Length - 1);
        double fraction = index - below;
        return sorted[below] + (sorted[above] - (double)sorted[below]) * fraction;
    }
}

/// <summary>What the network builder reads of the columns its first layers see (the features, and any indicator of a missing value).</summary>
internal interface IColumnStatistics
{
    int FeatureCount { get; }

    double Mean(int column);

    double StandardDeviation(int column);

    float Min(int column);

    float Max(int column);

    bool IsBinary(int column);

    double[] Quantiles(int column, IReadOnlyList<double> q);

    (double Q25, double Median, double Q75) Quartiles(int column);
}

/// <summary>
/// The features' statistics followed by those of a 0/1 indicator for each of <paramref name="indicated"/> (1 where the feature is
/// missing): the columns the layers after a missing-value layer see, the indicators' statistics computed from the missing counts
/// and the quantile sample as if they had been columns of the data.
/// </summary>
internal sealed class IndicatedStatistics(FeatureStatistics features, IReadOnlyList<int> indicated) : IColumnStatistics
{
    public int FeatureCount => features.FeatureCount + indicated.Count;

    private double Share(int column) => features.Count == 0 ? 0 : (double)features.MissingCount(indicated[column - features.FeatureCount]) / features.Count;

    private bool IsIndicator(int column) => column >= features.FeatureCount;

    public double Mean(int column) => IsIndicator(column) ? Share(column) : features.Mean(column);

    public double StandardDeviation(int column)
    {
        if (!IsIndicator(column))
        {
            return features.StandardDeviation(column);
        }
        long n = features.Count;
        double p = Share(column);
        return n > 1 ? Math.Sqrt(p * (1 - p) * n / (n - 1)) : 0;
    }

    public float Min(int column) => IsIndicator(column) ? (Share(column) < 1 ? 0f : 1f) : features.Min(column);

    public float Max(int column) => IsIndicator(column) ? (Share(column) > 0 ? 1f : 0f) : features.Max(column);

    public bool IsBinary(int column) => IsIndicator(column) || features.IsBinary(column);

    public double[] Quantiles(int column, IReadOnlyList<double> q)
        => IsIndicator(column) ? features.IndicatorQuantiles(indicated[column - features.FeatureCount], q) : features.Quantiles(column, q);

    public (double Q25, double Median, double Q75) Quartiles(int column)
    {
        if (!IsIndicator(column))
        {
            return features.Quartiles(column);
        }
        var q = Quantiles(column, new[] { 0.25, 0.5, 0.75 });
        return (q[0], q[1], q[2]);
    }
}
