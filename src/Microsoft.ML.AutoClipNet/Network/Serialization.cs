using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// Bounded reads and writes of the arrays a model stores (little-endian). Nothing a file declares is allocated before the
/// bytes that hold it are known to exist: a declared count is checked against its bounds and against what the stream still
/// holds (a verified block's payload is in memory, so its length is known; a stream that cannot tell is read in chunks, each
/// allocated only once the previous one was read), and arithmetic on declared sizes is done in 64 bits and checked.
/// </summary>
internal static class Serialization
{
    /// <summary>The most inputs or outputs a dense, activation, scale or transform layer may declare, and the most features an encoding or embedding reads (the embeddings' and encodings' own outputs may be wider).</summary>
    public const int MaxWidth = 1 << 24;

    /// <summary>The most values one stored float array may hold: its bytes must fit in one span of bytes (2³¹ − 1).</summary>
    public const long MaxArrayValues = int.MaxValue / sizeof(float);

    /// <summary>Values read per chunk from a stream that cannot tell how many bytes it still holds.</summary>
    private const int ChunkValues = 1 << 18;

    public static int ReadCount(BinaryReader reader, string what, int min, int max)
    {
        int value = reader.ReadInt32();
        if (value < min || value > max)
        {
            throw new InvalidDataException($"The {what} is {value}; expected {min} to {max}.");
        }
        return value;
    }

    /// <summary>The bytes left in the reader's stream, or null when the stream cannot tell (it cannot seek).</summary>
    public static long? Remaining(BinaryReader reader)
        => reader.BaseStream.CanSeek ? Math.Max(0, reader.BaseStream.Length - reader.BaseStream.Position) : null;

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> unless <paramref name="count"/> items of <paramref name="itemBytes"/> bytes each can
    /// still be read, before anything is allocated for them (a stream that cannot tell is read in chunks instead).
    /// </summary>
    public static void CheckAvailable(BinaryReader reader, long count, int itemBytes, string what)
    {
        if (count < 0)
        {
            throw new InvalidDataException($"The {what} declare {count} values.");
        }
        if (Remaining(reader) is long remaining && count > remaining / itemBytes)
        {
            throw new InvalidDataException($"The {what} declare {count:N0} values ({count * itemBytes:N0} bytes); only {remaining:N0} bytes are left.");
        }
    }

    /// <summary>The capacity to give a list of <paramref name="count"/> declared records of at least <paramref name="recordBytes"/> bytes: no more than the stream can hold, and at most 65,536 (it grows as the records are read).</summary>
    public static int Capacity(BinaryReader reader, long count, int recordBytes)
        => (int)Math.Clamp(Math.Min(count, (Remaining(reader) ?? long.MaxValue) / recordBytes), 0, 1 << 16);

    /// <summary>Feature indices: their count, then each index.</summary>
    public static void WriteIndices(BinaryWriter writer, ReadOnlySpan<int> indices)
    {
        writer.Write(indices.Length);
        foreach (int index in indices)
        {
            writer.Write(index);
        }
    }

    /// <summary>What <see cref="WriteIndices"/> wrote: a count of <paramref name="minCount"/> to <paramref name="maxCount"/> (<paramref name="countWhat"/>), each index below <paramref name="features"/> (<paramref name="what"/>).</summary>
    public static int[] ReadIndices(BinaryReader reader, string countWhat, int maxCount, string what, int features, int minCount = 1)
    {
        int count = ReadCount(reader, countWhat, minCount, maxCount);
        CheckAvailable(reader, count, sizeof(int), what + " indices");
        var indices = new int[count];
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

    /// <summary>
    /// Reads the count and values <see cref="WriteFloats"/> wrote, where <paramref name="expected"/> values were expected (the
    /// product of declared sizes: at most <see cref="MaxArrayValues"/>); the values are allocated only once their bytes are
    /// known to be there.
    /// </summary>
    public static float[] ReadFloats(BinaryReader reader, long expected, string what)
    {
        if (expected < 0 || expected > MaxArrayValues)
        {
            throw new InvalidDataException($"The {what} would hold {expected:N0} values; a stored array holds at most {MaxArrayValues:N0}.");
        }
        int count = reader.ReadInt32();
        if (count != expected)
        {
            throw new InvalidDataException($"The {what} hold {count} values; {expected} were expected.");
        }
        CheckAvailable(reader, count, sizeof(float), what);
        if (Remaining(reader) is null && count > ChunkValues)
        {
            // The stream cannot tell what it holds: chunk by chunk, so that a short stream ends before a large allocation.
            var chunks = new List<float[]>();
            for (long left = count; left > 0; left -= chunks[^1].Length)
            {
                var chunk = new float[(int)Math.Min(left, ChunkValues)];
                ReadExactly(reader, MemoryMarshal.AsBytes(chunk.AsSpan()), what);
                chunks.Add(chunk);
            }
            var all = new float[count];
            int at = 0;
            foreach (var chunk in chunks)
            {
                chunk.CopyTo(all, at);
                at += chunk.Length;
            }
            return all;
        }
        var values = new float[count];
        ReadExactly(reader, MemoryMarshal.AsBytes(values.AsSpan()), what);
        return values;
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (0 to <paramref name="max"/>) the same way: allocated only once they are known to be there.</summary>
    public static byte[] ReadBytes(BinaryReader reader, long count, long max, string what)
    {
        if (count < 0 || count > max)
        {
            throw new InvalidDataException($"The {what} declares {count} bytes; expected 0 to {max}.");
        }
        CheckAvailable(reader, count, 1, what);
        if (Remaining(reader) is null && count > ChunkValues)
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[ChunkValues];
            for (long left = count; left > 0;)
            {
                int n = (int)Math.Min(left, chunk.Length);
                ReadExactly(reader, chunk.AsSpan(0, n), what);
                buffer.Write(chunk, 0, n);
                left -= n;
            }
            return buffer.ToArray();
        }
        var bytes = new byte[count];
        ReadExactly(reader, bytes, what);
        return bytes;
    }

    private static void ReadExactly(BinaryReader reader, Span<byte> bytes, string what)
    {
        int read = 0;
        while (read < bytes.Length)
        {
            int n = reader.Read(bytes[read..]);
            if (n == 0)
            {
                throw new EndOfStreamException($"The {what} end after {read:N0} of their {bytes.Length:N0} bytes.");
            }
            read += n;
        }
    }
}
