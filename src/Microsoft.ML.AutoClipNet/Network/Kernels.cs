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
