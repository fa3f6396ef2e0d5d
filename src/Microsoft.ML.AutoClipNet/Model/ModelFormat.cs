using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;

namespace Microsoft.ML.AutoClipNet.Model;

/// <summary>A history's counts without its records.</summary>
internal sealed record HistorySummary(int BestEpoch, long TrainingRows, long ValidationRows, long DroppedRows);

/// <summary>
/// The saved form of every AutoClipNet model (format 2.5), written inside ML.NET's model zip.
/// </summary>
/// <remarks>
/// <para>The model's own stream (ML.NET's <c>Model.key</c>), after ModelParametersBase's <c>int sizeof(float)</c>,
/// little-endian:</para>
/// <code>
///   long     L, the payload's length in bytes
///   byte[L]  payload
///   ulong    XxHash3 (64 bits, seed 0) of the payload
/// payload:
///   int      task (1 regression, 2 binary, 3 multiclass)
///   network  NetworkDescription.Write: int inputs; int layer count; per layer: int kind, then its fields
///   int      H; byte[H] the task's own fields (Tasks/: regression label mean, label scale and, from 2.2, the prediction range;
///            multiclass class count and, from 2.5, slope; binary none)
///   byte     1 if an AutoClip state follows, else 0; AutoClipperState (its own versioned layout)
///   int      best epoch; long training rows; long validation rows; long dropped rows
///   byte     where the steps, epochs and diagnostics are: 0 nowhere, 1 in the stream "TrainingHistory.bin"
///   int      M, the ensemble's members (1 for a single network); per member after the first: int best epoch;
///            long training rows; long validation rows; long dropped rows                          (format 2.4)
/// </code>
/// <para>The stream <c>TrainingHistory.bin</c> beside it holds the same checksummed block (length, payload,
/// hash), whose payload is: int history layout (4); then per member (one in layouts 1 to 3): byte detail (0 none, 1 summary, 2 every step); long steps trained,
/// long clipped steps, long skipped steps; int step count, per step int epoch, long step, float
/// loss, double norm, double threshold, double scale, byte skipped; int epoch count, per epoch int epoch,
/// double training loss, double validation loss, double validation error; int diagnostic count, per entry
/// long step, double norm, double step size, double smoothness. Layout 2 (format 2.2) has no detail byte and no
/// counts (every step is there); layout 1 (format 2.1) has no validation errors either.</para>
/// <para>Every block is verified before a byte of it is parsed: a model with a single changed bit is
/// refused with an error naming the zip entry. Version history (the model signatures' version numbers):
/// regression 0x00010001 (format 1.1, read by <see cref="Legacy.Format11"/>): no checksum, fixed MLP layout,
/// history inside the model stream; 0x00020001 (format 2.1): this layout, for every task, with history layout 1
/// and the regression head without the prediction range; 0x00020002 (format 2.2): the regression head's
/// prediction range and history layout 2; 0x00020003 (format 2.3): history layout 3, whose detail is an option
/// (AutoClipNetOptionsBase.HistoryDetail; the AutoClip state is stored with the full history only); 0x00020004 (format
/// 2.4): ensembles (AutoClipNetLayerKind.Ensemble in the network, the first member's AutoClip state, every member's summary and
/// history: history layout 4) and piecewise-linear encodings (AutoClipNetLayerKind.PiecewiseLinear); 0x00020005 (format 2.5): missing values
/// (AutoClipNetLayerKind.MissingValues), the multiclass head's slope and the regression head's prediction interval. Each version
/// reads every older one (test/Fixtures).</para>
/// </remarks>
internal static class ModelFormat
{
    /// <summary>Format 2.1: layers, checksummed blocks, the history in its own stream.</summary>
    public const uint Version21 = 0x00020001;

    /// <summary>Format 2.2: 2.1 with the regression prediction range and every epoch's validation error (history layout 2).</summary>
    public const uint Version22 = 0x00020002;

    /// <summary>Format 2.3: 2.2 with the history's detail and exact step counts (history layout 3).</summary>
    public const uint Version23 = 0x00020003;

    /// <summary>Format 2.4: 2.3 with ensembles (the network's ensemble layer, every member's history summary and history, history layout 4) and piecewise-linear encodings.</summary>
    public const uint Version24 = 0x00020004;

    /// <summary>
    /// Format 2.5: 2.4 with missing values handled inside the network (AutoClipNetLayerKind.MissingValues), the multiclass head's
    /// slope (temperature scaling) and the regression head's prediction interval.
    /// </summary>
    public const uint Version25 = 0x00020005;

