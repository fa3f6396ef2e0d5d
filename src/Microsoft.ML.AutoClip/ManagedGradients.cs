using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip;

/// <summary>
/// The clip step's arithmetic done in managed code, straight on the memory of small CPU gradients.
/// For a small model the LibTorch operations of a per-tensor clip (one norm and one multiplication
/// per gradient) cost more in per-call overhead than in arithmetic; reading the memory directly
/// makes the step a pass over the gradients with no LibTorch call besides locating them.
/// Large, GPU, non-float32, non-contiguous or autograd-tracked gradients go through LibTorch.
/// </summary>
internal static class ManagedGradients
{
    /// <summary>Above this many values in total, LibTorch's multi-threaded kernels are faster.</summary>
    public const long MaxValues = 1 << 18;

    /// <summary>Whether every gradient qualifies (CPU, float32, contiguous, not tracked by autograd) and they are small enough together.</summary>
    public static bool Applies(IReadOnlyList<Tensor> grads)
    {
        long total = 0;
        foreach (var grad in grads)
        {
            if (grad.device_type != DeviceType.CPU || grad.dtype != ScalarType.Float32 || grad.requires_grad || !grad.is_contiguous())
            {
                return false;
            }
            total += grad.numel();
            if (total > MaxValues)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The L2 norm of all the gradients together, accumulated in double precision.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static double Norm(IReadOnlyList<Tensor> grads)
    {
        double sum = 0;
        foreach (var grad in grads)
        {
            sum += SumOfSquares(Values(grad));
        }
        return Math.Sqrt(sum);
    }

    /// <summary>Multiplies every gradient by <paramref name="factor"/> in place, as LibTorch's <c>mul_</c> does on float32 (one rounding per value).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Scale(IReadOnlyList<Tensor> grads, float factor)
    {
        foreach (var grad in grads)
        {
            var values = Values(grad);
            var vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
            var by = new Vector<float>(factor);
            for (int i = 0; i < vectors.Length; i++)
            {
                vectors[i] *= by;
            }
            for (int i = vectors.Length * Vector<float>.Count; i < values.Length; i++)
            {
                values[i] *= factor;
            }
        }
    }

    private static Span<float> Values(Tensor grad) => MemoryMarshal.Cast<byte, float>(grad.bytes);

    /// <summary>
    /// Sum of squares with every square added in double precision (SIMD lanes widened from float), in four independent
    /// accumulator pairs so that the additions do not wait on each other: the loop runs at the machine's SIMD
    /// throughput, not at the latency of one chain of additions.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static double SumOfSquares(ReadOnlySpan<float> values)
    {
        var vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
        Vector<double> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, d0 = default, d1 = default;
        int i = 0;
        for (; i <= vectors.Length - 4; i += 4)
        {
            Vector.Widen(vectors[i], out var x0, out var x1);
            Vector.Widen(vectors[i + 1], out var y0, out var y1);
            Vector.Widen(vectors[i + 2], out var z0, out var z1);
            Vector.Widen(vectors[i + 3], out var w0, out var w1);
            a0 += x0 * x0;
            a1 += x1 * x1;
            b0 += y0 * y0;
            b1 += y1 * y1;
            c0 += z0 * z0;
            c1 += z1 * z1;
            d0 += w0 * w0;
            d1 += w1 * w1;
        }
        for (; i < vectors.Length; i++)
        {
            Vector.Widen(vectors[i], out var x0, out var x1);
            a0 += x0 * x0;
            a1 += x1 * x1;
        }
        double sum = Vector.Sum((a0 + a1) + (b0 + b1) + ((c0 + c1) + (d0 + d1)));
        for (int j = vectors.Length * Vector<float>.Count; j < values.Length; j++)
        {
            sum += (double)values[j] * values[j];
        }
        return sum;
    }
}
