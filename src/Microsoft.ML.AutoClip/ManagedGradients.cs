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

    /// <summary>Sum of squares with every square added in double precision (SIMD lanes widened from float).</summary>
    internal static double SumOfSquares(ReadOnlySpan<float> values)
    {
        var vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
        var low = Vector<double>.Zero;
        var high = Vector<double>.Zero;
        for (int i = 0; i < vectors.Length; i++)
        {
            Vector.Widen(vectors[i], out var a, out var b);
            low += a * a;
            high += b * b;
        }
        double sum = Vector.Sum(low + high);
        for (int i = vectors.Length * Vector<float>.Count; i < values.Length; i++)
        {
            sum += (double)values[i] * values[i];
        }
        return sum;
    }
}
