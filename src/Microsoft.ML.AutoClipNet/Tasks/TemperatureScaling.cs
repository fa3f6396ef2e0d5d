using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;

namespace Microsoft.ML.AutoClipNet.Tasks;

/// <summary>The rows a calibration is fitted on: the networks' raw outputs (rows × <see cref="Classes"/>, 1 for a logit), labels and weights.</summary>
internal sealed record CalibrationRows(float[] Outputs, float[] Labels, float[] Weights, int Classes)
{
    public int Count => Labels.Length;
}

/// <summary>
/// Temperature scaling (Guo et al., ICML 2017) of a classifier's logits on held-out rows: one slope s &gt; 0 that multiplies the
/// logits before the sigmoid (binary) or the softmax (multiclass), fitted by Newton's method on the rows' log-loss. s never
/// changes which class scores highest; it only makes the probabilities as confident as the held-out rows say they should be.
/// </summary>
internal static class TemperatureScaling
{
    /// <summary>
    /// The outputs, labels and weights the slope is fitted on: each network's outputs on its own validation rows (an ensemble's
    /// member on the rows it held out, so every output is out of fold), at most <paramref name="maxRows"/> rows in all, shared
    /// among the networks in order; with an explicit validation set, which every member saw, the members' mean output on each of
    /// its rows (the ensemble's). Weights are rescaled to mean 1 (all 1 without example weights).
    /// </summary>
    public static CalibrationRows OutOfFold(IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> sets, int maxRows)
    {
        var outputs = new List<float>();
        var labels = new List<float>();
        var weights = new List<float>();
        int classes = sets[0].Network.OutputSize;
        if (sets.Count > 1 && sets[0].Rows.IsExplicit)
        {
            // An explicit validation set: every member was validated on the same rows, none of them trained on. Their mean output
            // is the ensemble's (as the model averages), each row counted once.
            float[]? total = null;
            float[] sharedLabels = Array.Empty<float>();
            float[]? sharedWeights = null;
            foreach (var (network, rows) in sets)
            {
                var (memberOutputs, memberLabels, memberWeights) = rows.Score(network, maxRows);
                if (total is null)
                {
                    total = memberOutputs;
                    (sharedLabels, sharedWeights) = (memberLabels, memberWeights);
                }
                else
                {
                    for (int j = 0; j < total.Length; j++)
                    {
                        total[j] += memberOutputs[j];
                    }
                }
            }
            float inverse = 1f / sets.Count;
            outputs.AddRange(total!.Select(v => v * inverse));
            labels.AddRange(sharedLabels);
            weights.AddRange(sharedWeights ?? Enumerable.Repeat(1f, sharedLabels.Length).ToArray());
        }
        for (int i = 0; i < sets.Count && !(sets.Count > 1 && sets[0].Rows.IsExplicit); i++)
        {
            int share = (maxRows - labels.Count) / (sets.Count - i);
            var (rowOutputs, rowLabels, rowWeights) = sets[i].Rows.Score(sets[i].Network, share);
            outputs.AddRange(rowOutputs);
            labels.AddRange(rowLabels);
            if (rowWeights is null)
            {
                for (int r = 0; r < rowLabels.Length; r++)
                {
                    weights.Add(1f);
                }
            }
            else
            {
                weights.AddRange(rowWeights);
            }
        }
        var w = weights.ToArray();
        double sum = 0;
        foreach (float v in w)
        {
            sum += v;
        }
        if (sum > 0 && sum != w.Length)
        {
            float scale = (float)(w.Length / sum);
            for (int i = 0; i < w.Length; i++)
            {
                w[i] *= scale;
            }
        }
        return new CalibrationRows(outputs.ToArray(), labels.ToArray(), w, classes);
    }

