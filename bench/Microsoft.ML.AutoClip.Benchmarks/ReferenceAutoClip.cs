using System;
using System.Collections.Generic;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// The reference implementation's bookkeeping (autoclip.py), written faithfully in C#: the history is a
/// growing list; at every step the norm is appended, the list is copied into an array (np.percentile
/// converts its list argument), and the two order statistics around the virtual index are found by
/// selection (np.percentile partitions, O(n)), then interpolated as NumPy does. With a window, the same
/// over the last N norms.
/// </summary>
public sealed class ReferenceAutoClip
{
    private readonly List<double> _history = new();
    private readonly double _quantile;
    private readonly int? _window;

    public ReferenceAutoClip(double percentile, int? window = null)
    {
        _quantile = percentile / 100;
        _window = window;
    }

    public int Count => _history.Count;

    /// <summary>Appends the norm and returns the percentile; <paramref name="skipPercentile"/> only fills the history (set-up).</summary>
    public double Observe(double norm, bool skipPercentile = false)
    {
        _history.Add(norm);
        if (skipPercentile)
        {
            return double.NaN;
        }
        if (_window is int limit && _history.Count > 2 * limit)
        {
            _history.RemoveRange(0, _history.Count - limit); // keeps memory bounded without changing the window
        }
        int start = _window is int w && _history.Count > w ? _history.Count - w : 0;
        var values = new double[_history.Count - start];
        _history.CopyTo(start, values, 0, values.Length);
        return Percentile(values, _quantile);
    }

    /// <summary>numpy.percentile(values, 100·q), default linear method; reorders <paramref name="values"/>.</summary>
    public static double Percentile(double[] values, double quantile)
    {
        int n = values.Length;
        double virtualIndex = (n - 1) * quantile;
        int below = (int)Math.Floor(virtualIndex);
        int above = Math.Min(below + 1, n - 1);
        double gamma = virtualIndex - below;
        Select(values, 0, n - 1, below);
        double a = values[below];
        double b = a;
        if (above > below)
        {
            // After selection every value right of 'below' is >= a: the next order statistic is their minimum.
            b = double.PositiveInfinity;
            for (int i = below + 1; i < n; i++)
            {
                b = Math.Min(b, values[i]);
            }
        }
        double diff = b - a;
        return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
    }

    /// <summary>Hoare's quickselect with a median-of-three pivot: values[k] ends up as the k-th smallest.</summary>
    private static void Select(double[] values, int left, int right, int k)
    {
        while (right > left)
        {
            int mid = left + (right - left) / 2;
            double pivot = Median(values[left], values[mid], values[right]);
            int i = left, j = right;
            while (i <= j)
            {
                while (values[i] < pivot) i++;
                while (values[j] > pivot) j--;
                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }
            if (k <= j) right = j;
            else if (k >= i) left = i;
            else return;
        }
    }

    private static double Median(double a, double b, double c) => Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c));
}
