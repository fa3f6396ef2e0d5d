using System;
using System.Collections.Generic;
using System.Diagnostics;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// What packing an ensemble's members into one batched network (TabM's efficient ensembles, issue 20) could gain on the
/// matrix products: a hidden layer's product for five members, as the trainer runs it (five products of batch × width by
/// width × width, one per member, each member on one LibTorch thread), against the same arithmetic as one product of
/// 5·batch rows (TabM's shared weights) and as one batched product of five (separate weights, <c>bmm</c>), on one thread.
/// If the separate products already run at the machine's rate, packing can only save the per-call work around them.
/// </summary>
public static class Packing
{
    /// <summary>One shape: GFLOP/s of each arrangement (median over the rounds) and each one's speed over the separate products.</summary>
    public sealed record Result(int Width, int Batch, double Separate, double Stacked, double Batched,
        (double Median, double Low, double High) StackedSpeed, (double Median, double Low, double High) BatchedSpeed);

    public const int Members = 5;

    /// <summary>The shapes of section 10 and the one-thread rate of square products beside them (2048 × 2048; 256 × 256 in quick mode).</summary>
    public static (List<Result> Results, double OneThreadRate) Measure(bool quick)
    {
        TorchSharpNative.EnsureLoadable();
        int before = get_num_threads();
        set_num_threads(1); // each member trains on one LibTorch thread
        try
        {
            var results = new List<Result>();
            int rounds = quick ? 1 : 15, calls = quick ? 5 : 400;
            foreach (int width in new[] { 128, 256 })
            {
                foreach (int batch in new[] { 64, 256 })
                {
                    using var weight = randn(width, width);
                    using var weights = randn(Members, width, width);
                    using var one = randn(batch, width);
                    using var stacked = randn(Members * batch, width);
                    using var batched = randn(Members, batch, width);
                    using var oneOut = empty(batch, width);
                    using var stackedOut = empty(Members * batch, width);
                    Func<double> Timed(Action product) => () =>
                    {
                        var watch = Stopwatch.StartNew();
                        for (int i = 0; i < calls; i++)
                        {
                            product();
                        }
                        return watch.Elapsed.TotalSeconds;
                    };
                    var measured = Measurements.Interleaved(rounds, warmupRounds: 1,
                        Timed(() =>
                        {
                            for (int k = 0; k < Members; k++)
                            {
                                oneOut.addmm_(one, weight, beta: 0, alpha: 1);
                            }
                        }),
                        Timed(() => stackedOut.addmm_(stacked, weight, beta: 0, alpha: 1)),
                        Timed(() =>
                        {
                            using var product = batched.bmm(weights); // TorchSharp has no in-place batched product: this one allocates its output
                        }));
                    double flops = 2.0 * Members * batch * width * width * calls;
                    results.Add(new Result(width, batch, flops / measured.Median(0) / 1e9, flops / measured.Median(1) / 1e9, flops / measured.Median(2) / 1e9,
                        measured.Speed(1, 0), measured.Speed(2, 0)));
                    Console.WriteLine($"packing width {width} batch {batch}: separate {results[^1].Separate:F0}, stacked {results[^1].Stacked:F0}, batched {results[^1].Batched:F0} GFLOP/s");
                }
            }
            return (results, Comparison.MatrixMultiplyRate(quick));
        }
        finally
        {
            set_num_threads(before);
        }
    }
}
