using System;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClip.Tests;

[TestClass]
public sealed class PercentileTests
{
    private static double[] Run(double p, int? window, params double[] norms)
    {
        var clipper = new AutoClipper(new AutoClipOptions { Percentile = p, HistoryWindow = window });
        return norms.Select(clipper.Observe).ToArray();
    }

    [TestMethod]
    public void A_single_norm_is_its_own_threshold_for_every_percentile()
    {
        foreach (double p in new[] { 0, 1, 10, 50, 99.9, 100 })
        {
            Assert.AreEqual(3.25, Run(p, null, 3.25)[0], $"p = {p}");
        }
    }

    [TestMethod]
    public void Default_options_are_the_papers_p10_over_the_whole_history()
    {
        var options = new AutoClipOptions();
        Assert.AreEqual(10.0, options.Percentile);
        Assert.IsNull(options.HistoryWindow);
        Assert.AreEqual(0, options.WarmupSteps);

        // Norms 1..5: i = 4 * 0.1 = 0.4 -> 1 + (2 - 1) * 0.4 = 1.4 (NumPy: np.percentile([1,2,3,4,5], 10) == 1.4).
        var clipper = new AutoClipper();
        double last = double.NaN;
        foreach (double norm in new double[] { 5, 3, 1, 4, 2 })
        {
            last = clipper.Observe(norm);
        }
        Assert.AreEqual(1.4, last, 1e-15);
    }

    [TestMethod]
    public void Hand_computed_linear_interpolation_matches_numpy()
    {
        // np.percentile([10, 20, 30, 40], p): i = 3p/100.
        double[] h = { 40, 10, 30, 20 };
        Assert.AreEqual(10.0, Run(0, null, h)[3]);              // i = 0
        Assert.AreEqual(40.0, Run(100, null, h)[3]);            // i = 3
        Assert.AreEqual(25.0, Run(50, null, h)[3]);             // i = 1.5 -> 20 + 10 * 0.5
        Assert.AreEqual(13.0, Run(10, null, h)[3], 1e-12);      // i = 0.3 -> 10 + 10 * 0.3
        Assert.AreEqual(37.0, Run(90, null, h)[3], 1e-12);      // i = 2.7 -> 30 + 10 * 0.7
        // Step by step, p = 50: [40] -> 40; [40, 10] -> 25; [40, 10, 30] -> 30; all four -> 25.
        CollectionAssert.AreEqual(new double[] { 40, 25, 30, 25 }, Run(50, null, h));
    }

    [TestMethod]
    public void Duplicates_count_once_each()
    {
        // [1, 2, 2, 2, 9] at p = 10: i = 0.4 -> 1 + (2 - 1) * 0.4 = 1.4; p = 50: i = 2 -> 2; p = 90: i = 3.6 -> 2 + 7 * 0.6 = 6.2.
        double[] h = { 2, 9, 2, 1, 2 };
        Assert.AreEqual(1.4, Run(10, null, h)[4], 1e-12);
        Assert.AreEqual(2.0, Run(50, null, h)[4]);
        Assert.AreEqual(6.2, Run(90, null, h)[4], 1e-12);
        // All equal: every percentile is that value, exactly.
        Assert.IsTrue(Run(37, null, 7, 7, 7, 7, 7, 7).All(t => t == 7));
    }

    [TestMethod]
    public void Percentile_0_is_the_running_minimum_and_100_the_running_maximum()
    {
        double[] h = { 5, 8, 3, 9, 4, 1, 6 };
        CollectionAssert.AreEqual(new double[] { 5, 5, 3, 3, 3, 1, 1 }, Run(0, null, h));
        CollectionAssert.AreEqual(new double[] { 5, 8, 8, 9, 9, 9, 9 }, Run(100, null, h));
    }

