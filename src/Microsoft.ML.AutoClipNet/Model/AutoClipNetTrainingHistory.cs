using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.AutoClipNet;

/// <summary>One optimizer step of AutoClipNet training.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Step">1-based step over the whole run.</param>
/// <param name="Loss">The minibatch's mean squared error (in standardized label units when the label is standardized).</param>
/// <param name="GradientNorm">The total gradient norm before clipping (NaN when clipping is off).</param>
/// <param name="Threshold">The clipping threshold (AutoClip's percentile, or the fixed norm; NaN when off or skipped).</param>
/// <param name="Scale">The factor the gradient was multiplied by (1: not clipped).</param>
/// <param name="Skipped">True when the gradient was not finite and the step was skipped.</param>
public readonly record struct AutoClipNetTrainingStep(int Epoch, long Step, float Loss, double GradientNorm, double Threshold, double Scale, bool Skipped)
{
    /// <summary>True when the gradient was scaled down.</summary>
    public bool Clipped => Scale < 1.0;
}

/// <summary>The losses of one epoch (mean squared error in standardized label units for regression, log-loss for classification).</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainingLoss">Mean of the epoch's minibatch losses.</param>
/// <param name="ValidationLoss">Loss on the validation rows after the epoch (NaN without validation data).</param>
/// <param name="ValidationError">Error on the validation rows after the epoch: the mean squared error in standardized units (regression), the
/// misclassified share (classification); NaN without validation data, and for models saved before it was recorded.</param>
public readonly record struct AutoClipNetEpoch(int Epoch, double TrainingLoss, double ValidationLoss, double ValidationError = double.NaN);

/// <summary>
/// The AutoClip paper's training-dynamics diagnostics, recorded every
/// <see cref="AutoClipNetOptionsBase.DiagnosticsInterval"/> steps.
/// </summary>
/// <param name="Step">The step t at which they were measured.</param>
/// <param name="GradientNorm">||g_t||, the gradient norm before clipping.</param>
/// <param name="StepSize">||θ_t − θ_{t−1}||: how far the previous update moved the weights.</param>
/// <param name="Smoothness">||g_t − g_{t−1}|| / ||θ_t − θ_{t−1}||: the local estimate of the gradient's Lipschitz constant.</param>
public readonly record struct AutoClipNetDiagnostic(long Step, double GradientNorm, double StepSize, double Smoothness);

/// <summary>How much of its training a model keeps (<see cref="AutoClipNetOptionsBase.HistoryDetail"/>).</summary>
public enum AutoClipNetHistoryDetail
{
    /// <summary>No per-step or per-epoch records: only the counts (steps, clipped and skipped steps, rows, best epoch).</summary>
    None = 0,

    /// <summary>
    /// The default: every epoch, the counts, and between 1,024 and 2,048 evenly spaced steps (and diagnostics) plus
    /// the last, however long the run: a model of a million steps is as small as one of ten thousand.
    /// </summary>
    Summary = 1,

    /// <summary>Every step, every epoch, every diagnostic, and the AutoClip state with its whole history of norms.</summary>
    EveryStep = 2,
}

/// <summary>What happened during training: the steps (all of them, or a summary: <see cref="Detail"/>), every epoch, and the diagnostics if they were requested.</summary>
public sealed class AutoClipNetTrainingHistory
{
    internal AutoClipNetTrainingHistory(IReadOnlyList<AutoClipNetTrainingStep> steps, IReadOnlyList<AutoClipNetEpoch> epochs,
        IReadOnlyList<AutoClipNetDiagnostic> diagnostics, int bestEpoch, long trainingRows, long validationRows, long droppedRows,
        AutoClipNetHistoryDetail detail = AutoClipNetHistoryDetail.EveryStep, (long Steps, long Clipped, long Skipped)? counts = null)
    {
        Steps = steps;
        Epochs = epochs;
        Diagnostics = diagnostics;
        BestEpoch = bestEpoch;
        TrainingRows = trainingRows;
        ValidationRows = validationRows;
        DroppedRows = droppedRows;
        Detail = detail;
        var (all, clipped, skipped) = counts ?? (steps.Count, steps.LongCount(s => s.Clipped), steps.LongCount(s => s.Skipped));
        StepCount = all;
        ClippedStepCount = clipped;
        SkippedStepCount = skipped;
    }

    /// <summary>What the model kept: every step, a summary (the default) or no records.</summary>
    public AutoClipNetHistoryDetail Detail { get; }

    /// <summary>The optimizer steps, in order: every one (<see cref="AutoClipNetHistoryDetail.EveryStep"/>), evenly spaced ones and the last (<see cref="AutoClipNetHistoryDetail.Summary"/>), or none.</summary>
    public IReadOnlyList<AutoClipNetTrainingStep> Steps { get; }

    /// <summary>Every epoch that ran, in order (none with <see cref="AutoClipNetHistoryDetail.None"/>).</summary>
    public IReadOnlyList<AutoClipNetEpoch> Epochs { get; }

    /// <summary>Step size and local smoothness every DiagnosticsInterval steps (empty when off), thinned like <see cref="Steps"/>.</summary>
    public IReadOnlyList<AutoClipNetDiagnostic> Diagnostics { get; }

    /// <summary>Optimizer steps trained, counted exactly whatever <see cref="Detail"/> kept.</summary>
    public long StepCount { get; }

    /// <summary>Steps whose gradient AutoClip (or the fixed norm) scaled down, counted exactly.</summary>
    public long ClippedStepCount { get; }

    /// <summary>Steps skipped for a non-finite gradient, counted exactly.</summary>
    public long SkippedStepCount { get; }

    /// <summary>
    /// The epoch whose weights the model holds (the best by validation, or the last epoch without validation); 0 when a
    /// continued model (warm start) kept the weights it started from because no epoch did better on the validation rows.
    /// </summary>
    public int BestEpoch { get; }

    /// <summary>Rows trained on.</summary>
    public long TrainingRows { get; }

    /// <summary>Rows used for validation (0 without validation).</summary>
    public long ValidationRows { get; }

    /// <summary>Rows skipped because of NaN or infinite values (with DropNonFiniteRows).</summary>
    public long DroppedRows { get; }
}
