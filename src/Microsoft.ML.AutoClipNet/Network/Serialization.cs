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
