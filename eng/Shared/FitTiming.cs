using System;
using System.Collections.Generic;
using System.Threading;
using Microsoft.ML;

namespace Microsoft.ML.AutoClip.Shared;

/// <summary>What the benchmark and the studies do before they time a fit (compiled into both).</summary>
internal static class FitTiming
{
    /// <summary>The pause before a timed fit, after the previous fit's garbage is collected.</summary>
    public const int SettleMilliseconds = 2000;

    /// <summary>
    /// Lets the process settle before a timed fit: the previous fit's garbage collected and its finalizers run, then a pause
    /// of <see cref="SettleMilliseconds"/>. LightGbm's parallel loops run on the OpenMP threads LibTorch brought into the
    /// process (gdb shows LibTorch's libgomp under LightGbm's worker), and for about a second after a network's fit and
    /// scoring they ran several times slower: on the cars set (2-core AMD EPYC VM), LightGbm's fit took 0.20-0.27 s in the
    /// first five fits right after AutoClipNet's and 0.02-0.04 s after a pause, in each of several fresh processes. Without
    /// the pause the sub-second trainers were charged up to ten times their time, and each fit its predecessor's tail.
    /// </summary>
    public static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Thread.Sleep(SettleMilliseconds);
    }

    /// <summary>
    /// Fits every trainer once on <paramref name="few"/> rows, untimed: native libraries loaded and code compiled before anything
    /// is timed (the first network's fit in a process otherwise carried about 2 s and 140 MB of that).
    /// </summary>
    public static void WarmUp(IEnumerable<(string Name, IEstimator<ITransformer> Trainer)> trainers, IDataView few)
    {
        foreach (var (_, trainer) in trainers)
        {
            (trainer.Fit(few) as IDisposable)?.Dispose();
        }
    }
}
