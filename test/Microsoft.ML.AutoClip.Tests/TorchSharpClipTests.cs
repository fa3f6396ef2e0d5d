using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Tests;

[TestClass]
public sealed class TorchSharpClipTests
{
    /// <summary>Parameters of assorted shapes whose gradients are set to random values of a chosen size.</summary>
    private static Parameter[] ParametersWithGradients(Random rng, double magnitude, params long[][] shapes)
    {
        var result = new Parameter[shapes.Length];
        for (int i = 0; i < shapes.Length; i++)
        {
            var p = new Parameter(zeros(shapes[i]));
            using var g = randn(shapes[i], generator: new Generator((ulong)rng.Next())) * magnitude;
            p.grad = g.clone();
            result[i] = p;
        }
        return result;
    }

    private static float[][] Gradients(IEnumerable<Parameter> parameters)
        => parameters.Select(p => { using var g = p.grad!; return g.data<float>().ToArray(); }).ToArray();

    private static double Norm(float[][] grads) => Math.Sqrt(grads.Sum(g => g.Sum(x => (double)x * x)));

    [TestMethod]
    public void Clipping_never_exceeds_the_threshold_never_scales_up_and_keeps_the_direction()
    {
        var rng = new Random(42);
        var clipper = new AutoClipper();
        long[][] shapes = { new long[] { 16, 8 }, new long[] { 8 }, new long[] { 1, 16 }, new long[] { 1 } };
        for (int step = 1; step <= 200; step++)
        {
            // Log-uniform magnitudes over eight orders of magnitude, so both clipped and unclipped steps occur.
            double magnitude = Math.Pow(10, rng.NextDouble() * 8 - 4);
            var parameters = ParametersWithGradients(rng, magnitude, shapes);
            float[][] before = Gradients(parameters);
            var record = clipper.ClipGradients(parameters);
            float[][] after = Gradients(parameters);

            Assert.IsFalse(record.Skipped);
            Assert.AreEqual(step, record.Step);
            Assert.AreEqual(Norm(before), record.GradientNorm, 1e-5 * record.GradientNorm, $"step {step}: the reported norm");
            Assert.IsLessThanOrEqualTo(1.0, record.Scale);
            Assert.IsGreaterThan(0.0, record.Scale);
            Assert.IsLessThanOrEqualTo(record.Threshold * (1 + 1e-6), Norm(after), $"step {step}: post-clip norm above the threshold");
            for (int t = 0; t < before.Length; t++)
            {
                for (int j = 0; j < before[t].Length; j++)
                {
                    // Same direction: every element is the old one times the same factor (float rounding aside).
                    Assert.AreEqual(before[t][j] * record.Scale, after[t][j], 1e-6 * Math.Abs(before[t][j]) + 1e-38);
                    Assert.IsLessThanOrEqualTo(Math.Abs(before[t][j]), Math.Abs(after[t][j]));
                }
            }
            if (step == 1)
            {
                Assert.IsFalse(record.Clipped, "the first step is never clipped");
                Assert.AreEqual(record.GradientNorm, record.Threshold);
                CollectionAssert.AreEqual(before[0], after[0]);
            }
            foreach (var p in parameters)
            {
                p.Dispose();
            }
        }
        Assert.IsGreaterThan(100, clipper.RecordedSteps - 0);
    }

    [TestMethod]
    public void The_threshold_is_the_percentile_of_the_norms_the_clipper_measured()
    {
        var rng = new Random(3);
        var clipper = new AutoClipper(new AutoClipOptions { Percentile = 30 });
        var norms = new List<double>();
        for (int step = 0; step < 40; step++)
        {
            var parameters = ParametersWithGradients(rng, rng.NextDouble() * 5, new long[] { 5, 3 }, new long[] { 3 });
            var record = clipper.ClipGradients(parameters);
            norms.Add(record.GradientNorm);
            Assert.AreEqual(NumPyReference.Percentile(norms, 30), record.Threshold, 0.0);
        }
    }

