using System;
using Microsoft.ML.AutoClip;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>Everything the training loop needs to know, resolved from a trainer's options (no ML.NET types).</summary>
internal sealed record TrainingSettings
{
    public required int Epochs { get; init; }

    public required int BatchSize { get; init; }

    /// <summary>Skip the last, smaller batch of each epoch (unless it is the only one).</summary>
    public bool DropLastPartialBatch { get; init; }

    public required double LearningRate { get; init; }

    public AutoClipNetLearningRateSchedule Schedule { get; init; } = AutoClipNetLearningRateSchedule.Constant;

    public AutoClipNetOptimizer Optimizer { get; init; } = AutoClipNetOptimizer.Adam;

    /// <summary>SGD's momentum, or Adam's β1.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>Adam's β2.</summary>
    public double Beta2 { get; init; } = 0.999;

    public double WeightDecay { get; init; }

    /// <summary>Weight decay follows RealMLP's flat-then-cosine schedule instead of staying constant.</summary>
    public bool ScheduleWeightDecay { get; init; }

    public AutoClipNetClipping Clipping { get; init; } = AutoClipNetClipping.AutoClip;

    public required AutoClipOptions AutoClip { get; init; }

    public double FixedClipNorm { get; init; } = 1.0;

    public required int Seed { get; init; }

    public int ShufflePoolSize { get; init; } = 100_000;

    /// <summary>With validation rows: stop after this many epochs without a better validation loss (0: never).</summary>
    public int EarlyStoppingPatience { get; init; }

    /// <summary>Record step size and smoothness every N steps (0: off).</summary>
    public int DiagnosticsInterval { get; init; }

    /// <summary>What the history keeps (the trainers pass their option, Summary by default; every step here).</summary>
    public AutoClipNetHistoryDetail HistoryDetail { get; init; } = AutoClipNetHistoryDetail.EveryStep;

    /// <summary>What picks the epoch whose weights are kept.</summary>
    public AutoClipNetEpochSelection EpochSelection { get; init; } = AutoClipNetEpochSelection.ValidationLoss;

    /// <summary>A one-line description of the recipe for the log (empty: none).</summary>
    public string Description { get; init; } = "";
}

/// <summary>How training reports progress and learns that it should stop.</summary>
internal interface ITrainingMonitor
{
    /// <summary>A progress message (one per epoch, and a summary at the start).</summary>
    void Info(string message);

    /// <summary>A warning (rows skipped, a class with no rows).</summary>
    void Warning(string message);

    /// <summary>Throws <see cref="OperationCanceledException"/> when training should stop.</summary>
    void CheckAlive();
}
