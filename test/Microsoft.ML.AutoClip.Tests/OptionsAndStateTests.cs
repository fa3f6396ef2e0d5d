using System;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClip.Tests;

[TestClass]
public sealed class OptionsAndStateTests
{
    private static void AssertRejected(Action set, string option, string value)
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(set);
        Assert.AreEqual(option, e.ParamName);
        StringAssert.Contains(e.Message, option);
        StringAssert.Contains(e.Message, value);
    }

    [TestMethod]
    public void Invalid_options_throw_naming_the_option_and_the_value()
    {
        AssertRejected(() => new AutoClipOptions { Percentile = -0.5 }, "Percentile", "-0.5");
        AssertRejected(() => new AutoClipOptions { Percentile = 100.01 }, "Percentile", "100.01");
        AssertRejected(() => new AutoClipOptions { Percentile = double.NaN }, "Percentile", "NaN");
        AssertRejected(() => new AutoClipOptions { HistoryWindow = 0 }, "HistoryWindow", "0");
        AssertRejected(() => new AutoClipOptions { HistoryWindow = -3 }, "HistoryWindow", "-3");
        AssertRejected(() => new AutoClipOptions { WarmupSteps = -1 }, "WarmupSteps", "-1");
        AssertRejected(() => new AutoClipOptions { NonFiniteGradients = (NonFiniteGradientPolicy)7 }, "NonFiniteGradients", "7");
    }

    [TestMethod]
    public void The_clipper_keeps_its_own_copy_of_the_options()
    {
        var options = new AutoClipOptions { Percentile = 50 };
        var clipper = new AutoClipper(options);
        options.Percentile = 0;
        clipper.Observe(1);
        Assert.AreEqual(2.0, clipper.Observe(3)); // p = 50 of [1, 3] is 2, not the minimum
        Assert.AreEqual(50, clipper.Options.Percentile);
    }

    [TestMethod]
    public void Non_finite_norms_are_never_recorded()
    {
        var rng = new Random(5);
        double[] finite = Enumerable.Range(0, 50).Select(_ => rng.NextDouble() * 10).ToArray();
        var clean = new AutoClipper();
        double[] expected = finite.Select(clean.Observe).ToArray();

        var dirty = new AutoClipper();
        var actual = new System.Collections.Generic.List<double>();
        for (int i = 0; i < finite.Length; i++)
        {
            if (i % 7 == 3)
            {
                Assert.IsTrue(double.IsNaN(dirty.Observe(double.NaN)));
                Assert.IsTrue(double.IsNaN(dirty.Observe(double.PositiveInfinity)));
                Assert.IsTrue(double.IsNaN(dirty.Observe(double.NegativeInfinity)));
            }
            actual.Add(dirty.Observe(finite[i]));
        }
        CollectionAssert.AreEqual(expected, actual);
        Assert.AreEqual(50, dirty.RecordedSteps);
        Assert.AreEqual(21, dirty.NonFiniteSteps);
        Assert.AreEqual(50, dirty.HistoryCount);
    }

    [TestMethod]
    public void Negative_norms_are_rejected()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new AutoClipper().Observe(-1));
        Assert.AreEqual("gradientNorm", e.ParamName);
    }

    [TestMethod]
    public void Warm_up_records_norms_without_clipping_then_uses_them()
    {
        var clipper = new AutoClipper(new AutoClipOptions { WarmupSteps = 3, Percentile = 0 });
        Assert.AreEqual(double.PositiveInfinity, clipper.Observe(5));
        Assert.AreEqual(double.PositiveInfinity, clipper.Observe(2));
        Assert.AreEqual(double.PositiveInfinity, clipper.Observe(9));
        Assert.AreEqual(2.0, clipper.Observe(4)); // the warm-up norms count
        Assert.AreEqual(1.0, AutoClipper.ClipScale(1e9, double.PositiveInfinity));
    }

    [TestMethod]
    public void Saved_state_restores_a_clipper_that_continues_identically()
    {
        foreach (int? window in new int?[] { null, 16 })
        {
            var rng = new Random(11);
            double[] norms = Enumerable.Range(0, 200).Select(_ => Math.Exp(rng.NextDouble() * 6)).ToArray();
            var options = new AutoClipOptions { Percentile = 25, HistoryWindow = window, WarmupSteps = 2 };

            var straight = new AutoClipper(options);
            double[] expected = norms.Select(straight.Observe).ToArray();

            var first = new AutoClipper(options);
            var actual = norms.Take(120).Select(first.Observe).ToList();
            first.Observe(double.NaN);
            using var stream = new MemoryStream();
            first.Save(stream);
            stream.Position = 0;
            var resumed = AutoClipper.Load(stream);
            actual.AddRange(norms.Skip(120).Select(resumed.Observe));

            CollectionAssert.AreEqual(expected, actual, $"window = {window}");
            Assert.AreEqual(1, resumed.NonFiniteSteps);
            Assert.AreEqual(200, resumed.RecordedSteps);
            Assert.AreEqual(options.ToString(), resumed.Options.ToString());
        }
    }

    [TestMethod]
    public void Corrupt_truncated_and_newer_states_are_rejected_clearly()
    {
        var clipper = new AutoClipper(new AutoClipOptions { HistoryWindow = 4 });
        foreach (double norm in new double[] { 1, 2, 3 })
        {
            clipper.Observe(norm);
        }
        using var stream = new MemoryStream();
        clipper.Save(stream);
        byte[] bytes = stream.ToArray();

        var truncated = Assert.ThrowsExactly<InvalidDataException>(() => AutoClipper.Load(new MemoryStream(bytes[..^5])));
        StringAssert.Contains(truncated.Message, "truncated");

        byte[] wrongMagic = (byte[])bytes.Clone();
        wrongMagic[0] = (byte)'X';
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => AutoClipper.Load(new MemoryStream(wrongMagic))).Message, "not an AutoClip state");

        byte[] newer = (byte[])bytes.Clone();
        BitConverter.GetBytes(AutoClipperState.FormatVersion + 1).CopyTo(newer, 4);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => AutoClipper.Load(new MemoryStream(newer))).Message, $"format version {AutoClipperState.FormatVersion + 1}");

        byte[] badPercentile = (byte[])bytes.Clone();
        BitConverter.GetBytes(250.0).CopyTo(badPercentile, 8);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => AutoClipper.Load(new MemoryStream(badPercentile))).Message, "Percentile");
    }
}