    [TestMethod]
    public void A_NaN_or_infinite_gradient_leaves_gradients_and_history_untouched()
    {
        var rng = new Random(9);
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity })
        {
            var clipper = new AutoClipper();
            clipper.ClipGradients(ParametersWithGradients(rng, 1.0, new long[] { 4, 4 }));
            double[] historyBefore = clipper.GetHistory();
            double thresholdBefore = clipper.Threshold;

            var parameters = ParametersWithGradients(rng, 100.0, new long[] { 4, 4 }, new long[] { 4 });
            using (var g = parameters[1].grad!)
            {
                g[2] = tensor(bad);
            }
            float[][] before = Gradients(parameters);
            var record = clipper.ClipGradients(parameters);

            Assert.IsTrue(record.Skipped, $"{bad}");
            Assert.IsFalse(double.IsFinite(record.GradientNorm));
            Assert.IsTrue(double.IsNaN(record.Threshold));
            CollectionAssert.AreEqual(historyBefore, clipper.GetHistory());
            Assert.AreEqual(thresholdBefore, clipper.Threshold);
            Assert.AreEqual(1, clipper.NonFiniteSteps);
            float[][] after = Gradients(parameters);
            CollectionAssert.AreEqual(before[0], after[0]);
        }
    }

    [TestMethod]
    public void The_throw_policy_throws_and_records_nothing()
    {
        var clipper = new AutoClipper(new AutoClipOptions { NonFiniteGradients = NonFiniteGradientPolicy.Throw });
        var parameters = ParametersWithGradients(new Random(1), 1.0, new long[] { 3 });
        using (var g = parameters[0].grad!)
        {
            g[0] = tensor(float.NaN);
        }
        var e = Assert.ThrowsExactly<NonFiniteGradientException>(() => clipper.ClipGradients(parameters));
        Assert.AreEqual(1, e.Step);
        StringAssert.Contains(e.Message, "learning rate");
        Assert.AreEqual(0, clipper.HistoryCount);
    }

    [TestMethod]
    public void Parameters_without_gradients_are_ignored()
    {
        var clipper = new AutoClipper();
        using var noGrad = new Parameter(ones(3));
        var record = clipper.ClipGradients(new[] { noGrad });
        Assert.AreEqual(0, clipper.HistoryCount);
        Assert.AreEqual(1.0, record.Scale);

        var withGrad = ParametersWithGradients(new Random(2), 1.0, new long[] { 3 });
        record = clipper.ClipGradients(new[] { noGrad, withGrad[0] });
        Assert.AreEqual(1, clipper.HistoryCount);
        using var g = withGrad[0].grad!;
        Assert.AreEqual(linalg.vector_norm(g).item<float>(), record.GradientNorm, 1e-6);
    }

    [TestMethod]
    public void Clipping_twice_with_the_same_threshold_changes_nothing_more()
    {
        var rng = new Random(8);
        var clipper = new AutoClipper(new AutoClipOptions { Percentile = 0 });
        clipper.ClipGradients(ParametersWithGradients(rng, 0.01, new long[] { 10 }));
        var parameters = ParametersWithGradients(rng, 10.0, new long[] { 10 });
        var first = clipper.ClipGradients(parameters);
        Assert.IsTrue(first.Clipped);
        float[][] once = Gradients(parameters);
        double again = AutoClipper.ClipScale(Norm(once), first.Threshold);
        Assert.AreEqual(1.0, again, 1e-6);
    }

    [TestMethod]
    public void A_contiguous_gradient_buffer_clips_like_the_per_tensor_path()
    {
        manual_seed(5);
        using var model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1));
        var parameters = model.parameters().ToArray();
        using var buffer = AutoClipper.CreateContiguousGradients(parameters);
        Assert.AreEqual(parameters.Sum(p => p.numel()), buffer.numel());

        var perTensor = new AutoClipper(new AutoClipOptions { Percentile = 0 });
        var contiguous = new AutoClipper(new AutoClipOptions { Percentile = 0 });
        for (int step = 0; step < 20; step++)
        {
            using var scope = NewDisposeScope();
            buffer.zero_();
            var x = randn(16, 4) * (1 + step % 5);
            nn.functional.mse_loss(model.call(x), randn(16, 1)).backward();
            // Backward accumulated into the views: the buffer holds every gradient.
            float[][] before = Gradients(parameters);
            CollectionAssert.AreEqual(before.SelectMany(g => g).ToArray(), buffer.data<float>().ToArray());

            double expectedNorm = Norm(before);
            var record = contiguous.ClipGradient(buffer);
            Assert.AreEqual(expectedNorm, record.GradientNorm, 1e-5 * expectedNorm);
            double threshold = perTensor.Observe(Norm(before));
            Assert.AreEqual(threshold, record.Threshold, 1e-5 * threshold);
            // The parameters' gradients were scaled through the views.
            float[][] after = Gradients(parameters);
            Assert.AreEqual(record.Scale, Norm(after) / expectedNorm, 1e-5);
        }
    }

    [TestMethod]
    public void Clipping_leaves_no_tensor_alive_inside_or_outside_a_dispose_scope()
    {
        manual_seed(6);
        using var model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1));
        var parameters = model.parameters().ToArray();
        using (var backward = NewDisposeScope())
        {
            nn.functional.mse_loss(model.call(randn(16, 4)), randn(16, 1)).backward();
        }
        using var buffer = AutoClipper.CreateContiguousGradients(parameters);
        // Percentile 0 of a history of small norms: every step below clips (the scaling path runs).
        var clipper = new AutoClipper(new AutoClipOptions { Percentile = 0 });
        clipper.Observe(1e-3);
        var skipper = new AutoClipper();
        using var nan = full(3, float.NaN);
        // Float64 gradients take the LibTorch path (float32 ones this small are clipped in managed code).
        using var wide = new Parameter(zeros(new long[] { 2, 3 }, dtype: ScalarType.Float64));
        using (var g = ones(new long[] { 2, 3 }, dtype: ScalarType.Float64))
        {
            wide.grad = g.clone();
        }
        using var wideBias = new Parameter(zeros(new long[] { 3 }, dtype: ScalarType.Float64));
        using (var g = ones(new long[] { 3 }, dtype: ScalarType.Float64))
        {
            wideBias.grad = g.clone();
        }
        var wideClipper = new AutoClipper(new AutoClipOptions { Percentile = 0 });
        wideClipper.Observe(1e-3);

        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 5; i++)
        {
            // Gradients of norm sqrt(#parameters) again before each call (fill_ works in place, through the views).
            buffer.fill_(1);
            Assert.IsTrue(clipper.ClipGradients(parameters).Clipped);
            buffer.fill_(1);
            Assert.IsTrue(clipper.ClipGradients(model).Clipped);
            buffer.fill_(1);
            Assert.IsTrue(clipper.ClipGradient(buffer).Clipped);
            Assert.IsTrue(skipper.ClipGradient(nan).Skipped);
            foreach (var parameter in new[] { wide, wideBias })
            {
                using var g = parameter.grad!;
                g.fill_(1);
            }
            Assert.IsTrue(wideClipper.ClipGradients(new[] { wide, wideBias }).Clipped);
        }
        Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "outside any scope");

        using (var outer = NewDisposeScope())
        {
            buffer.fill_(1);
            Assert.IsTrue(clipper.ClipGradients(parameters).Clipped);
            buffer.fill_(1);
            Assert.IsTrue(clipper.ClipGradient(buffer).Clipped);
            Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "inside a caller's scope, before it closes");
        }
        Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "after the caller's scope closed");
        // The gradients are still usable after the caller's scope closed.
        Assert.IsTrue(double.IsFinite(clipper.ClipGradients(parameters).GradientNorm));
    }
}
