using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>Reading and rewriting the entries of a saved model zip, for the tests of corrupt and hostile models (fast and long tier).</summary>
internal static class ModelZips
{
    /// <summary>The entries of a model zip that belong to AutoClipNet's network (its directory's Model.key and TrainingHistory.bin).</summary>
    public static Dictionary<string, byte[]> NetworkEntries(string zipPath, out string directory) => NetworkEntries(File.ReadAllBytes(zipPath), out directory);

    /// <summary>The same, from the zip's bytes.</summary>
    public static Dictionary<string, byte[]> NetworkEntries(byte[] zipBytes, out string directory)
    {
        using var zip = new ZipArchive(new MemoryStream(zipBytes, writable: false), ZipArchiveMode.Read);
        var signatures = new[] { "ACLIPNET", "ACNETBIN", "ACNETMCL" }.Select(s => System.Text.Encoding.ASCII.GetBytes(s)).ToArray();
        var model = zip.Entries.Single(e =>
        {
            using var s = e.Open();
            var header = new byte[0x48];
            return s.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) == header.Length && signatures.Any(sig => header.AsSpan(0x40, 8).SequenceEqual(sig));
        });
        directory = Path.GetDirectoryName(model.FullName)!.Replace('\\', '/');
        string prefix = directory;
        var result = new Dictionary<string, byte[]>();
        foreach (var entry in zip.Entries.Where(e => Path.GetDirectoryName(e.FullName)!.Replace('\\', '/') == prefix))
        {
            using var s = entry.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            result[entry.FullName] = m.ToArray();
        }
        return result;
    }

    /// <summary>Copies a model zip with one entry replaced (the zip itself is valid: its CRCs match the new bytes).</summary>
    public static void Rewrite(string source, string target, string entryName, byte[] content)
        => File.WriteAllBytes(target, Rewrite(File.ReadAllBytes(source), entryName, content));

    /// <summary>A model zip's bytes with one entry replaced, in memory.</summary>
    public static byte[] Rewrite(byte[] zipBytes, string entryName, byte[] content)
    {
        using var stream = new MemoryStream();
        stream.Write(zipBytes);
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Update, leaveOpen: true))
        {
            zip.GetEntry(entryName)!.Delete();
            using var w = zip.CreateEntry(entryName, CompressionLevel.Fastest).Open();
            w.Write(content);
        }
        return stream.ToArray();
    }

    /// <summary>Loads a model from its zip's bytes.</summary>
    public static ITransformer Load(byte[] zipBytes)
    {
        using var stream = new MemoryStream(zipBytes, writable: false);
        return new MLContext().Model.Load(stream, out _);
    }

    /// <summary>Every message of an exception and its inner ones, joined.</summary>
    public static string Flatten(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            parts.Add(x.Message);
        }
        return string.Join(" | ", parts);
    }

    /// <summary>
    /// Flips one bit at byte positions of AutoClipNet's streams in <paramref name="good"/> and loads each copy: every change inside
    /// AutoClipNet's checksummed block must be refused; a change in ML.NET's own header around it may load, but must then predict
    /// exactly <paramref name="expected"/> (<paramref name="outputs"/> scores a loaded model). Every byte of an entry's first 0x120
    /// and of the block's last 16 is tried, and <paramref name="samples"/> evenly spaced ones of the rest (int.MaxValue: every
    /// byte). Returns a summary.
    /// </summary>
    public static string AssertEveryChangedBitIsRefused(string good, byte[] expected, Func<ITransformer, byte[]> outputs, int samples)
    {
        var entries = NetworkEntries(good, out string directory);
        byte[] zipBytes = File.ReadAllBytes(good);
        string modelKey = directory + "/Model.key", history = directory + "/TrainingHistory.bin";
        Assert.IsTrue(entries.ContainsKey(modelKey) && entries.ContainsKey(history), string.Join(", ", entries.Keys));
        int refused = 0, tried = 0;
        var loadedUnchanged = new List<string>();
        foreach (var (name, bytes) in entries)
        {
            // What AutoClipNet wrote: in Model.key the model block ML.NET's header points at (ModelHeader.FpModel at 0x10,
            // CbModel at 0x18), in TrainingHistory.bin every byte. Around it in Model.key: ML.NET's own header and string table.
            long start = 0, length = bytes.Length;
            if (name == modelKey)
            {
                start = BitConverter.ToInt64(bytes, 0x10);
                length = BitConverter.ToInt64(bytes, 0x18);
            }
            int every = Math.Max(1, bytes.Length / samples);
            for (int position = 0; position < bytes.Length; position += position < 0x120 || position >= start + length - 16 ? 1 : every)
            {
                bool ours = position >= start && position < start + length;
                var copy = (byte[])bytes.Clone();
                copy[position] ^= (byte)(1 << (position % 8));
                var changed = Rewrite(zipBytes, name, copy);
                tried++;
                ITransformer loaded;
                try
                {
                    loaded = Load(changed);
                }
                catch (Exception)
                {
                    refused++;
                    continue;
                }
                Assert.IsFalse(ours, $"{name}: a changed bit at byte {position}, inside AutoClipNet's checksummed block, was loaded");
                // ML.NET's header has bytes nothing reads (padding, reserved fields, timestamps): such a change may load,
                // but then it is the very same model.
                CollectionAssert.AreEqual(expected, outputs(loaded), $"{name}, byte {position} changed, loaded, and predicts differently");
                loadedUnchanged.Add($"{Path.GetFileName(name)}@{position}");
            }
        }
        return $"{tried} single-bit changes: {refused} refused, {loadedUnchanged.Count} in ML.NET's header loaded and predicted exactly as before ({string.Join(" ", loadedUnchanged.Take(40))})";
    }
}
