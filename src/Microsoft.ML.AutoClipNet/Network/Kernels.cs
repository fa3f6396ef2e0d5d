using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// The managed arithmetic of the single-row forward pass, written so that its result depends on the
/// values alone: never on where they sit in memory, on the thread, or on the library version.
/// A dot product adds the products of eight lanes in a fixed order (elements i, i+8, i+16, ... in lane
/// i mod 8), then the lanes pairwise in a fixed tree, then the tail in order; multiplications and
/// additions are separate roundings (no fused multiply-add), so every platform computes the same bits.
/// </summary>
internal static class Kernels
{
    /// <summary>Σ a[i]·b[i] in the fixed order described on <see cref="Kernels"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Dot product of spans of {a.Length} and {b.Length} values.");
        }
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        int n = a.Length;
        int i = 0;
        var acc = Vector256<float>.Zero;
        for (; i <= n - 8; i += 8)
        {
            acc += Vector256.LoadUnsafe(ref pa, (nuint)i) * Vector256.LoadUnsafe(ref pb, (nuint)i);
        }
        float sum = Reduce(acc);
        for (; i < n; i++)
        {
            sum += Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
        }
        return sum;
    }

    /// <summary>
    /// output[j] = Σ_i weights[j·n + i]·input[i] + bias[j] for every output j (row-major weights,
    /// outputs × inputs): each output exactly as <see cref="Dot"/> plus its bias. Four outputs share
    /// each load of the input.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Dense(ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, ReadOnlySpan<float> input, Span<float> output)
    {
        int n = input.Length;
        int m = bias.Length;
        if (weights.Length != (long)n * m || output.Length < m)
        {
            throw new ArgumentException($"A dense layer of {m} outputs × {n} inputs got {weights.Length} weights and room for {output.Length} outputs.");
        }
        ref float px = ref MemoryMarshal.GetReference(input);
        ref float pw = ref MemoryMarshal.GetReference(weights);
        int j = 0;
        for (; j <= m - 4; j += 4)
        {
            ref float w0 = ref Unsafe.Add(ref pw, (nint)j * n);
            ref float w1 = ref Unsafe.Add(ref w0, n);
            ref float w2 = ref Unsafe.Add(ref w1, n);
            ref float w3 = ref Unsafe.Add(ref w2, n);
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            int i = 0;
            for (; i <= n - 8; i += 8)
            {
                var x = Vector256.LoadUnsafe(ref px, (nuint)i);
                a0 += Vector256.LoadUnsafe(ref w0, (nuint)i) * x;
                a1 += Vector256.LoadUnsafe(ref w1, (nuint)i) * x;
                a2 += Vector256.LoadUnsafe(ref w2, (nuint)i) * x;
                a3 += Vector256.LoadUnsafe(ref w3, (nuint)i) * x;
            }
            float s0 = Reduce(a0), s1 = Reduce(a1), s2 = Reduce(a2), s3 = Reduce(a3);
            for (; i < n; i++)
            {
                float x = Unsafe.Add(ref px, i);
                s0 += Unsafe.Add(ref w0, i) * x;
                s1 += Unsafe.Add(ref w1, i) * x;
                s2 += Unsafe.Add(ref w2, i) * x;
                s3 += Unsafe.Add(ref w3, i) * x;
            }
            output[j] = s0 + bias[j];
            output[j + 1] = s1 + bias[j + 1];
            output[j + 2] = s2 + bias[j + 2];
            output[j + 3] = s3 + bias[j + 3];
        }
        for (; j < m; j++)
        {
            output[j] = Dot(weights.Slice(j * n, n), input) + bias[j];
        }
    }

    /// <summary>Whether every value is a finite number (x − x is 0 for a finite x and NaN for an infinity or a NaN).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        int i = 0;
        var zero = Vector256<float>.Zero;
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            var v = Vector256.Create(x[i..]);
            if (!Vector256.EqualsAll(v - v, zero))
            {
                return false;
            }
        }
        for (; i < x.Length; i++)
        {
            if (!float.IsFinite(x[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Σ x[i] in the order of <see cref="Dot"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static float Sum(ReadOnlySpan<float> x)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        var acc = Vector256<float>.Zero;
        for (; i <= n - 8; i += 8)
        {
            acc += Vector256.LoadUnsafe(ref px, (nuint)i);
        }
        float sum = Reduce(acc);
        for (; i < n; i++)
        {
            sum += Unsafe.Add(ref px, i);
        }
        return sum;
    }

    /// <summary>Arguments up to this size are reduced by <see cref="SinCos"/>'s three-part π/2; larger ones go to MathF.</summary>
    internal const float SinCosReductionLimit = 8192f;

    // π/2 in three parts (Cody and Waite): the first two have 8 and 11 significant bits, so j·part is exact for
    // |j| < 2¹³ (|t| up to 8,192 gives |j| ≤ 5,216), and t − j·π/2 loses nothing to cancellation.
    private const float HalfPi1 = 1.5703125f;
    private const float HalfPi2 = 4.837512969970703125e-4f;
    private const float HalfPi3 = 7.54978995489188216e-8f;
    private const float TwoOverPi = 0.636619772367581343f;
    private const float RoundingShift = 12582912f; // 1.5·2²³: adding it rounds to an integer, held in the low bits

    // Minimax polynomials on [−π/4, π/4] (the single-precision coefficients of the Cephes library's sinf and cosf).
    private const float S1 = -1.6666654611e-1f, S2 = 8.3321608736e-3f, S3 = -1.9515295891e-4f;
    private const float C1 = 4.166664568298827e-2f, C2 = -1.388731625493765e-3f, C3 = 2.443315711809948e-5f;

    /// <summary>
    /// sin t and cos t of every value, to within 2.5·10⁻⁷ of the exact values for |t| up to <see cref="SinCosReductionLimit"/>
    /// (MathF beyond it, and for NaN and infinities): t is reduced by the nearest multiple j of π/2, the reduced value's sine and cosine are
    /// polynomials, and j mod 4 picks and signs them, eight values at a time, with the same rounding on every machine (no
    /// fused multiply-add). The values after the last full eight, and any eight that hold a value beyond the limit or a NaN,
    /// go to MathF (the C runtime's, so their last bits can differ between operating systems). <paramref name="sin"/> may
    /// be <paramref name="t"/> itself.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void SinCos(ReadOnlySpan<float> t, Span<float> sin, Span<float> cos)
    {
        int n = t.Length;
        if (sin.Length < n || cos.Length < n)
        {
            throw new ArgumentException($"SinCos of {n} values got room for {sin.Length} sines and {cos.Length} cosines.");
        }
        int i = 0;
        for (; i <= n - 8; i += 8)
        {
            var x = Vector256.Create(t[i..]);
            if (Vector256.GreaterThanAny(Vector256.Abs(x), Vector256.Create(SinCosReductionLimit)) || !Vector256.EqualsAll(x, x))
            {
                for (int l = i; l < i + 8; l++)
                {
                    (sin[l], cos[l]) = MathF.SinCos(t[l]);
                }
                continue;
            }
            var shifted = x * Vector256.Create(TwoOverPi) + Vector256.Create(RoundingShift);
            var quadrant = shifted.AsInt32();                 // j in the low bits
            var j = shifted - Vector256.Create(RoundingShift); // j as a float, exactly
            var r = x - j * Vector256.Create(HalfPi1);
            r -= j * Vector256.Create(HalfPi2);
            r -= j * Vector256.Create(HalfPi3);
            var r2 = r * r;
            var s = r + r * r2 * (Vector256.Create(S1) + r2 * (Vector256.Create(S2) + r2 * Vector256.Create(S3)));
            var c = Vector256<float>.One - r2 * Vector256.Create(0.5f) + r2 * r2 * (Vector256.Create(C1) + r2 * (Vector256.Create(C2) + r2 * Vector256.Create(C3)));
            var swap = Vector256.Equals(quadrant & Vector256<int>.One, Vector256<int>.One).AsSingle();
            var sinSign = Vector256.ShiftLeft(quadrant & Vector256.Create(2), 30).AsSingle();
            var cosSign = Vector256.ShiftLeft((quadrant + Vector256<int>.One) & Vector256.Create(2), 30).AsSingle();
            (Vector256.ConditionalSelect(swap, c, s) ^ sinSign).CopyTo(sin[i..]);
            (Vector256.ConditionalSelect(swap, s, c) ^ cosSign).CopyTo(cos[i..]);
        }
        for (; i < n; i++)
        {
            (sin[i], cos[i]) = MathF.SinCos(t[i]);
        }
    }

    // eˣ = 2ⁿ·eʳ with n the integer nearest x·log₂e and r = x − n·ln 2 (ln 2 in two parts), eʳ a polynomial on
    // [−ln 2/2, ln 2/2] (the single-precision coefficients of the Cephes library's expf).
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f;
    private const float E1 = 1.9875691500e-4f, E2 = 1.3981999507e-3f, E3 = 8.3334519073e-3f, E4 = 4.1665795894e-2f, E5 = 1.6666665459e-1f, E6 = 5.0000001201e-1f;

    /// <summary>
    /// eˣ of eight finite values of at most 0, to within one ulp (arguments below −87 give e⁻⁸⁷, 10⁻³⁸, not subnormal
    /// results); the same rounding in every lane and on every machine (no fused multiply-add).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpOfNonPositive(Vector256<float> x)
    {
        x = Vector256.Max(x, Vector256.Create(-87f));
        var shifted = x * Vector256.Create(Log2E) + Vector256.Create(RoundingShift);
        var n = shifted - Vector256.Create(RoundingShift); // the nearest integer, as a float
        var r = x - n * Vector256.Create(Ln2Hi);
        r -= n * Vector256.Create(Ln2Lo);
        var r2 = r * r;
        var p = Vector256.Create(E1) * r + Vector256.Create(E2);
        p = p * r + Vector256.Create(E3);
        p = p * r + Vector256.Create(E4);
        p = p * r + Vector256.Create(E5);
        p = p * r + Vector256.Create(E6);
        var er = p * r2 + r + Vector256<float>.One;
        var twoToN = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return er * twoToN;
    }

    /// <summary>The eight lanes added as ((0+4)+(2+6)) + ((1+5)+(3+7)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector256<float> v)
    {
        var half = v.GetLower() + v.GetUpper(); // lanes 0+4, 1+5, 2+6, 3+7
        float a = half.GetElement(0) + half.GetElement(2);
        float b = half.GetElement(1) + half.GetElement(3);
        return a + b;
    }
}
