using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>
/// Per-group thresholds (<see cref="AutoClipScope.PerParameter"/>, <see cref="AutoClipScope.PerParameterGroup"/>):
/// each group's threshold is exactly NumPy's percentile over that group's own norms (a per-group re-implementation of
/// the reference), its gradients are scaled by that group's factor alone, a saved state resumes bit-identically, and a
/// non-finite gradient anywhere records nothing anywhere.
/// </summary>
[TestClass]
public sealed class ScopeTests
{
    private static readonly long[][] Shapes = { new long[] { 6, 4 }, new long[] { 6 }, new long[] { 3, 6 }, new long[] { 3 } };

    /// <summary>Fresh parameters whose gradients are random with a size of their own for each tensor.</summary>
    private static Parameter[] WithGradients(Random rng, double[] magnitudes)
    {
        var result = new Parameter[Shapes.Length];
        for (int i = 0; i < Shapes.Length; i++)
        {
            var p = new Parameter(zeros(Shapes[i]));
            var values = Enumerable.Range(0, (int)Shapes[i].Aggregate(1L, (a, b) => a * b)).Select(_ => (float)((rng.NextDouble() * 2 - 1) * magnitudes[i])).ToArray();
            p.grad = tensor(values, Shapes[i]);
            result[i] = p;
        }
        return result;
    }

    private static float[] Values(Parameter p)
    {
        using var g = p.grad!;
        return g.data<float>().ToArray();
    }

    private static double Norm(IEnumerable<float[]> tensors) => Math.Sqrt(tensors.Sum(t => t.Sum(x => (double)x * x)));

    private static double[] Magnitudes(Random rng) => Enumerable.Range(0, Shapes.Length).Select(_ => Math.Pow(10, rng.NextDouble() * 6 - 3)).ToArray();

    [TestMethod]
    [DataRow(10.0, null)]
    [DataRow(50.0, null)]
    [DataRow(90.0, 7)]
    public void Per_parameter_thresholds_are_the_reference_percentile_of_each_parameters_own_norms(double p, int? window)
    {
        var rng = new Random(5);
        var clipper = new AutoClipper(new AutoClipOptions { Percentile = p, HistoryWindow = window, Scope = AutoClipScope.PerParameter });
        var norms = Enumerable.Range(0, Shapes.Length).Select(_ => new List<double>()).ToArray();
        var clippedGroups = new HashSet<int>();
        for (int step = 1; step <= 60; step++)
        {
            var parameters = WithGradients(rng, Magnitudes(rng));
            var before = parameters.Select(Values).ToArray();
            var record = clipper.ClipGradients(parameters);
            var after = parameters.Select(Values).ToArray();
            Assert.IsFalse(record.Skipped);
            Assert.HasCount(Shapes.Length, clipper.Groups);
            Assert.AreEqual(Norm(before), record.GradientNorm, 1e-6 * record.GradientNorm, "the step reports the total norm");
            double smallest = 1;
            for (int g = 0; g < Shapes.Length; g++)
            {
                double norm = Norm(new[] { before[g] });
                norms[g].Add(clipper.LastGroupSteps[g].GradientNorm);
                Assert.AreEqual(norm, clipper.LastGroupSteps[g].GradientNorm, 1e-6 * norm);
                double expected = NumPyReference.Thresholds(norms[g], p, window)[^1];
                Assert.AreEqual(expected, clipper.Groups[g].Threshold, $"step {step}, group {g}: the threshold is the reference percentile of the group's own norms");
                Assert.AreEqual(expected, clipper.LastGroupSteps[g].Threshold);
                double scale = AutoClipper.ClipScale(clipper.LastGroupSteps[g].GradientNorm, expected);
                Assert.AreEqual(scale, clipper.LastGroupSteps[g].Scale);
                smallest = Math.Min(smallest, scale);
                if (scale < 1)
                {
                    clippedGroups.Add(g);
                }
                for (int j = 0; j < before[g].Length; j++)
                {
                    float want = scale < 1 ? before[g][j] * (float)scale : before[g][j];
                    Assert.AreEqual(want, after[g][j], 1e-6f * Math.Abs(before[g][j]) + 1e-30f, $"step {step}, group {g}: scaled by its own factor only");
                }
            }
            Assert.AreEqual(smallest, record.Scale, "the step reports the smallest group factor");
            Assert.IsTrue(double.IsNaN(record.Threshold), "no single threshold for a grouped step");
        }
        Assert.AreEqual(60, clipper.RecordedSteps);
        Assert.HasCount(Shapes.Length, clippedGroups, "every group was clipped at some step");
    }

