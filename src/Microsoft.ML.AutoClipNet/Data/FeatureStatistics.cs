using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.AutoClipNet.Data;

/// <summary>
/// Per-feature statistics of the training rows, gathered in one pass with bounded memory: mean and
/// standard deviation (Welford, double precision), minimum and maximum, whether the feature only ever
/// takes the values 0 and 1 (a one-hot slot), and the quartiles of a fixed-size uniform sample.
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
internal sealed class FeatureStatistics
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
            double delta = value - _mean[j];
            _mean[j] += delta / _count;
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

    public double Mean(int feature) => _mean[feature];

    /// <summary>The sample standard deviation (n − 1; 0 for fewer than two rows).</summary>
    public double StandardDeviation(int feature) => _count > 1 ? Math.Sqrt(_m2[feature] / (_count - 1)) : 0;

    public float Min(int feature) => _min[feature];

    public float Max(int feature) => _max[feature];

    /// <summary>True when every value of the feature is 0 or 1 (one-hot slots, indicator columns).</summary>
    public bool IsBinary(int feature) => _binary[feature];

    /// <summary>
    /// The q-quantile (0 ≤ q ≤ 1) of the feature over the sample, with NumPy's default linear
    /// interpolation between the two nearest sorted values.
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
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = _sample[i * _features + feature];
        }
        Array.Sort(values);
        return values;
    }

    internal static double QuantileOfSorted(float[] sorted, double q)
    {
        double index = (sorted.Length - 1) * q;
        int below = (int)Math.Floor(index);
        int above = Math.Min(below + 1, sorted.Length - 1);
        double fraction = index - below;
        return sorted[below] + (sorted[above] - (double)sorted[below]) * fraction;
    }
}
