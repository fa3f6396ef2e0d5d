using System;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// Moving values between managed memory and LibTorch tensors without ever letting LibTorch compute on
/// managed memory. <c>torch.tensor(float[])</c> keeps a pinned copy of the array as the tensor's
/// storage, and a managed array is only 8-byte aligned, so its address modulo 16 depends on what the
/// process allocated before. LibTorch's matrix-vector products (a layer with one output) take a
/// different code path, and round differently, depending on that alignment: the same model scored the
/// same rows to different last bits in different processes. Tensors made here live in LibTorch's own
/// 64-byte-aligned memory, so every computation sees the same alignment in every process.
/// </summary>
internal static class TensorMemory
{
    /// <summary>A new float32 tensor of <paramref name="shape"/> in LibTorch's memory, holding a copy of <paramref name="values"/>.</summary>
    public static Tensor Copy(ReadOnlySpan<float> values, params long[] shape)
    {
        long count = 1;
        foreach (long size in shape)
        {
            count *= size;
        }
        if (count != values.Length)
        {
            throw new ArgumentException($"{values.Length} values do not fill a tensor of shape [{string.Join(", ", shape)}].");
        }
        var tensor = empty(shape, ScalarType.Float32);
        values.CopyTo(Floats(tensor));
        return tensor;
    }

    /// <summary>The values of a contiguous CPU float32 tensor, in place.</summary>
    public static Span<float> Floats(Tensor tensor) => MemoryMarshal.Cast<byte, float>(tensor.bytes);
}