    [TestMethod]
    public void The_optimizer_wrapper_clips_each_parameter_group_to_its_own_threshold()
    {
        var rng = new Random(8);
        var first = new[] { new Parameter(zeros(4, 3)), new Parameter(zeros(4)) };
        var second = new[] { new Parameter(zeros(2, 4)) };
        var sgd = optim.SGD(new[]
        {
            new TorchSharp.Modules.SGD.ParamGroup(first, new TorchSharp.Modules.SGD.Options { LearningRate = 0.1 }),
            new TorchSharp.Modules.SGD.ParamGroup(second, new TorchSharp.Modules.SGD.Options { LearningRate = 0.1 }),
        }, 0.1);
        using var optimizer = sgd.WithAutoClip(new AutoClipOptions { Scope = AutoClipScope.PerParameterGroup });
        var norms = new[] { new List<double>(), new List<double>() };
        for (int step = 1; step <= 30; step++)
        {
            double big = Math.Pow(10, rng.NextDouble() * 4 - 2), small = Math.Pow(10, rng.NextDouble() * 4 - 2);
            foreach (var (p, m) in first.Select(p => (p, big)).Concat(second.Select(p => (p, small))))
            {
                var values = Enumerable.Range(0, (int)p.numel()).Select(_ => (float)((rng.NextDouble() * 2 - 1) * m)).ToArray();
                p.grad = tensor(values, p.shape);
            }
            double n1 = Norm(first.Select(Values)), n2 = Norm(second.Select(Values));
            optimizer.step();
            norms[0].Add(optimizer.Clipper.LastGroupSteps[0].GradientNorm);
            norms[1].Add(optimizer.Clipper.LastGroupSteps[1].GradientNorm);
            Assert.AreEqual(n1, norms[0][^1], 1e-6 * n1);
            Assert.AreEqual(n2, norms[1][^1], 1e-6 * n2);
            Assert.AreEqual(NumPyReference.Thresholds(norms[0], 10)[^1], optimizer.Clipper.Groups[0].Threshold);
            Assert.AreEqual(NumPyReference.Thresholds(norms[1], 10)[^1], optimizer.Clipper.Groups[1].Threshold);
            double clippedNorm = Norm(first.Select(Values));
            Assert.IsLessThanOrEqualTo(optimizer.Clipper.Groups[0].Threshold * (1 + 1e-6), clippedNorm, "the first group within its own threshold");
        }
        Assert.HasCount(2, optimizer.Clipper.Groups);
    }

    [TestMethod]
    [DataRow(AutoClipScope.PerParameter)]
    [DataRow(AutoClipScope.PerParameterGroup)]
    public void A_saved_grouped_state_resumes_bit_identically(AutoClipScope scope)
    {
        var options = new AutoClipOptions { Percentile = 25, Scope = scope, WarmupSteps = 3 };
        IReadOnlyList<IEnumerable<Parameter>> Groups(Parameter[] ps) => new[] { ps.Take(2), ps.Skip(2) };
        AutoClipStep Clip(AutoClipper c, Parameter[] ps) => scope == AutoClipScope.PerParameter ? c.ClipGradients(ps) : c.ClipGradients(Groups(ps));

        var straight = new AutoClipper(options);
        var resumed = new AutoClipper(options);
        var rngA = new Random(3);
        var rngB = new Random(3);
        for (int step = 1; step <= 40; step++)
        {
            var a = WithGradients(rngA, Magnitudes(rngA));
            var b = WithGradients(rngB, Magnitudes(rngB));
            var ra = Clip(straight, a);
            var rb = Clip(resumed, b);
            Assert.AreEqual(ra, rb, $"step {step}");
            CollectionAssert.AreEqual(a.SelectMany(Values).ToArray(), b.SelectMany(Values).ToArray(), $"step {step}: the same gradients, bit for bit");
            CollectionAssert.AreEqual(straight.LastGroupSteps.ToArray(), resumed.LastGroupSteps.ToArray());
            if (step % 13 == 0)
            {
                using var stream = new MemoryStream();
                resumed.Save(stream);
                stream.Position = 0;
                resumed = AutoClipper.Load(stream);
                Assert.AreEqual(scope, resumed.Options.Scope);
                Assert.HasCount(straight.Groups.Count, resumed.Groups);
                for (int g = 0; g < straight.Groups.Count; g++)
                {
                    // (Without a window the history's order is unspecified: compare it as a multiset.)
                    CollectionAssert.AreEqual(straight.Groups[g].GetHistory().Order().ToArray(), resumed.Groups[g].GetHistory().Order().ToArray());
                    Assert.AreEqual(straight.Groups[g].Threshold, resumed.Groups[g].Threshold);
                }
            }
        }
    }

