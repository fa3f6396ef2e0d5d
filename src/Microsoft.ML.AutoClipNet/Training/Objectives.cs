using System;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// What a task trains for: how a label becomes a training target, the loss of a batch, and the
/// validation loss that picks the best epoch. The network's outputs are the model's raw outputs
/// (a standardized value, one logit, or K logits). Each task's objective lives with its task (Tasks/).
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
