using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>
/// The reference algorithm written out the slow, obvious way: sort the whole history and apply
/// numpy.percentile's default "linear" method (numpy/lib/_function_base_impl.py: _get_indexes,
/// _get_gamma, _lerp), as autoclip.py does at every step.
/// </summary>
internal static class NumPyReference
{
    public static double Percentile(IEnumerable<double> values, double p)
    {
        double[] sorted = values.ToArray();
        Array.Sort(sorted);
        int n = sorted.Length;
        double q = p / 100;
        double virtualIndex = (n - 1) * q;
        int previous = (int)Math.Floor(virtualIndex);
        int next = previous + 1;
        if (virtualIndex >= n - 1)
        {
            previous = next = n - 1;
        }
        double gamma = virtualIndex - Math.Floor(virtualIndex);
        double a = sorted[previous], b = sorted[next];
        double diff = b - a;
        return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
    }

    /// <summary>The thresholds autoclip.py produces for a sequence of norms (append, then percentile).</summary>
    public static double[] Thresholds(IReadOnlyList<double> norms, double p, int? window = null)
    {
        var result = new double[norms.Count];
        for (int t = 0; t < norms.Count; t++)
        {
            int start = window is int w ? Math.Max(0, t + 1 - w) : 0;
            result[t] = Percentile(norms.Skip(start).Take(t + 1 - start), p);
        }
        return result;
    }
}
