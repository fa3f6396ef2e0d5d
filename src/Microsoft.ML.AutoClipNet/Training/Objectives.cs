using TorchSharp;
using System;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// What a task trains for: how a label becomes a training target, the loss of a batch, and the
/// validation loss that picks the best epoch. The network's outputs are the model's raw outputs
/// (a standardized value, one logit, or K logits).
/// </summary>
internal abstract class Objective : IDisposable
{
    /// <summary>Outputs of the network's last layer.</summary>
    public abstract int OutputCount { get; }

    /// <summary>The loss's name in logs: "mean squared error", "log-loss".</summary>
    public abstract string LossName { get; }

    /// <summary>The training target of a label (the label as read: a value, 0/1, or a class index).</summary>
    public virtual float Target(float label) => label;

    /// <summary>The mean loss of a batch: <paramref name="output"/> is rows × <see cref="OutputCount"/>, <paramref name="target"/> rows targets.</summary>
    public abstract Tensor Loss(Tensor output, Tensor target);

    /// <summary>The sum of the rows' validation losses, in double precision.</summary>
    public abstract double ValidationLossSum(Tensor output, Tensor target);

    /// <summary>The sum of the rows' validation errors: squared errors (regression), misclassified rows (classification).</summary>
    public virtual double ValidationErrorSum(Tensor output, Tensor target) => ValidationLossSum(output, target);

    public virtual void Dispose()
    {
    }
}

/// <summary>Regression: mean squared error on the label standardized with the training rows' mean and standard deviation.</summary>
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

    public override double ValidationLossSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        var error = output.view(-1).sub(target);
        return error.mul(error).sum().to_type(ScalarType.Float64).item<double>();
    }
}

/// <summary>Binary classification: cross-entropy on the logit (log-loss), the positive class weighted.</summary>
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
            target = target.mul(keep).add_(shift, Network.Scalars.One);
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
        return output.view(-1).gt(Network.Scalars.Zero).to_type(ScalarType.Float32).ne(target).sum().item<long>();
    }

    public override void Dispose() => _weightTensor?.Dispose();
}

/// <summary>Multiclass classification: softmax cross-entropy over the K logits, optionally with label smoothing.</summary>
internal sealed class MulticlassObjective : Objective
{
    private readonly double _labelSmoothing;

    public MulticlassObjective(int classCount, double labelSmoothing)
    {
        if (classCount < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "Multiclass classification needs at least two classes.");
        }
        OutputCount = classCount;
        _labelSmoothing = labelSmoothing;
    }

    public override int OutputCount { get; }

    public override string LossName => "log-loss";

    public override Tensor Loss(Tensor output, Tensor target)
        => nn.functional.cross_entropy(output, target.to_type(ScalarType.Int64), label_smoothing: _labelSmoothing);

    public override double ValidationLossSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        return nn.functional.cross_entropy(output, target.to_type(ScalarType.Int64), reduction: nn.Reduction.Sum).to_type(ScalarType.Float64).item<double>();
    }

    public override double ValidationErrorSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        return output.argmax(1).ne(target.to_type(ScalarType.Int64)).sum().item<long>();
    }
}
