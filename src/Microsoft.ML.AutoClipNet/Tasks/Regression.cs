using System;
using System.IO;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tasks;

/// <summary>
/// Regression: a Single label; mean squared error on the label standardized with the training rows' mean and standard
/// deviation (unless StandardizeLabel is off); the head maps the network's output back to the label's scale and clamps it
/// to the training labels' range (ClampPredictions).
/// </summary>
internal sealed class RegressionTask : AutoClipNetTask
{
    public static readonly RegressionTask Instance = new();

    private RegressionTask()
    {
    }

    public override ModelTask Id => ModelTask.Regression;

    public override string Name => "regression";

    public override LabelKind Label => LabelKind.Single;

    public override double DefaultLearningRate => 0.07;

    public override Objective CreateObjective(TrainingSet train, int classCount, Recipe recipe)
    {
        var label = train.Label;
        float mean = recipe.StandardizeLabel ? (float)label.Mean : 0f;
        float scale = recipe.StandardizeLabel && label.StandardDeviation > 0 ? (float)label.StandardDeviation : 1f;
        return new RegressionObjective(mean, scale);
    }

    public override ScoreHead CreateHead(Objective objective, TrainingSet train, Recipe recipe, int outputs)
    {
        var regression = (RegressionObjective)objective;
        var (minimum, maximum) = recipe.ClampPredictions ? (train.Label.Min, train.Label.Max) : (float.NegativeInfinity, float.PositiveInfinity);
        return new RegressionHead(regression.LabelMean, regression.LabelScale, minimum, maximum, outputs);
    }

    public override bool OwnsHead(ScoreHead head) => head is RegressionHead;

    /// <summary>Continuing a model: the label's standardization stays the model's (its network's outputs are in those units).</summary>
    public override Objective ContinueObjective(ScoreHead start, TrainingSet train, int classCount, Recipe recipe)
    {
        var head = (RegressionHead)start;
        return new RegressionObjective(head.LabelMean, head.LabelScale);
    }

    /// <summary>Continuing a model: its standardization, and a clamp range that covers both the model's and the new labels'.</summary>
    public override ScoreHead ContinueHead(ScoreHead start, Objective objective, TrainingSet train, Recipe recipe, int outputs)
    {
        var head = (RegressionHead)start;
        var (minimum, maximum) = recipe.ClampPredictions
            ? (Math.Min(head.Minimum, train.Label.Min), Math.Max(head.Maximum, train.Label.Max))
            : (float.NegativeInfinity, float.PositiveInfinity);
        return new RegressionHead(head.LabelMean, head.LabelScale, minimum, maximum, outputs);
    }

    // Head layout: float label mean; float label scale; from format 2.2: float minimum, float maximum prediction (±infinity when
    // predictions are not clamped); from format 2.5: float interval coverage (0: no interval), float interval half-width. Format 2.1
    // had no prediction range: its predictions are not clamped, as that version scored them.
    public override ScoreHead ReadHead(ReadOnlySpan<byte> bytes, uint version, int outputs)
    {
        bool range = version >= Model.ModelFormat.Version22;
        bool interval = version >= Model.ModelFormat.Version25;
        int expected = interval ? 24 : range ? 16 : 8;
        if (bytes.Length != expected)
        {
            throw new InvalidDataException($"its regression header holds {bytes.Length} bytes, not {expected}.");
        }
        return new RegressionHead(BitConverter.ToSingle(bytes[..4]), BitConverter.ToSingle(bytes[4..8]),
            range ? BitConverter.ToSingle(bytes[8..12]) : float.NegativeInfinity, range ? BitConverter.ToSingle(bytes[12..16]) : float.PositiveInfinity, outputs,
            interval ? BitConverter.ToSingle(bytes[16..20]) : 0f, interval ? BitConverter.ToSingle(bytes[20..24]) : 0f);
    }
}

/// <summary>
/// Regression's head: Score = clamp(z·scale + mean, minimum, maximum); with a prediction interval, LowerBound = Score − h and
/// UpperBound = Score + h (split conformal: h is a quantile of the absolute residuals on held-out rows, see <see cref="ConformalInterval"/>).
/// </summary>
internal sealed class RegressionHead : ScoreHead
{
    public RegressionHead(float labelMean, float labelScale, float minimum, float maximum, int outputs, float intervalCoverage = 0, float intervalHalfWidth = 0)
    {
        if (!(intervalCoverage >= 0 && intervalCoverage < 1) || (intervalCoverage == 0 ? intervalHalfWidth != 0 : !(intervalHalfWidth >= 0)))
        {
            throw new InvalidDataException($"The AutoClipNet model has a prediction interval that is not usable (coverage {intervalCoverage}, half-width {intervalHalfWidth}).");
        }
        if (outputs != 1)
        {
            throw new InvalidDataException($"A regression network has one output, not {outputs}.");
        }
        if (!float.IsFinite(labelMean) || !float.IsFinite(labelScale) || labelScale == 0 || float.IsNaN(minimum) || float.IsNaN(maximum) || minimum > maximum)
        {
            throw new InvalidDataException($"The AutoClipNet model has a label standardization that is not usable (mean {labelMean}, scale {labelScale}, range {minimum} to {maximum}).");
        }
        LabelMean = labelMean;
        LabelScale = labelScale;
        Minimum = minimum;
        Maximum = maximum;
        IntervalCoverage = intervalCoverage;
        IntervalHalfWidth = intervalHalfWidth;
    }

    /// <summary>This head with a prediction interval of the given coverage and half-width.</summary>
    public RegressionHead WithInterval(float coverage, float halfWidth) => new(LabelMean, LabelScale, Minimum, Maximum, Outputs, coverage, halfWidth);

