using System;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The managed kernels of the training step (sine and cosine of the periodic embeddings, the exponential of SELU, the
/// feature transform) against double-precision references and against the LibTorch operations they replace.
/// </summary>
[TestClass]
public sealed class TrainingKernelTests
{
    [TestMethod]
    public void SinCos_is_within_2_5e_7_of_the_exact_values_and_falls_back_outside_its_range()
    {
        var random = new Random(1);
        // Within the reduction's range (the vector path, in full groups of eight): the embeddings' usual range, the whole
        // range up to the limit, exact multiples of π/4 (quadrant boundaries, negative ones too), and the limit itself.
        var inRange = new float[24_000];
        for (int i = 0; i < inRange.Length; i++)
        {
            inRange[i] = (i % 3) switch
            {
                0 => (float)((random.NextDouble() * 2 - 1) * 20),
                1 => (float)((random.NextDouble() * 2 - 1) * Kernels.SinCosReductionLimit),
                _ => (float)(Math.PI / 4 * random.Next(-10_000, 10_000)),
            };
        }
        inRange[0] = 0f;
        inRange[1] = -0f;
        inRange[2] = Kernels.SinCosReductionLimit;
        inRange[3] = -Kernels.SinCosReductionLimit;
        inRange[4] = 1e-30f;
        Assert.IsTrue(inRange.All(t => Math.Abs(t) <= Kernels.SinCosReductionLimit));
        Check(inRange, "in range");

        // Beyond the limit (MathF), with values in range in the same group of eight, and a tail after the last full group.
        var beyond = Enumerable.Range(0, 4_003).Select(i => i % 8 == 5 ? (float)((random.NextDouble() * 2 - 1) * 1e6) : (float)((random.NextDouble() * 2 - 1) * 30)).ToArray();
        beyond[6] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(Kernels.SinCosReductionLimit) + 1);
        Check(beyond, "beyond the limit");

        // Not finite: NaN, as MathF gives; in place (sin over t) works too.
        var specials = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1f, 2f, 3f, 4f, 5f, 6f };
        var s = specials.ToArray();
        var c = new float[specials.Length];
        Kernels.SinCos(s, s, c);
        for (int i = 0; i < 3; i++)
        {
            Assert.IsTrue(float.IsNaN(s[i]) && float.IsNaN(c[i]), $"sin/cos of {specials[i]}");
        }
        for (int i = 3; i < specials.Length; i++)
        {
            Assert.AreEqual(Math.Sin(specials[i]), s[i], 2.5e-7, $"sin {specials[i]} in place");
            Assert.AreEqual(Math.Cos(specials[i]), c[i], 2.5e-7, $"cos {specials[i]} in place");
        }

        static void Check(float[] t, string what)
        {
            var sin = new float[t.Length];
            var cos = new float[t.Length];
            Kernels.SinCos(t, sin, cos);
            double worst = 0;
            for (int i = 0; i < t.Length; i++)
            {
                double sinError = Math.Abs(sin[i] - Math.Sin(t[i])), cosError = Math.Abs(cos[i] - Math.Cos(t[i]));
                worst = Math.Max(worst, Math.Max(sinError, cosError));
                Assert.IsTrue(sinError <= 2.5e-7 && cosError <= 2.5e-7, $"{what}, t = {t[i]:R}: sin {sin[i]:R} (exact {Math.Sin(t[i]):R}), cos {cos[i]:R} (exact {Math.Cos(t[i]):R})");
            }
            Assert.IsTrue(worst > 0, $"{what}: some values are not exactly the double-precision ones, so the comparison is real.");
        }
        // The vector path is what ran in range: it does not give MathF's bits everywhere.
        var vector = new float[inRange.Length];
        var unused = new float[inRange.Length];
        Kernels.SinCos(inRange, vector, unused);
        Assert.IsTrue(inRange.Where((t, i) => vector[i] != MathF.Sin(t)).Any(), "the in-range values went through the polynomials");
    }

    [TestMethod]
    public void AllFinite_finds_one_NaN_or_infinity_anywhere_as_LibTorchs_isfinite_does()
    {
        // Lengths around the vector width, the bad value in the vector part and in the tail; the largest finite values are finite.
        foreach (int length in new[] { 1, 7, 8, 9, 31, 64, 67 })
        {
            var values = Enumerable.Range(0, length).Select(i => (i % 3 - 1) * (float)(i + 1)).ToArray();
            values[length / 2] = float.MaxValue;
            values[0] = -float.MaxValue;
            Assert.IsTrue(Kernels.AllFinite(values), $"{length} finite values");
            using (var t = tensor(values))
            {
                Assert.IsTrue(t.isfinite().all().item<bool>());
            }
            foreach (int at in new[] { 0, length / 2, length - 1 })
            {
                foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
                {
                    var copy = (float[])values.Clone();
                    copy[at] = bad;
                    Assert.IsFalse(Kernels.AllFinite(copy), $"{bad} at {at} of {length}");
                    using var t = tensor(copy);
                    Assert.IsFalse(t.isfinite().all().item<bool>());
                }
            }
        }
        Assert.IsTrue(Kernels.AllFinite(ReadOnlySpan<float>.Empty));
    }

    [TestMethod]
    public void The_exponential_of_non_positive_values_is_within_one_ulp()
    {
        var random = new Random(2);
        var x = Enumerable.Range(0, 4096).Select(i => i < 8 ? new[] { 0f, -0f, -1e-30f, -87f, -86.9f, -88f, -100f, -1e30f }[i] : (float)(-random.NextDouble() * (i % 2 == 0 ? 1 : 90))).ToArray();
        for (int i = 0; i < x.Length; i += 8)
        {
            var e = Kernels.ExpOfNonPositive(System.Runtime.Intrinsics.Vector256.Create(x.AsSpan(i, 8)));
            for (int l = 0; l < 8; l++)
            {
                double exact = Math.Exp(Math.Max(x[i + l], -87f));
                float ulp = MathF.BitIncrement((float)exact) - (float)exact;
                Assert.IsTrue(Math.Abs(e[l] - exact) <= ulp, $"exp({x[i + l]:R}) = {e[l]:R}, exact {exact:R}");
                Assert.IsTrue(e[l] >= 1e-38f, "no subnormal results");
            }
        }
    }

    [TestMethod]
    public void The_training_steps_SELU_matches_LibTorchs_and_keeps_NaN()
    {
        var random = new Random(3);
        var values = Enumerable.Range(0, 1003).Select(i => i switch
        {
            0 => 0f, 1 => -0f, 2 => float.NaN, 3 => -200f, 4 => 1e-30f, 5 => -1e-30f, 6 => float.PositiveInfinity, 7 => float.NegativeInfinity,
            _ => (float)((random.NextDouble() * 2 - 1) * (i % 3 == 0 ? 0.01 : 10)),
        }).ToArray();
        using var scope = NewDisposeScope();
        var expected = TensorMemory.Copy(values, values.Length).selu_().data<float>().ToArray();
        var actual = values.ToArray();
        Derivatives.Selu(actual);
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsNaN(expected[i]))
            {
                Assert.IsTrue(float.IsNaN(actual[i]), $"SELU({values[i]}) = {actual[i]}, LibTorch NaN");
                continue;
            }
            Assert.AreEqual(expected[i], actual[i], 4e-7f * (1 + Math.Abs(expected[i])), $"SELU({values[i]:R})");
        }
        Assert.IsTrue(values.Select((v, i) => (v, i)).Where(p => p.v > 0 && float.IsFinite(p.v)).All(p => actual[p.i] == expected[p.i]), "positive values are λ·x exactly");
    }

    [TestMethod]
    public void The_managed_feature_transform_step_is_within_two_ulps_of_LibTorchs()
    {
        var random = new Random(4);
        const int inputs = 11, rows = 29;
        float[] Values(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        foreach (bool anyClip in new[] { true, false })
        {
            var layer = new FeatureTransformLayer(Values(inputs, 3), Values(inputs, 2).Select(v => 0.1f + Math.Abs(v)).ToArray(), Enumerable.Range(0, inputs).Select(i => anyClip && i % 3 != 1).ToArray());
            using var network = new NetworkDescription(inputs, new Layer[] { layer, DenseLayer.Create(inputs, 1, DenseInit.Uniform, random) });
            using var module = new TrainingModule(network);
            using var scope = NewDisposeScope();
            var data = Values(rows * inputs, 40);
            var contiguous = TensorMemory.Copy(data, rows, inputs);
            var strided = contiguous.t().contiguous().t(); // the same rows, not contiguous: the step's LibTorch operations
            var step = layer.CreateStep(new StepContext(module.ValueViews(0), module.GradientViews(0), rows, NeedInputGradient: false));
            var managed = step.Forward(contiguous, rows).data<float>().ToArray();
            Assert.IsFalse(strided.is_contiguous());
            var libTorch = step.Forward(strided, rows).data<float>().ToArray();
            // LibTorch rounds some of these operations differently in the last bit (its vector kernels); a step's own result never changes.
            for (int i = 0; i < managed.Length; i++)
            {
                Assert.IsTrue(Math.Abs(BitConverter.SingleToInt32Bits(managed[i]) - BitConverter.SingleToInt32Bits(libTorch[i])) <= 2, $"clipping {anyClip}, value {i}: {managed[i]:R} against LibTorch's {libTorch[i]:R}");
            }
            CollectionAssert.AreEqual(managed, step.Forward(contiguous, rows).data<float>().ToArray(), "the same rows, the same values");
            step.Dispose();
        }
    }

    [TestMethod]
    public void The_values_of_a_row_range_start_at_its_first_row()
    {
        // The training step reads batches in place; a batch that is a range of a larger tensor's rows must read that range.
        using var scope = NewDisposeScope();
        var all = TensorMemory.Copy(Enumerable.Range(0, 40).Select(i => (float)i).ToArray(), 10, 4);
        var range = all.narrow(0, 3, 2);
        CollectionAssert.AreEqual(new float[] { 12, 13, 14, 15, 16, 17, 18, 19 }, TensorMemory.Floats(range).ToArray());
    }
}