    /// <summary>
    /// The slope s > 0 that minimises the (weighted) log-loss of sigmoid(s·z) on the rows (logits z, labels 0/1): the inverse of
    /// the temperature. As in Platt (1999), the targets are (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2) rather than 1 and 0 (N counting
    /// weights), so that a few validation rows, all classified right, do not make the probabilities 0 or 1. The loss is convex
    /// in s; Newton's method from s = 1, kept within [1/1000, 1000]. Without <paramref name="weights"/> every weight is 1.
    /// </summary>
    public static double FitSlope(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, ReadOnlySpan<float> weights = default)
    {
        CheckLengths(logits.Length, labels, weights);
        if (logits.Length == 0)
        {
            return 1;
        }
        double positives = 0, all = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            double w = Weight(weights, i);
            positives += labels[i] > 0.5f ? w : 0;
            all += w;
        }
        double high = (positives + 1.0) / (positives + 2.0), low = 1.0 / (all - positives + 2.0);
        float[] zs = logits.ToArray(), ys = labels.ToArray(), ws = weights.ToArray();
        return Newton((double s, out double curvature) =>
        {
            double gradient = 0;
            curvature = 0;
            for (int i = 0; i < zs.Length; i++)
            {
                double z = zs[i], y = ys[i] > 0.5f ? high : low, w = Weight(ws, i);
                double p = Sigmoid(s * z);
                gradient += w * (p - y) * z;
                curvature += w * p * (1 - p) * z * z;
            }
            return gradient;
        });
    }

    /// <summary>The (weighted) mean log-loss (nats) of sigmoid(s·z).</summary>
    public static double LogLoss(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, double slope, ReadOnlySpan<float> weights = default)
    {
        double sum = 0, all = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double t = slope * logits[i], w = Weight(weights, i);
            // −log σ(t) = softplus(−t); −log(1 − σ(t)) = softplus(t).
            sum += w * (labels[i] > 0.5f ? Softplus(-t) : Softplus(t));
            all += w;
        }
        return logits.Length == 0 ? double.NaN : sum / all;
    }

    /// <summary>
    /// The slope s > 0 that minimises the weighted log-loss of softmax(s·z) over <paramref name="classes"/> logits per row
    /// (labels are class indices). As for the binary slope, the targets are softened the way Platt's are, per class: a row of
    /// class c aims at (N_c + 1)/(N_c + 2) for its class and shares the rest evenly among the others, so that held-out rows
    /// that are all classified right do not drive the probabilities to 0 and 1. Gradient Σ w (E_p[z] − E_t[z]), curvature
    /// Σ w Var_p(z): convex in s; Newton's method from s = 1 within [1/1000, 1000].
    /// </summary>
    public static double FitSoftmaxSlope(ReadOnlySpan<float> logits, int classes, ReadOnlySpan<float> labels, ReadOnlySpan<float> weights = default)
    {
        CheckLengths(logits.Length / classes, labels, weights);
        if (labels.Length == 0)
        {
            return 1;
        }
        var perClass = new double[classes];
        for (int i = 0; i < labels.Length; i++)
        {
            perClass[(int)labels[i]] += Weight(weights, i);
        }
        var target = new double[classes];
        var p = new double[classes];
        for (int c = 0; c < classes; c++)
        {
            target[c] = (perClass[c] + 1.0) / (perClass[c] + 2.0);
        }
        float[] z = logits.ToArray();
        float[] y = labels.ToArray();
        float[] weight = weights.ToArray();
        return Newton((double s, out double curvature) =>
        {
            double gradient = 0;
            curvature = 0;
            for (int i = 0; i < y.Length; i++)
            {
                var row = z.AsSpan(i * classes, classes);
                Softmax(row, s, p);
                int label = (int)y[i];
                double mean = 0, square = 0, sum = 0;
                for (int c = 0; c < classes; c++)
                {
                    mean += p[c] * row[c];
                    square += p[c] * row[c] * row[c];
                    sum += row[c];
                }
                // E_t[z] with the true class at t and the rest (1 − t) shared evenly.
                double t = target[label];
                double aimed = t * row[label] + (1 - t) * (sum - row[label]) / (classes - 1);
                double w = Weight(weight, i);
                gradient += w * (mean - aimed);
                curvature += w * Math.Max(0, square - mean * mean);
            }
            return gradient;
        });
    }

    /// <summary>The (weighted) mean log-loss (nats) of softmax(s·z) against the class indices.</summary>
    public static double SoftmaxLogLoss(ReadOnlySpan<float> logits, int classes, ReadOnlySpan<float> labels, double slope, ReadOnlySpan<float> weights = default)
    {
        double sum = 0, all = 0;
        var p = new double[classes];
        for (int i = 0; i < labels.Length; i++)
        {
            var row = logits.Slice(i * classes, classes);
            double max = double.NegativeInfinity;
            foreach (float v in row)
            {
                max = Math.Max(max, slope * v);
            }
            double total = 0;
            foreach (float v in row)
            {
                total += Math.Exp(slope * v - max);
            }
            double w = Weight(weights, i);
            sum += w * (max + Math.Log(total) - slope * row[(int)labels[i]]);
            all += w;
        }
        return labels.Length == 0 ? double.NaN : sum / all;
    }

    private delegate double Derivatives(double s, out double curvature);

    private static double Newton(Derivatives derivatives)
    {
        double s = 1;
        for (int iteration = 0; iteration < 50; iteration++)
        {
            double gradient = derivatives(s, out double curvature);
            if (curvature <= 1e-12)
            {
                break;
            }
            double next = Math.Clamp(s - gradient / curvature, s / 4, s * 4);
            next = Math.Clamp(next, 1e-3, 1e3);
            bool converged = Math.Abs(next - s) <= 1e-9 * s;
            s = next;
            if (converged)
            {
                break;
            }
        }
        return s;
    }

    private static void Softmax(ReadOnlySpan<float> z, double s, double[] p)
    {
        double max = double.NegativeInfinity;
        foreach (float v in z)
        {
            max = Math.Max(max, s * v);
        }
        double total = 0;
        for (int c = 0; c < z.Length; c++)
        {
            p[c] = Math.Exp(s * z[c] - max);
            total += p[c];
        }
        for (int c = 0; c < z.Length; c++)
        {
            p[c] /= total;
        }
    }

    private static void CheckLengths(int rows, ReadOnlySpan<float> labels, ReadOnlySpan<float> weights)
    {
        if (rows != labels.Length || (!weights.IsEmpty && weights.Length != labels.Length))
        {
            throw new ArgumentException("One label (and one weight, when weighted) per row of outputs.");
        }
    }

    private static double Weight(ReadOnlySpan<float> weights, int i) => weights.IsEmpty ? 1.0 : weights[i];

    private static double Sigmoid(double t) => t >= 0 ? 1 / (1 + Math.Exp(-t)) : Math.Exp(t) / (1 + Math.Exp(t));

    private static double Softplus(double t) => t > 0 ? t + Math.Log(1 + Math.Exp(-t)) : Math.Log(1 + Math.Exp(t));
}
