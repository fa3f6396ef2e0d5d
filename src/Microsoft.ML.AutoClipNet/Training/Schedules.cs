using System;

namespace Microsoft.ML.AutoClipNet
{
    /// <summary>How the learning rate changes over training.</summary>
    public enum AutoClipNetLearningRateSchedule
    {
        /// <summary>The same learning rate at every step.</summary>
        Constant = 0,

        /// <summary>
        /// RealMLP's "coslog4": lr·½(1 − cos(2π·log₂(1 + 15t))) at the fraction t of training done, which
        /// starts at 0 (a warm-up), rises and falls four times and ends at 0.
        /// </summary>
        CosLog4 = 1,

        /// <summary>Cosine decay from lr to 0 over training: lr·½(1 + cos(πt)).</summary>
        Cosine = 2,
    }
}

namespace Microsoft.ML.AutoClipNet.Training
{
    /// <summary>The schedules as functions of the fraction t ∈ [0, 1) of the steps done.</summary>
    internal static class Schedules
    {
        public static double LearningRateFactor(AutoClipNetLearningRateSchedule schedule, double t) => schedule switch
        {
            AutoClipNetLearningRateSchedule.Constant => 1.0,
            AutoClipNetLearningRateSchedule.CosLog4 => 0.5 * (1 - Math.Cos(2 * Math.PI * Math.Log2(1 + 15 * t))),
            AutoClipNetLearningRateSchedule.Cosine => 0.5 * (1 + Math.Cos(Math.PI * t)),
            _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "Unknown schedule."),
        };
    }
}
