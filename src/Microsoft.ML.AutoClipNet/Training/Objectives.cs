using System;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// What a task trains for: how a label becomes a training target, the loss of a batch, and the
/// validation loss that picks the best epoch. The network's outputs are the model's raw outputs
/// (a standardized value, one logit, or K logits). Each task's objective lives with its task (Tasks/).
/// </summary>
/// <remarks>
/// Example weights (ExampleWeightColumnName): a batch's loss is the mean of w·loss over its rows, the weights rescaled to mean 1
/// over the training rows, so that the gradient keeps the scale of unweighted training (and AutoClip's norm history with it)
/// and the expected step is the weighted mean loss's; validation is Σ w·loss / Σ w. Without weights the unweighted code runs,
/// the same bits as before weights existed.
/// </remarks>
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

    /// <summary>The mean of the rows' weighted losses (w·loss), or <see cref="Loss(Tensor, Tensor)"/> when <paramref name="weights"/> is null.</summary>
    public Tensor Loss(Tensor output, Tensor target, Tensor? weights)
        => weights is null ? Loss(output, target) : RowLosses(output, target).mul(weights).mean();

    /// <summary>Each row's training loss (rows), as <see cref="Loss(Tensor, Tensor)"/> averages them.</summary>
    protected abstract Tensor RowLosses(Tensor output, Tensor target);

    /// <summary>The sum of the rows' validation losses, in double precision.</summary>
    public abstract double ValidationLossSum(Tensor output, Tensor target);

    /// <summary>The sum of the rows' validation errors: squared errors (regression), misclassified rows (classification).</summary>
    public virtual double ValidationErrorSum(Tensor output, Tensor target) => ValidationLossSum(output, target);

    /// <summary>Σ w·loss over the rows (or the unweighted sum when <paramref name="weights"/> is null).</summary>
    public double ValidationLossSum(Tensor output, Tensor target, Tensor? weights)
        => weights is null ? ValidationLossSum(output, target) : WeightedSum(ValidationLosses(output, target), weights);

    /// <summary>Σ w·error over the rows (or the unweighted sum when <paramref name="weights"/> is null).</summary>
    public double ValidationErrorSum(Tensor output, Tensor target, Tensor? weights)
        => weights is null ? ValidationErrorSum(output, target) : WeightedSum(ValidationErrors(output, target), weights);

    /// <summary>Each row's validation loss (rows).</summary>
    protected abstract Tensor ValidationLosses(Tensor output, Tensor target);

    /// <summary>Each row's validation error (rows): its squared error, or 1 when misclassified.</summary>
    protected virtual Tensor ValidationErrors(Tensor output, Tensor target) => ValidationLosses(output, target);

    private static double WeightedSum(Tensor values, Tensor weights)
    {
        using var scope = NewDisposeScope();
        return values.to_type(ScalarType.Float64).mul(weights.to_type(ScalarType.Float64)).sum().item<double>();
    }

    public virtual void Dispose()
    {
    }
}