    /// <summary>The version every model class writes.</summary>
    public const uint Current = Version25;

    public const string HistoryStream = "TrainingHistory.bin";

    /// <summary>
    /// The history layout written: 4 (format 2.4) holds every ensemble member's history, each as layout 3 without the
    /// layout number; 3 (format 2.3) adds the detail kept and the exact step counts to layout 2 (format 2.2), which added
    /// every epoch's validation error to layout 1 (format 2.1).
    /// </summary>
    private const int HistoryLayout = 4;

    /// <summary>Writes a checksummed block: its length, the bytes <paramref name="write"/> produces, their XxHash3.</summary>
    public static void WriteBlock(BinaryWriter writer, Action<BinaryWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var inner = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            write(inner);
        }
        var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        writer.Write((long)bytes.Length);
        writer.Write(bytes);
        writer.Write(XxHash3.HashToUInt64(bytes));
    }

    /// <summary>
    /// Reads a checksummed block, verifies its hash and hands its payload to <paramref name="read"/>.
    /// <paramref name="where"/> names the stream in errors ("the stream 'Model/Model.key'"). Whatever is wrong with the bytes
    /// (truncated, inconsistent, declaring more than they hold, overflowing), the error is an <see cref="InvalidDataException"/>
    /// that names the stream and says what was wrong (<see cref="Corrupt"/>); nothing is allocated for a declared size before
    /// its bytes are known to be there (<see cref="Serialization"/>).
    /// </summary>
    public static T ReadBlock<T>(BinaryReader reader, string where, Func<BinaryReader, T> read)
    {
        byte[] payload;
        ulong stored;
        try
        {
            long length = reader.ReadInt64();
            payload = Serialization.ReadBytes(reader, length, Array.MaxLength, "block");
            stored = reader.ReadUInt64();
        }
        catch (Exception e) when (IsBadBytes(e))
        {
            throw Corrupt(where, e, truncated: e is EndOfStreamException);
        }
        ulong actual = XxHash3.HashToUInt64(payload);
        if (actual != stored)
        {
            throw new InvalidDataException(
                $"The AutoClipNet model in this file is corrupt: the checksum of {where} does not match its contents " +
                $"(stored 0x{stored:X16}, computed 0x{actual:X16}). The file was damaged after it was saved; nothing was loaded from it.");
        }
        using var stream = new MemoryStream(payload, writable: false);
        using var inner = PayloadReader?.Invoke(stream) ?? new BinaryReader(stream);
        try
        {
            var result = read(inner);
            if (stream.Position != stream.Length)
            {
                throw new InvalidDataException($"{stream.Length - stream.Position} bytes are left over.");
            }
            return result;
        }
        catch (Exception e) when (IsBadBytes(e))
        {
            throw Corrupt(where, e, truncated: false);
        }
    }

    /// <summary>For the format's fuzz tests only: makes the reader of a verified block's payload (to see which fields it reads where).</summary>
    internal static Func<Stream, BinaryReader>? PayloadReader { get; set; }

    /// <summary>
    /// Whether an exception thrown while reading says that the bytes are bad (and becomes <see cref="Corrupt"/>): the reading
    /// code's own checks, the end of the stream, and what a constructor or arithmetic throws on values no writer produces.
    /// </summary>
    public static bool IsBadBytes(Exception e) => e is EndOfStreamException or InvalidDataException or ArgumentException or OverflowException
        or IndexOutOfRangeException or InvalidCastException or FormatException or NotSupportedException;

    /// <summary>
    /// The one kind of error for a model whose bytes are bad: an <see cref="InvalidDataException"/> "The AutoClipNet model in this
    /// file is corrupt (or truncated): the stream '...': what was wrong", the original exception inside it.
    /// </summary>
    public static InvalidDataException Corrupt(string where, Exception e, bool truncated)
        => e is InvalidDataException { Message: var m } invalid && m.StartsWith("The AutoClipNet model in this file is", StringComparison.Ordinal) ? invalid
        : new InvalidDataException($"The AutoClipNet model in this file is {(truncated ? "truncated" : "corrupt")}: {where}: {e.Message}", e);

    public static void WriteMain(BinaryWriter writer, ModelTask task, NetworkDescription network, ReadOnlySpan<byte> head, AutoClipperState? state,
        IReadOnlyList<AutoClipNetTrainingHistory> histories, bool historyStream)
    {
        var history = histories[0];
        byte[] headBytes = head.ToArray();
        WriteBlock(writer, w =>
        {
            w.Write((int)task);
            network.Write(w);
            w.Write(headBytes.Length);
            w.Write(headBytes);
            w.Write((byte)(state is null ? 0 : 1));
            state?.Save(w);
            w.Write(history.BestEpoch);
            w.Write(history.TrainingRows);
            w.Write(history.ValidationRows);
            w.Write(history.DroppedRows);
            w.Write((byte)(historyStream ? 1 : 0));
            // Format 2.4: the other ensemble members' summaries.
            w.Write(histories.Count);
            foreach (var other in histories.Skip(1))
            {
                w.Write(other.BestEpoch);
                w.Write(other.TrainingRows);
                w.Write(other.ValidationRows);
                w.Write(other.DroppedRows);
            }
        });
    }

    /// <summary>
    /// Reads the model's block, its head through <paramref name="task"/>; <paramref name="version"/> is the format it was written
    /// in (2.1 to 2.4). Ensembles (format 2.4) are refused in older formats.
    /// </summary>
    public static (NetworkDescription Network, ScoreHead Head, AutoClipperState? State, HistorySummary[] Summaries, bool HistoryStream) ReadMain(BinaryReader reader,
        AutoClipNetTask task, string where, uint version)
        => ReadBlock(reader, where, r =>
        {
            int stored = r.ReadInt32();
            if (stored != (int)task.Id)
            {
                throw new InvalidDataException($"it holds a {(Enum.IsDefined((ModelTask)stored) ? ((ModelTask)stored).ToString() : $"task {stored}")} network where a {task.Id} one was expected.");
            }
            var network = NetworkDescription.Read(r);
            try
            {
                return ReadAfterNetwork(r, network, task, version);
            }
            catch
            {
                network.Dispose();
                throw;
            }
        });

    /// <summary>Every layer of the network, the layers of its members too.</summary>
    private static IEnumerable<Layer> AllLayers(NetworkDescription network)
        => network.Layers.SelectMany(l => new[] { l }.Concat(l.Parts.SelectMany(AllLayers)));

    /// <summary>What the model's block holds after the network: the head, the AutoClip state and the histories' summaries.</summary>
    private static (NetworkDescription Network, ScoreHead Head, AutoClipperState? State, HistorySummary[] Summaries, bool HistoryStream) ReadAfterNetwork(BinaryReader r,
        NetworkDescription network, AutoClipNetTask task, uint version)
    {
        if (version < Version24 && network.Layers.Any(l => l is EnsembleLayer))
        {
            throw new InvalidDataException($"it holds an ensemble, which format {version >> 16}.{version & 0xFFFF} cannot hold.");
        }
        if (version < Version25 && AllLayers(network).Any(l => l is MissingValuesLayer))
        {
            throw new InvalidDataException($"it holds a missing-value layer, which format {version >> 16}.{version & 0xFFFF} cannot hold.");
        }
        var headBytes = Serialization.ReadBytes(r, r.ReadInt32(), 1 << 20, "task header");
        var head = task.ReadHead(headBytes, version, network.OutputSize);
        var state = r.ReadByte() switch
        {
            0 => null,
            1 => AutoClipperState.Load(r),
            var b => throw new InvalidDataException($"bad AutoClip state marker {b}."),
        };
        var summary = new HistorySummary(r.ReadInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64());
        bool historyStream = r.ReadByte() switch
        {
            0 => false,
            1 => true,
            var b => throw new InvalidDataException($"bad history marker {b}."),
        };
        var summaries = new List<HistorySummary> { summary };
        if (version >= Version24)
        {
            int members = Serialization.ReadCount(r, "number of member histories", 1, EnsembleLayer.MaxMembers);
            if (members != network.EnsembleSize)
            {
                throw new InvalidDataException($"it holds {members} member histories for a network of {network.EnsembleSize} members.");
            }
            for (int m = 1; m < members; m++)
            {
                summaries.Add(new HistorySummary(r.ReadInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64()));
            }
        }
        return (network, head, state, summaries.ToArray(), historyStream);
    }

    /// <summary>Writes every member's history (layout 4: per member, layout 3's fields without the layout number).</summary>
    public static void WriteHistory(BinaryWriter writer, IReadOnlyList<AutoClipNetTrainingHistory> histories) => WriteBlock(writer, w =>
    {
        w.Write(HistoryLayout);
        foreach (var h in histories)
        {
            w.Write((byte)h.Detail);
            w.Write(h.StepCount);
            w.Write(h.ClippedStepCount);
            w.Write(h.SkippedStepCount);
            WriteRecords(w, h, withValidationErrors: true);
        }
    });

    /// <summary>The steps, epochs and diagnostics (format 1.1 stored the same fields, without validation errors, inside the model stream).</summary>
    internal static void WriteRecords(BinaryWriter w, AutoClipNetTrainingHistory h, bool withValidationErrors)
    {
        w.Write(h.Steps.Count);
        foreach (var s in h.Steps)
        {
            w.Write(s.Epoch);
            w.Write(s.Step);
            w.Write(s.Loss);
            w.Write(s.GradientNorm);
            w.Write(s.Threshold);
            w.Write(s.Scale);
            w.Write((byte)(s.Skipped ? 1 : 0));
        }
        w.Write(h.Epochs.Count);
        foreach (var e in h.Epochs)
        {
            w.Write(e.Epoch);
            w.Write(e.TrainingLoss);
            w.Write(e.ValidationLoss);
            if (withValidationErrors)
            {
                w.Write(e.ValidationError);
            }
        }
        w.Write(h.Diagnostics.Count);
        foreach (var d in h.Diagnostics)
        {
            w.Write(d.Step);
            w.Write(d.GradientNorm);
            w.Write(d.StepSize);
            w.Write(d.Smoothness);
        }
    }

    /// <summary>Reads every member's history (one per summary; layouts 1 to 3 hold one).</summary>
    public static AutoClipNetTrainingHistory[] ReadHistory(BinaryReader reader, string where, IReadOnlyList<HistorySummary> summaries) => ReadBlock(reader, where, r =>
    {
        int layout = r.ReadInt32();
        if (layout is < 1 or > HistoryLayout)
        {
            throw new InvalidDataException($"unknown training history layout {layout} (this version reads layouts 1 to {HistoryLayout}).");
        }
        if (layout < 3)
        {
            return new[] { ReadRecords(r, summaries[0], withValidationErrors: layout >= 2) }; // every step, counted from the records
        }
        var histories = new AutoClipNetTrainingHistory[layout == 3 ? 1 : summaries.Count];
        for (int m = 0; m < histories.Length; m++)
        {
            var detail = (AutoClipNetHistoryDetail)r.ReadByte();
            if (!Enum.IsDefined(detail))
            {
                throw new InvalidDataException($"unknown history detail {(int)detail}.");
            }
            long steps = r.ReadInt64(), clipped = r.ReadInt64(), skipped = r.ReadInt64();
            if (steps < 0 || clipped < 0 || skipped < 0 || clipped > steps || skipped > steps)
            {
                throw new InvalidDataException($"impossible step counts: {steps} steps, {clipped} clipped, {skipped} skipped.");
            }
            histories[m] = ReadRecords(r, summaries[m], withValidationErrors: true, detail, (steps, clipped, skipped));
        }
        return histories;
    });

    /// <summary>Reads what <see cref="WriteRecords"/> wrote.</summary>
    internal static AutoClipNetTrainingHistory ReadRecords(BinaryReader r, HistorySummary summary, bool withValidationErrors,
        AutoClipNetHistoryDetail detail = AutoClipNetHistoryDetail.EveryStep, (long, long, long)? counts = null)
    {
        int stepCount = Serialization.ReadCount(r, "step count", 0, int.MaxValue);
        var steps = new List<AutoClipNetTrainingStep>(Serialization.Capacity(r, stepCount, 45)); // int, long, float, 3 doubles, byte
        for (int i = 0; i < stepCount; i++)
        {
            steps.Add(new AutoClipNetTrainingStep(r.ReadInt32(), r.ReadInt64(), r.ReadSingle(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadByte() != 0));
        }
        int epochCount = Serialization.ReadCount(r, "epoch count", 0, int.MaxValue);
        var epochs = new List<AutoClipNetEpoch>(Serialization.Capacity(r, epochCount, 20)); // int, 2 or 3 doubles
        for (int i = 0; i < epochCount; i++)
        {
            epochs.Add(new AutoClipNetEpoch(r.ReadInt32(), r.ReadDouble(), r.ReadDouble(), withValidationErrors ? r.ReadDouble() : double.NaN));
        }
        int diagnosticCount = Serialization.ReadCount(r, "diagnostic count", 0, int.MaxValue);
        var diagnostics = new List<AutoClipNetDiagnostic>(Serialization.Capacity(r, diagnosticCount, 32)); // long, 3 doubles
        for (int i = 0; i < diagnosticCount; i++)
        {
            diagnostics.Add(new AutoClipNetDiagnostic(r.ReadInt64(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble()));
        }
        return new AutoClipNetTrainingHistory(steps, epochs, diagnostics, summary.BestEpoch, summary.TrainingRows, summary.ValidationRows, summary.DroppedRows, detail, counts);
    }
}
