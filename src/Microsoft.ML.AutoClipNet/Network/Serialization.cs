using System;
using System.IO;
using System.Runtime.InteropServices;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>Bounded reads and writes of the arrays a model stores (little-endian).</summary>
internal static class Serialization
{
    /// <summary>The widest layer a model may declare (a corrupt count must not allocate gigabytes).</summary>
    public const int MaxWidth = 1 << 24;

    public static int ReadCount(BinaryReader reader, string what, int min, int max)
    {
        int value = reader.ReadInt32();
        if (value < min || value > max)
        {
            throw new InvalidDataException($"The {what} is {value}; expected {min} to {max}.");
        }
        return value;
    }

    /// <summary>Feature indices: their count, then each index.</summary>
    public static void WriteIndices(BinaryWriter writer, ReadOnlySpan<int> indices)
    {
        writer.Write(indices.Length);
        foreach (int index in indices)
        {
            writer.Write(index);
        }
    }

    /// <summary>What <see cref="WriteIndices"/> wrote: a count of 1 to <paramref name="maxCount"/> (<paramref name="countWhat"/>), each index below <paramref name="features"/> (<paramref name="what"/>).</summary>
    public static int[] ReadIndices(BinaryReader reader, string countWhat, int maxCount, string what, int features)
    {
        var indices = new int[ReadCount(reader, countWhat, 1, maxCount)];
        for (int i = 0; i < indices.Length; i++)
        {
            indices[i] = ReadCount(reader, what, 0, features - 1);
        }
        return indices;
    }

    public static void WriteFloats(BinaryWriter writer, ReadOnlySpan<float> values)
    {
        writer.Write(values.Length);
        writer.Write(MemoryMarshal.AsBytes(values));
    }

    public static float[] ReadFloats(BinaryReader reader, long expected, string what)
    {
        int count = reader.ReadInt32();
        if (count != expected)
        {
            throw new InvalidDataException($"The {what} hold {count} values; {expected} were expected.");
        }
        var values = new float[count];
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
        int read = 0;
        while (read < bytes.Length)
        {
            int n = reader.Read(bytes[read..]);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }
            read += n;
        }
        return values;
    }
}
