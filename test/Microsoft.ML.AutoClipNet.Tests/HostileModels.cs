using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using System.Text;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Structure-aware mutations of saved models, as an attacker or a buggy writer would make them (checksums recomputed, so that
/// the integrity check lets them through): every integer field the loader reads, found by watching the loader read a good
/// model (<see cref="ModelFormat.PayloadReader"/>), set to values no writer produces; payloads truncated. Each copy is loaded
/// in this process, and must either be refused with the format's one error (an <see cref="InvalidDataException"/> "The
/// AutoClipNet model in this file is corrupt/truncated: the stream '...': what") after allocating no more than a bounded
/// multiple of the file's bytes, or load and then predict. Shared by the fast tests (a sample of the fields) and the long
/// tests (all of them).
/// </summary>
internal static class HostileModels
{
    /// <summary>What a load may allocate, in managed bytes: this many times the model's uncompressed entries, plus <see cref="AllocationAllowance"/>.</summary>
    public const int AllocationFactor = 8;

    /// <summary>The fixed part of the allocation bound: ML.NET's own work to open a model zip and bind its schema.</summary>
    public const long AllocationAllowance = 16L << 20;

    /// <summary>One field the loader read: which entry, its offset in the entry, its size (1, 4 or 8 bytes), and the block around it.</summary>
    public sealed record Field(string Entry, long Offset, int Size, Block? Block);

    /// <summary>A checksummed block in an entry: where its length field starts and how long its payload is.</summary>
    public sealed record Block(string Entry, long Start, long PayloadLength);

    /// <summary>A reader that notes where each integer it reads sits in its stream.</summary>
    private sealed class RecordingReader : BinaryReader
    {
        private readonly List<(long Position, int Size)> _fields;

        public RecordingReader(Stream stream, List<(long Position, int Size)> fields)
            : base(stream, Encoding.UTF8, leaveOpen: true) => _fields = fields;

        public override int ReadInt32()
        {
            _fields.Add((BaseStream.Position, 4));
            return base.ReadInt32();
        }

        public override long ReadInt64()
        {
            _fields.Add((BaseStream.Position, 8));
            return base.ReadInt64();
        }

        public override byte ReadByte()
        {
            _fields.Add((BaseStream.Position, 1));
            return base.ReadByte();
        }
    }

    /// <summary>Every integer field AutoClipNet's loader reads in <paramref name="zip"/>, in the order it reads them.</summary>
    public static IReadOnlyList<Field> Fields(byte[] zip)
    {
        var reads = new List<List<(long Position, int Size)>>();
        ModelFormat.PayloadReader = stream =>
        {
            var list = new List<(long, int)>();
            reads.Add(list);
            return new RecordingReader(stream, list);
        };
        try
        {
            ModelZips.Load(zip);
        }
        finally
        {
            ModelFormat.PayloadReader = null;
        }
        var entries = ModelZips.NetworkEntries(zip, out string directory);
        string modelKey = directory + "/Model.key", history = directory + "/TrainingHistory.bin";
        var fields = new List<Field>();
        var key = entries[modelKey];
        long fpModel = BitConverter.ToInt64(key, 0x10);
        if (reads.Count == 1 && !entries.ContainsKey(history) && BitConverter.ToUInt32(key, 0x48) < ModelFormat.Version21)
        {
            // Format 1.1: no block; the loader read straight from the entry's stream, at the entry's own offsets.
            fields.AddRange(reads[0].Select(r => new Field(modelKey, r.Position, r.Size, null)));
            return fields;
        }
        // Format 2.x: the model block after ModelParametersBase's int sizeof(float), then (when kept) the history stream's block.
        var blocks = new List<Block> { new(modelKey, fpModel + 4, BitConverter.ToInt64(key, (int)fpModel + 4)) };
        if (entries.TryGetValue(history, out var historyBytes))
        {
            blocks.Add(new Block(history, 0, BitConverter.ToInt64(historyBytes, 0)));
        }
        Assert.HasCount(blocks.Count, reads, "one payload reader per checksummed block");
        for (int b = 0; b < blocks.Count; b++)
        {
            var block = blocks[b];
            var bytes = entries[block.Entry];
            var payload = bytes.AsSpan((int)block.Start + 8, (int)block.PayloadLength);
            Assert.AreEqual(BitConverter.ToUInt64(bytes, (int)(block.Start + 8 + block.PayloadLength)), XxHash3.HashToUInt64(payload), $"the block of {block.Entry} is where the format says");
            fields.AddRange(reads[b].Select(r => new Field(block.Entry, block.Start + 8 + r.Position, r.Size, block)));
        }
        return fields;
    }

    /// <summary>The values to write into a field of <paramref name="size"/> bytes that held <paramref name="value"/>: zero, negatives, one off, past any width, the type's extremes.</summary>
    public static IEnumerable<long> Mutations(long value, int size)
    {
        var candidates = size switch
        {
            1 => new long[] { value ^ 1, 2, 0xFF },
            4 => new long[] { 0, -1, 1, value - 1, value + 1, 2 * value + 1, 1 << 24, (1 << 24) + 1, int.MaxValue, int.MinValue },
            _ => new long[] { 0, -1, value - 1, value + 1, 1L << 31, int.MaxValue, long.MaxValue, long.MinValue },
        };
        return candidates.Select(c => size == 1 ? c & 0xFF : size == 4 ? (int)c : c).Where(c => c != value).Distinct();
    }

    /// <summary>The entries of <paramref name="zip"/> with <paramref name="field"/> set to <paramref name="value"/> and its block's checksum recomputed.</summary>
    public static byte[] WithField(byte[] zip, Field field, long value)
    {
        var entries = ModelZips.NetworkEntries(zip, out _);
        var bytes = (byte[])entries[field.Entry].Clone();
        switch (field.Size)
        {
            case 1:
                bytes[field.Offset] = (byte)value;
                break;
            case 4:
                BitConverter.GetBytes((int)value).CopyTo(bytes, field.Offset);
                break;
            default:
                BitConverter.GetBytes(value).CopyTo(bytes, field.Offset);
                break;
        }
        if (field.Block is { } block)
        {
            Rehash(bytes, block.Start, block.PayloadLength);
        }
        return ModelZips.Rewrite(zip, field.Entry, bytes);
    }

    /// <summary>The entries of <paramref name="zip"/> with the payload of <paramref name="block"/> cut to <paramref name="length"/> bytes (its length field and checksum made to match; the bytes after it left as they were).</summary>
    public static byte[] Truncated(byte[] zip, Block block, long length)
    {
        var entries = ModelZips.NetworkEntries(zip, out _);
        var bytes = (byte[])entries[block.Entry].Clone();
        BitConverter.GetBytes(length).CopyTo(bytes, block.Start);
        Rehash(bytes, block.Start, length);
        return ModelZips.Rewrite(zip, block.Entry, bytes);
    }

    private static void Rehash(byte[] bytes, long start, long payloadLength)
    {
        ulong hash = XxHash3.HashToUInt64(bytes.AsSpan((int)start + 8, (int)payloadLength));
        BitConverter.GetBytes(hash).CopyTo(bytes, start + 8 + payloadLength);
    }

    /// <summary>The value a field holds in <paramref name="zip"/>.</summary>
    public static long ValueOf(byte[] zip, Field field)
    {
        var bytes = ModelZips.NetworkEntries(zip, out _)[field.Entry];
        return field.Size switch
        {
            1 => bytes[field.Offset],
            4 => BitConverter.ToInt32(bytes, (int)field.Offset),
            _ => BitConverter.ToInt64(bytes, (int)field.Offset),
        };
    }

    /// <summary>
    /// Loads <paramref name="zip"/>: a refusal must be the format's one error, naming the stream; a model that loads must
    /// predict (<paramref name="predict"/>); either way the load allocates at most the bound. Returns whether it loaded.
    /// </summary>
    public static bool AssertRefusedOrPredicts(byte[] zip, string what, Action<ITransformer> predict)
    {
        long uncompressed = ModelZips.NetworkEntries(zip, out _).Values.Sum(e => (long)e.Length) + zip.Length;
        long bound = AllocationFactor * uncompressed + AllocationAllowance;
        long before = GC.GetTotalAllocatedBytes(precise: true);
        ITransformer loaded;
        try
        {
            loaded = ModelZips.Load(zip);
        }
        catch (Exception e)
        {
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Assert.IsLessThanOrEqualTo(bound, allocated, $"{what}: refusing it allocated {allocated:N0} bytes (bound {bound:N0}): {ModelZips.Flatten(e)}");
            AssertTheFormatsError(e, what);
            return false;
        }
        long loadAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.IsLessThanOrEqualTo(bound, loadAllocated, $"{what}: loading allocated {loadAllocated:N0} bytes (bound {bound:N0})");
        try
        {
            predict(loaded);
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: the model loaded, then failed to predict: {e.GetType().Name}: {ModelZips.Flatten(e)}");
        }
        return true;
    }

    /// <summary>
    /// The format's one error: somewhere in the chain (ML.NET may wrap it) an <see cref="InvalidDataException"/> of AutoClipNet's
    /// reader that names the stream; no runtime exception (overflow, out of memory, end of stream, index, null) escapes around it.
    /// </summary>
    public static void AssertTheFormatsError(Exception e, string what)
    {
        var chain = new List<Exception>();
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            chain.Add(x);
        }
        int ours = chain.FindIndex(x => x is InvalidDataException && x.Message.StartsWith("The AutoClipNet model in this file is", StringComparison.Ordinal));
        Assert.IsGreaterThanOrEqualTo(0, ours, $"{what}: refused without the format's error: {string.Join(" | ", chain.Select(x => $"{x.GetType().Name}: {x.Message}"))}");
        StringAssert.Contains(chain[ours].Message, "the stream '", $"{what}: the error names the stream");
        foreach (var outer in chain.Take(ours))
        {
            Assert.IsFalse(outer is OverflowException or OutOfMemoryException or EndOfStreamException or IndexOutOfRangeException or NullReferenceException or InsufficientExecutionStackException,
                $"{what}: a {outer.GetType().Name} escaped: {outer.Message}");
        }
    }

    /// <summary>
    /// Every mutation of <paramref name="maxFieldsPerBlock"/> fields per block (evenly spaced, the first 24 always) and truncations
    /// at <paramref name="truncations"/> points of each block; returns a summary line.
    /// </summary>
    public static string Fuzz(string name, byte[] zip, Action<ITransformer> predict, int maxFieldsPerBlock, int truncations)
    {
        var fields = Fields(zip);
        Assert.IsNotEmpty(fields, $"{name}: the loader read no field");
        var chosen = fields.GroupBy(f => (f.Entry, f.Block?.Start)).SelectMany(g =>
        {
            var all = g.ToList();
            if (all.Count <= maxFieldsPerBlock)
            {
                return all;
            }
            int rest = maxFieldsPerBlock - 24;
            return all.Take(24).Concat(Enumerable.Range(0, rest).Select(i => all[24 + (int)((long)i * (all.Count - 24) / rest)])).Distinct();
        }).ToList();
        int refused = 0, loaded = 0;
        foreach (var field in chosen)
        {
            long value = ValueOf(zip, field);
            foreach (long mutation in Mutations(value, field.Size))
            {
                if (AssertRefusedOrPredicts(WithField(zip, field, mutation), $"{name}: {Path.GetFileName(field.Entry)} field at {field.Offset} ({field.Size} bytes) {value} → {mutation}", predict))
                {
                    loaded++;
                }
                else
                {
                    refused++;
                }
            }
        }
        int cut = 0;
        foreach (var block in fields.Select(f => f.Block).OfType<Block>().Distinct())
        {
            for (int t = 0; t < truncations; t++)
            {
                long length = block.PayloadLength * t / truncations;
                if (AssertRefusedOrPredicts(Truncated(zip, block, length), $"{name}: {Path.GetFileName(block.Entry)} cut to {length} of {block.PayloadLength} bytes", predict))
                {
                    Assert.Fail($"{name}: a payload cut to {length} of {block.PayloadLength} bytes loaded");
                }
                cut++;
            }
        }
        return $"{name}: {fields.Count} integer fields read, {chosen.Count} mutated into {refused + loaded} copies ({refused} refused, {loaded} loaded and predicted), {cut} truncations refused";
    }
}