    /// <summary>The coverage the prediction interval was calibrated for (0.9: 90% of new rows' labels inside), 0 without an interval.</summary>
    public float IntervalCoverage { get; }

    /// <summary>Half the width of the prediction interval, in the label's units (+∞ when too few held-out rows were there to bound it).</summary>
    public float IntervalHalfWidth { get; }

    public bool HasInterval => IntervalCoverage > 0;

    /// <summary>
    /// The head of a released format 1.1 network, whose own layer already gives the score (the release folded the label's
    /// standardization into its last layer): z·1 + (−0) is exactly z for every float, and nothing is clamped.
    /// </summary>
    public static RegressionHead Identity { get; } = new(-0f, 1f, float.NegativeInfinity, float.PositiveInfinity, 1);

    public float LabelMean { get; }

    public float LabelScale { get; }

    public float Minimum { get; }

    public float Maximum { get; }

    public override int Outputs => 1;

    /// <summary>A network output as a score: z·scale + mean, clamped to the prediction range.</summary>
    public float ToScore(float output) => Math.Clamp(output * LabelScale + LabelMean, Minimum, Maximum);

    public override byte[] Write()
    {
        var bytes = new byte[24];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), LabelMean);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), LabelScale);
        BitConverter.TryWriteBytes(bytes.AsSpan(8), Minimum);
        BitConverter.TryWriteBytes(bytes.AsSpan(12), Maximum);
        BitConverter.TryWriteBytes(bytes.AsSpan(16), IntervalCoverage);
        BitConverter.TryWriteBytes(bytes.AsSpan(20), IntervalHalfWidth);
        return bytes;
    }

    /// <summary>Score = clamp(z·scale + mean, minimum, maximum), rows × 1.</summary>
    public override void SaveAsOnnx(IOnnxGraph graph, string raw, string[] outputNames)
    {
        var y = graph.Binary("Mul", raw, graph.Scalar(LabelScale, "LabelScale"));
        y = graph.Binary("Add", y, graph.Scalar(LabelMean, "LabelMean"));
        y = graph.Binary("Max", y, graph.Scalar(Minimum, "PredictionMinimum"));
        graph.Node("Min", new[] { y, graph.Scalar(Maximum, "PredictionMaximum") }, outputNames[0]);
    }
}

/// <summary>Regression's objective: mean squared error on the label standardized with the training rows' mean and standard deviation.</summary>
internal sealed class RegressionObjective : Objective
{
    public RegressionObjective(float labelMean, float labelScale)
    {
        LabelMean = labelMean;
        LabelScale = labelScale;
    }

    /// <summary>A network output z stands for the label z·LabelScale + LabelMean.</summary>
    public float LabelMean { get; }

    public float LabelScale { get; }

    public override int OutputCount => 1;

    public override string LossName => "mean squared error";

    public override float Target(float label) => (label - LabelMean) / LabelScale;

    public override Tensor Loss(Tensor output, Tensor target) => nn.functional.mse_loss(output.view(-1), target);

    protected override Tensor RowLosses(Tensor output, Tensor target) => nn.functional.mse_loss(output.view(-1), target, reduction: nn.Reduction.None);

    protected override Tensor ValidationLosses(Tensor output, Tensor target) => RowLosses(output, target);

    public override double ValidationLossSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        var error = output.view(-1).sub(target);
        return error.mul(error).sum().to_type(ScalarType.Float64).item<double>();
    }
}

/// <summary>
/// Split conformal prediction intervals (Papadopoulos et al. 2002; Lei et al. 2018): on n held-out rows with absolute residuals
/// |y − ŷ| sorted ascending, the half-width is the ⌈(n + 1)·c⌉-th smallest, so that a new row exchangeable with them has its label
/// inside ŷ ± h with probability at least c. With example weights the residuals are weighed: h is the smallest residual whose
/// cumulative weight reaches c·(W + w̄), W the rows' total weight and w̄ their mean (the unweighted rule when every weight is 1).
/// Fewer rows than that needs give h = +∞.
/// </summary>
internal static class ConformalInterval
{
    /// <summary>The fewest equally weighted rows that bound an interval of this coverage: the smallest n with (n + 1)·c ≤ n, as <see cref="HalfWidth"/> tests it.</summary>
    public static int RowsNeeded(double coverage)
    {
        int n = 1;
        while (coverage * (n + 1.0) * (1 - 1e-12) > n)
        {
            n++;
        }
        return n;
    }

    public static float HalfWidth(ReadOnlySpan<float> residuals, ReadOnlySpan<float> weights, double coverage)
    {
        if (!(coverage > 0 && coverage < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(coverage), coverage, "The coverage must be between 0 and 1.");
        }
        int n = residuals.Length;
        if (n == 0)
        {
            return float.PositiveInfinity;
        }
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }
        var r = residuals.ToArray();
        Array.Sort(r, order);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            total += weights.IsEmpty ? 1 : weights[i];
        }
        if (!(total > 0))
        {
            return float.PositiveInfinity;
        }
        // The unweighted rule, k = ⌈(n + 1)·c⌉, is "cumulative count ≥ (n + 1)·c"; with weights the count becomes weight and the
        // one extra row the mean weight. A small tolerance keeps (n + 1)·c that is an integer in exact arithmetic from rounding up.
        double target = coverage * (total + total / n) * (1 - 1e-12);
        double cumulative = 0;
        for (int i = 0; i < n; i++)
        {
            cumulative += weights.IsEmpty ? 1 : weights[order[i]];
            if (cumulative >= target)
            {
                return r[i];
            }
        }
        return float.PositiveInfinity;
    }
}