    [TestMethod]
    public void Window_keeps_only_the_last_N_norms_including_the_current_one()
    {
        // Window 3, p = 0 (minimum of the last three): 5 | 5,8 | 5,8,3 | 8,3,9 | 3,9,4 | 9,4,10 | 4,10,12
        double[] h = { 5, 8, 3, 9, 4, 10, 12 };
        CollectionAssert.AreEqual(new double[] { 5, 5, 3, 3, 3, 4, 4 }, Run(0, 3, h));
        // p = 50 (median of the last three): 5 | 6.5 | 5 | 8 | 4 | 9 | 10
        CollectionAssert.AreEqual(new double[] { 5, 6.5, 5, 8, 4, 9, 10 }, Run(50, 3, h));
        // After eviction the old extreme no longer counts: p = 100 over the last two.
        CollectionAssert.AreEqual(new double[] { 100, 100, 2, 3 }, Run(100, 2, 100, 1, 2, 3));
    }

    [TestMethod]
    public void Window_of_one_makes_the_threshold_the_current_norm_so_nothing_is_ever_clipped()
    {
        double[] h = { 3, 1e6, 0.5, 42 };
        foreach (double p in new double[] { 0, 10, 100 })
        {
            var thresholds = Run(p, 1, h);
            CollectionAssert.AreEqual(h, thresholds, $"p = {p}");
            Assert.IsTrue(h.Zip(thresholds).All(x => AutoClipper.ClipScale(x.First, x.Second) == 1.0));
        }
    }

    [TestMethod]
    public void Values_spanning_sixty_orders_of_magnitude_are_exact()
    {
        double[] h = { 1e30, 1e-30, 1e10, 1e-10, 1, 1e20, 1e-20 };
        // Sorted: 1e-30 1e-20 1e-10 1 1e10 1e20 1e30. p = 50 -> i = 3 -> exactly 1.
        Assert.AreEqual(1.0, Run(50, null, h)[^1]);
        Assert.AreEqual(1e-30, Run(0, null, h)[^1]);
        Assert.AreEqual(1e30, Run(100, null, h)[^1]);
        // p = 10 -> i = 0.6 -> 1e-30 + (1e-20 - 1e-30) * 0.6, computed from the far end as NumPy does.
        double expected = 1e-20 - (1e-20 - 1e-30) * (1 - (6 * 0.1 - Math.Floor(6 * 0.1)));
        Assert.AreEqual(expected, Run(10, null, h)[^1]);
        Assert.AreEqual(6.0000000004e-21, expected, 1e-33);
    }

    [TestMethod]
    public void Randomized_histories_match_the_sort_based_reference_bit_for_bit()
    {
        var rng = new Random(1234);
        foreach (double p in new[] { 0, 1, 10, 25, 33.3, 50, 90, 99, 100 })
        {
            foreach (int? window in new int?[] { null, 1, 2, 7, 64 })
            {
                // Heavy-tailed norms with ties, like real gradient norms.
                double[] norms = Enumerable.Range(0, 300)
                    .Select(_ => rng.Next(10) == 0 ? Math.Round(rng.NextDouble() * 4) : Math.Exp(rng.NextDouble() * 12 - 6))
                    .ToArray();
                double[] expected = NumPyReference.Thresholds(norms, p, window);
                double[] actual = Run(p, window, norms);
                for (int t = 0; t < norms.Length; t++)
                {
                    Assert.AreEqual(expected[t], actual[t], 0.0, $"p = {p}, window = {window}, step {t + 1}");
                }
            }
        }
    }

    [TestMethod]
    public void Memory_is_bounded_by_the_window_however_long_training_runs()
    {
        var clipper = new AutoClipper(new AutoClipOptions { HistoryWindow = 100 });
        var rng = new Random(7);
        for (int i = 0; i < 100_000; i++)
        {
            clipper.Observe(rng.NextDouble());
        }
        Assert.AreEqual(100, clipper.HistoryCount);
        Assert.AreEqual(100_000, clipper.RecordedSteps);
        var (lower, upper, lowerCapacity, upperCapacity) = clipper.History.DebugSizes();
        Assert.AreEqual(100, lower + upper);
        Assert.IsLessThanOrEqualTo(200, lowerCapacity + upperCapacity);
    }

    [TestMethod]
    public void Windowed_history_is_returned_oldest_first()
    {
        var clipper = new AutoClipper(new AutoClipOptions { HistoryWindow = 3 });
        foreach (double norm in new double[] { 4, 1, 5, 9, 2 })
        {
            clipper.Observe(norm);
        }
        CollectionAssert.AreEqual(new double[] { 5, 9, 2 }, clipper.GetHistory());
    }
}
