using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tasks;

/// <summary>
/// Binary classification: a Boolean label; binary cross-entropy on the network's logit (the positive class weighted by
/// PositiveClassWeight, label smoothing an option); the head's score is the logit itself, and the probability is fitted on
/// the validation rows by temperature scaling (<see cref="TemperatureScaling"/>), which the trainer hands to ML.NET's Platt
/// calibrator.
/// </summary>
internal sealed class BinaryTask : AutoClipNetTask
{
    public static readonly BinaryTask Instance = new();

    private BinaryTask()
    {
    }

    public override ModelTask Id => ModelTask.Binary;

    public override string Name => "binary classification";

    public override LabelKind Label => LabelKind.Boolean;

    public override double DefaultLearningRate => 0.04;

    public override Objective CreateObjective(TrainingSet train, int classCount, Recipe recipe) => new BinaryObjective(recipe.PositiveClassWeight, recipe.LabelSmoothing);

    public override void CheckTrainingRows(TrainingSet train, int classCount, string labelColumn, ITrainingMonitor monitor)
    {
        long positives = (long)Math.Round(train.Label.Mean * train.Label.Count);
        if (positives == 0 || positives == train.Label.Count)
        {
            monitor.Warning($"Every one of the {train.Label.Count} training rows has the label {(positives == 0 ? "false" : "true")}: the model can only learn to predict it.");
        }
    }

    public override ScoreHead CreateHead(Objective objective, TrainingSet train, Recipe recipe, int outputs) => new BinaryHead(outputs);

    // Head layout: no fields (the calibrator is ML.NET's Platt calibrator, saved beside the model).
    public override ScoreHead ReadHead(ReadOnlySpan<byte> bytes, uint version, int outputs)
    {
        if (bytes.Length != 0)
        {
            throw new InvalidDataException($"its binary header holds {bytes.Length} bytes, not 0.");
        }
        return new BinaryHead(outputs);
    }
}

/// <summary>Binary's head: Score is the logit (ML.NET's Platt calibrator adds Probability and its scorer PredictedLabel).</summary>
internal sealed class BinaryHead : ScoreHead
{
    public BinaryHead(int outputs)
    {
        if (outputs != 1)
        {
            throw new InvalidDataException($"A binary classification network has one output, not {outputs}.");
        }
    }

    public override int Outputs => 1;

    public override byte[] Write() => Array.Empty<byte>();

    public override void SaveAsOnnx(IOnnxGraph graph, string raw, string[] outputNames) => graph.Node("Identity", new[] { raw }, outputNames[0]);
}

/// <summary>Binary classification's objective: cross-entropy on the logit (log-loss), the positive class weighted.</summary>
internal sealed class BinaryObjective : Objective
{
    private readonly double _positiveWeight;
    private readonly double _labelSmoothing;
    private Tensor? _weightTensor;

    /// <param name="positiveWeight">Weight of a positive row's loss.</param>
    /// <param name="labelSmoothing">ε: the training target of a row is 1 − ε/2 or ε/2 instead of 1 or 0.</param>
    public BinaryObjective(double positiveWeight, double labelSmoothing = 0)
    {
        _positiveWeight = positiveWeight;
        _labelSmoothing = labelSmoothing;
    }

    public override int OutputCount => 1;

    public override string LossName => "log-loss";

    public override Tensor Loss(Tensor output, Tensor target)
    {
        var logits = output.view(-1);
        if (_labelSmoothing > 0)
        {
            using var keep = ((float)(1 - _labelSmoothing)).ToScalar(); // held for the calls (see Network/Scalars.cs)
            using var shift = ((float)(_labelSmoothing / 2)).ToScalar();
            target = target.mul(keep).add_(shift, Scalars.One);
        }
        if (_positiveWeight == 1)
        {
            return nn.functional.binary_cross_entropy_with_logits(logits, target);
        }
        _weightTensor ??= tensor((float)_positiveWeight).DetachFromDisposeScope();
        return nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weights: _weightTensor);
    }

    public override double ValidationLossSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        // The unweighted log-loss: what Evaluate reports, whatever the training weight.
        return nn.functional.binary_cross_entropy_with_logits(output.view(-1), target, reduction: nn.Reduction.Sum).to_type(ScalarType.Float64).item<double>();
    }

    public override double ValidationErrorSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        return output.view(-1).gt(Scalars.Zero).to_type(ScalarType.Float32).ne(target).sum().item<long>();
    }

    public override void Dispose() => _weightTensor?.Dispose();
}

/// <summary>Temperature scaling (Guo et al., ICML 2017) of a binary classifier's logits on held-out rows.</summary>
internal static class TemperatureScaling
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
