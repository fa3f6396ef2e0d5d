using System;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>
/// Small CPU float32 gradients are clipped in managed code, everything else through LibTorch: both
/// paths must measure the same norm and scale the values identically.
/// </summary>
[TestClass]
public sealed class ManagedGradientsTests
{
    private static Tensor[] RandomGradients(int seed, params long[][] shapes)
    {
        var generator = new Generator((ulong)seed);
        return shapes.Select(shape => randn(shape, generator: generator) * 3).ToArray();
    }

    [TestMethod]
    public void Only_small_contiguous_float32_CPU_gradients_outside_autograd_take_the_managed_path()
    {
        var small = RandomGradients(1, new long[] { 16, 8 }, new long[] { 8 });
        Assert.IsTrue(ManagedGradients.Applies(small));
        using var transposed = small[0].t();
        Assert.IsFalse(ManagedGradients.Applies(new[] { transposed, small[1] }), "a non-contiguous view");
        using var wide = small[0].to_type(ScalarType.Float64);
        Assert.IsFalse(ManagedGradients.Applies(new[] { wide }), "float64");
        using var tracked = small[0].clone().requires_grad_(true);
        Assert.IsFalse(ManagedGradients.Applies(new[] { tracked }), "a gradient autograd tracks (create_graph)");
        using var large = zeros(ManagedGradients.MaxValues + 1);
        Assert.IsFalse(ManagedGradients.Applies(new[] { large }), "more values than the managed path is faster for");
        using var atTheLimit = zeros(ManagedGradients.MaxValues);
        Assert.IsTrue(ManagedGradients.Applies(new[] { atTheLimit }));
        foreach (var g in small)
        {
            g.Dispose();
        }
    }

    [TestMethod]
    public void Both_paths_measure_the_same_norm_and_scale_bit_identically()
    {
        // Sizes that are not multiples of the SIMD width, so the scalar tails run too.
        var grads = RandomGradients(2, new long[] { 37, 13 }, new long[] { 13 }, new long[] { 1, 37 }, new long[] { 1 });
        using var all = cat(grads.Select(g => g.flatten()).ToArray()).to_type(ScalarType.Float64);
        double exact = linalg.vector_norm(all).item<double>();

        double managed = AutoClipper.TotalNorm(grads, out bool tookManaged);
        Assert.IsTrue(tookManaged);
        // The same values as non-contiguous views (transposed twice over a transposed copy): the LibTorch path.
        var views = grads.Select(g => g.dim() == 2 ? g.t().contiguous().t() : g.alias()).ToArray();
        double libTorch = AutoClipper.TotalNorm(views, out bool tookLibTorch);
        Assert.IsFalse(tookLibTorch);
        Assert.AreEqual(exact, managed, 1e-12 * exact, "managed: squares summed in double");
        Assert.AreEqual(exact, libTorch, 1e-6 * exact, "LibTorch: per-tensor norms in float32");

        const double scale = 0.3141592653589793;
        var viaLibTorch = AutoClipper.ScaleToThreshold(1, libTorch, libTorch * 0.31415, NonFiniteGradientPolicy.SkipStep, views);
        var viaManaged = AutoClipper.ScaleToThreshold(1, managed, managed * 0.31415, NonFiniteGradientPolicy.SkipStep, grads, scaleInManagedCode: true);
        Assert.AreEqual(viaLibTorch.Scale, viaManaged.Scale, 1e-6);
        Assert.IsLessThan(1.0, viaManaged.Scale);
        // With one and the same factor, the two multiplications agree value for value.
        var copies = grads.Select(g => g.clone()).ToArray();
        var copyViews = copies.Select(g => g.dim() == 2 ? g.t().contiguous().t() : g.alias()).ToArray();
        ManagedGradients.Scale(copies, (float)scale);
        using (var noGrad = no_grad())
        {
            foreach (var v in copyViews)
            {
                v.mul_(scale);
            }
        }
        for (int i = 0; i < copies.Length; i++)
        {
            CollectionAssert.AreEqual(copyViews[i].contiguous().data<float>().ToArray(), copies[i].data<float>().ToArray(), $"gradient {i}");
        }
    }

    [TestMethod]
    public void A_NaN_or_infinity_in_small_gradients_is_seen_by_the_managed_norm()
    {
        var grads = RandomGradients(3, new long[] { 10 }, new long[] { 9 });
        grads[1][4] = float.PositiveInfinity;
        Assert.AreEqual(double.PositiveInfinity, ManagedGradients.Norm(grads));
        grads[0][0] = float.NaN;
        Assert.IsTrue(double.IsNaN(ManagedGradients.Norm(grads)));
        // Through the public API: the step is skipped and nothing is recorded.
        var clipper = new AutoClipper();
        using var p = new TorchSharp.Modules.Parameter(zeros(10));
        p.grad = grads[0];
        var record = clipper.ClipGradients(new[] { p });
        Assert.IsTrue(record.Skipped);
        Assert.AreEqual(0, clipper.RecordedSteps);
    }

    [TestMethod]
    public void Gradients_of_mixed_dtypes_take_the_LibTorch_path_and_are_measured_together()
    {
        using var single = full(4, 1.5f);
        using var half = full(new long[] { 9 }, 2.0, dtype: ScalarType.Float16);
        double norm = AutoClipper.TotalNorm(new[] { single, half }, out bool managed);
        Assert.IsFalse(managed);
        Assert.AreEqual(Math.Sqrt(4 * 1.5 * 1.5 + 9 * 2.0 * 2.0), norm, 1e-3);
    }
}
