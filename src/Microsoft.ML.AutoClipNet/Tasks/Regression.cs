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

    // Head layout: float label mean; float label scale; from format 2.2: float minimum, float maximum prediction (±infinity when
    // predictions are not clamped). Format 2.1 had no prediction range: its predictions are not clamped, as that version scored them.
    public override ScoreHead ReadHead(ReadOnlySpan<byte> bytes, uint version, int outputs)
    {
        bool range = version >= Model.ModelFormat.Version22;
        int expected = range ? 16 : 8;
        if (bytes.Length != expected)
        {
            throw new InvalidDataException($"its regression header holds {bytes.Length} bytes, not {expected}.");
        }
        return new RegressionHead(BitConverter.ToSingle(bytes[..4]), BitConverter.ToSingle(bytes[4..8]),
            range ? BitConverter.ToSingle(bytes[8..12]) : float.NegativeInfinity, range ? BitConverter.ToSingle(bytes[12..16]) : float.PositiveInfinity, outputs);
    }
}

/// <summary>Regression's head: Score = clamp(z·scale + mean, minimum, maximum).</summary>
internal sealed class RegressionHead : ScoreHead
{
    public RegressionHead(float labelMean, float labelScale, float minimum, float maximum, int outputs)
    {
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
    }

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
        var bytes = new byte[16];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), LabelMean);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), LabelScale);
        BitConverter.TryWriteBytes(bytes.AsSpan(8), Minimum);
        BitConverter.TryWriteBytes(bytes.AsSpan(12), Maximum);
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