    [TestMethod]
    public void A_non_finite_gradient_in_any_group_records_nothing_anywhere()
    {
        var rng = new Random(11);
        var clipper = new AutoClipper(new AutoClipOptions { Scope = AutoClipScope.PerParameter });
        for (int step = 0; step < 5; step++)
        {
            clipper.ClipGradients(WithGradients(rng, Magnitudes(rng)));
        }
        var histories = clipper.Groups.Select(g => g.GetHistory()).ToArray();
        var parameters = WithGradients(rng, Magnitudes(rng));
        using (var g = parameters[2].grad!)
        {
            using var nan = tensor(float.NaN);
            g[0, 0] = nan;
        }
        var before = parameters.Select(Values).ToArray();
        var record = clipper.ClipGradients(parameters);
        Assert.IsTrue(record.Skipped);
        Assert.AreEqual(1, clipper.NonFiniteSteps);
        Assert.AreEqual(5, clipper.RecordedSteps);
        for (int i = 0; i < histories.Length; i++)
        {
            CollectionAssert.AreEqual(histories[i], clipper.Groups[i].GetHistory(), $"group {i}'s history untouched");
            CollectionAssert.AreEqual(before[i], Values(parameters[i]), $"group {i}'s gradient untouched");
        }

        var strict = new AutoClipper(new AutoClipOptions { Scope = AutoClipScope.PerParameter, NonFiniteGradients = NonFiniteGradientPolicy.Throw });
        Assert.Throws<NonFiniteGradientException>(() => strict.ClipGradients(parameters));
        Assert.AreEqual(0, strict.RecordedSteps);
    }

    [TestMethod]
    public void Misuse_of_a_grouped_clipper_says_what_to_call_instead()
    {
        var rng = new Random(1);
        var grouped = new AutoClipper(new AutoClipOptions { Scope = AutoClipScope.PerParameterGroup });
        StringAssert.Contains(Assert.Throws<InvalidOperationException>(() => grouped.ClipGradients(WithGradients(rng, Magnitudes(rng)))).Message, "ClipGradients(groups)");
        StringAssert.Contains(Assert.Throws<InvalidOperationException>(() => grouped.Observe(1.0)).Message, "PerParameterGroup");
        var parameters = WithGradients(rng, Magnitudes(rng));
        grouped.ClipGradients(new[] { parameters.Take(2), parameters.Skip(2) });
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => grouped.ClipGradients(new[] { parameters.AsEnumerable() })).Message, "first step had 2");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new AutoClipOptions { Scope = (AutoClipScope)7 });
    }

    [TestMethod]
    public void A_global_state_is_still_written_in_version_1_and_a_grouped_one_in_version_2()
    {
        var global = new AutoClipper();
        global.Observe(1.0);
        using var a = new MemoryStream();
        global.Save(a);
        Assert.AreEqual(1, BitConverter.ToInt32(a.ToArray(), 4), "readable by every earlier version");

        var grouped = new AutoClipper(new AutoClipOptions { Scope = AutoClipScope.PerParameter });
        var rng = new Random(2);
        grouped.ClipGradients(WithGradients(rng, Magnitudes(rng)));
        using var b = new MemoryStream();
        grouped.Save(b);
        Assert.AreEqual(2, BitConverter.ToInt32(b.ToArray(), 4));
        b.Position = 0;
        var loaded = AutoClipper.Load(b);
        Assert.HasCount(Shapes.Length, loaded.Groups);
        Assert.AreEqual(1, loaded.RecordedSteps);
    }
}
