using System;
using System.Collections.Generic;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>The rows that validate a training run: an explicit validation set's, or the training set's held-out ones.</summary>
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
    /// The network's outputs (rows × OutputSize) and the labels of the first <paramref name="maxRows"/> rows, scored in
    /// batches with the same batched forward as Transform.
    /// </summary>
    public (float[] Outputs, float[] Labels) Score(NetworkDescription network, int maxRows)
    {
        int rows = (int)Math.Min(Count, maxRows);
        var outputs = new float[(long)rows * network.OutputSize];
        var labels = new float[rows];
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
        ForEach((ReadOnlySpan<float> features, float label, long position) =>
        {
            if (done + filled >= rows)
            {
                return;
            }
            features.CopyTo(scorer.Input.Slice(filled * f, f));
            labels[done + filled] = label;
            if (++filled == scorer.Capacity)
            {
                Flush();
            }
        });
        Flush();
        // The network becomes the model: it makes its LibTorch copies again when the model first scores.
        network.Dispose();
        return (outputs, labels);
    }
}

/// <summary>Temperature scaling (Guo et al., ICML 2017) of a binary classifier's logits on held-out rows.</summary>
internal static class Calibration
{
    /// <summary>
    /// The logits and labels the slope is fitted on: each network's outputs on its own validation rows (an ensemble's
    /// member on the rows it held out, so every logit is out of fold), at most <paramref name="maxRows"/> rows in all,
    /// shared among the networks in order.
    /// </summary>
    public static (float[] Logits, float[] Labels) OutOfFold(IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> sets, int maxRows)
    {
        var logits = new List<float>();
        var labels = new List<float>();
        for (int i = 0; i < sets.Count; i++)
        {
            int share = (maxRows - logits.Count) / (sets.Count - i);
            var (outputs, rowLabels) = sets[i].Rows.Score(sets[i].Network, share);
            logits.AddRange(outputs);
            labels.AddRange(rowLabels);
        }
        return (logits.ToArray(), labels.ToArray());
    }

    /// <summary>
    /// The slope s > 0 that minimises the log-loss of sigmoid(s·z) on the rows (logits z, labels 0/1): the inverse of
    /// the temperature. As in Platt (1999), the targets are (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2) rather than 1 and 0, so
    /// that a few validation rows, all classified right, do not make the probabilities 0 or 1. The loss is convex in s;
    /// Newton's method from s = 1, kept within [1/1000, 1000].
    /// </summary>
    public static double FitSlope(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels)
    {
        if (logits.Length != labels.Length)
        {
            throw new ArgumentException("One label per logit.");
        }
        if (logits.Length == 0)
        {
            return 1;
        }
        int positives = 0;
        foreach (float label in labels)
        {
            positives += label > 0.5f ? 1 : 0;
        }
        double high = (positives + 1.0) / (positives + 2.0), low = 1.0 / (labels.Length - positives + 2.0);
        double s = 1;
        for (int iteration = 0; iteration < 50; iteration++)
        {
            double gradient = 0, curvature = 0;
            for (int i = 0; i < logits.Length; i++)
            {
                double z = logits[i], y = labels[i] > 0.5f ? high : low;
                double p = Sigmoid(s * z);
                gradient += (p - y) * z;
                curvature += p * (1 - p) * z * z;
            }
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

    /// <summary>The mean log-loss (nats) of sigmoid(s·z).</summary>
    public static double LogLoss(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, double slope)
    {
        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double t = slope * logits[i];
            // −log σ(t) = softplus(−t); −log(1 − σ(t)) = softplus(t).
            sum += labels[i] > 0.5f ? Softplus(-t) : Softplus(t);
        }
        return logits.Length == 0 ? double.NaN : sum / logits.Length;
    }

    private static double Sigmoid(double t) => t >= 0 ? 1 / (1 + Math.Exp(-t)) : Math.Exp(t) / (1 + Math.Exp(t));

    private static double Softplus(double t) => t > 0 ? t + Math.Log(1 + Math.Exp(-t)) : Math.Log(1 + Math.Exp(t));
}
