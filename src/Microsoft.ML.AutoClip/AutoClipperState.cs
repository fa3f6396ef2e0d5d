using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Microsoft.ML.AutoClip;

/// <summary>
/// Everything an <see cref="AutoClipper"/> knows: enough to resume a run bit-identically or to
/// inspect the clipper of a trained model.
/// </summary>
public sealed class AutoClipperState
{
    /// <summary>The version <see cref="Save"/> writes; <see cref="Load(BinaryReader)"/> reads this and older ones.</summary>
    public const int FormatVersion = 2;

    private static readonly byte[] Magic = "ACLS"u8.ToArray();

    /// <summary>Creates a state; <paramref name="history"/> is copied.</summary>
    public AutoClipperState(AutoClipOptions options, long recordedSteps, long nonFiniteSteps, double threshold, IReadOnlyList<double> history)
        : this(options, recordedSteps, nonFiniteSteps, threshold, history, null)
    {
    }

    /// <summary>
    /// Creates a state with the groups' own states (a grouped <see cref="AutoClipOptions.Scope"/>, each group's clipper
    /// global); <paramref name="history"/> and <paramref name="groups"/> are copied.
    /// </summary>
    public AutoClipperState(AutoClipOptions options, long recordedSteps, long nonFiniteSteps, double threshold, IReadOnlyList<double> history,
        IReadOnlyList<AutoClipperState>? groups)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfNegative(recordedSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(nonFiniteSteps);
        if (history.Count > recordedSteps)
        {
            throw new ArgumentException($"The history holds {history.Count} norms but only {recordedSteps} steps were recorded.", nameof(history));
        }
        if (options.HistoryWindow is int window && history.Count > window)
        {
            throw new ArgumentException($"The history holds {history.Count} norms, more than the window of {window}.", nameof(history));
        }
        var copy = new double[history.Count];
        for (int i = 0; i < copy.Length; i++)
        {
            double norm = history[i];
            if (!double.IsFinite(norm) || norm < 0)
            {
                throw new ArgumentException($"History entry {i} is {norm}; recorded norms are finite and non-negative.", nameof(history));
            }
            copy[i] = norm;
        }
        groups ??= Array.Empty<AutoClipperState>();
        if (groups.Count > 0 && options.Scope == AutoClipScope.Global)
        {
            throw new ArgumentException($"A global AutoClip state has no groups; this one has {groups.Count}.", nameof(groups));
        }
        if (groups.Count > 0 && history.Count > 0)
        {
            throw new ArgumentException("A grouped AutoClip state keeps its norms in its groups, not in its own history.", nameof(history));
        }
        foreach (var group in groups)
        {
            if (group is null || group.Options.Scope != AutoClipScope.Global || group.Groups.Count > 0)
            {
                throw new ArgumentException("Each group of an AutoClip state is a global state without groups of its own.", nameof(groups));
            }
        }
        Options = options.Clone();
        RecordedSteps = recordedSteps;
        NonFiniteSteps = nonFiniteSteps;
        Threshold = threshold;
        History = copy;
        Groups = groups.ToArray();
    }

    /// <summary>With a grouped <see cref="AutoClipOptions.Scope"/>: each group's own state (its history, threshold and counts); otherwise empty.</summary>
    public IReadOnlyList<AutoClipperState> Groups { get; }

    /// <summary>The clipper's options.</summary>
    public AutoClipOptions Options { get; }

    /// <summary>Finite norms recorded since the start.</summary>
    public long RecordedSteps { get; }

    /// <summary>Steps whose norm was NaN or infinite.</summary>
    public long NonFiniteSteps { get; }

    /// <summary>The latest threshold (NaN before the first step, +Infinity during warm-up).</summary>
    public double Threshold { get; }

    /// <summary>The norms the percentile is taken over: oldest first when a window is set, otherwise in no particular order.</summary>
    public IReadOnlyList<double> History { get; }

    // Binary layout (little-endian, BinaryWriter primitives):
    //   byte[4] "ACLS"
    //   int32   format version
    //   double  Percentile
    //   int32   HistoryWindow (0 = unbounded)
    //   int32   WarmupSteps
    //   int32   NonFiniteGradients
    //   int64   RecordedSteps
    //   int64   NonFiniteSteps
    //   double  Threshold
    //   int32   n, then double[n] History
    //   (version 2 only) int32 Scope; int32 g, then g group states, each this layout (version 1)
    // Version history:
    //   1: initial format.
    //   2: the scope and the groups' states. A global state is still written as version 1 (readable by every version).

    /// <summary>Writes the state in the versioned binary layout documented above this method.</summary>
    public void Save(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        bool grouped = Options.Scope != AutoClipScope.Global;
        writer.Write(Magic);
        writer.Write(grouped ? FormatVersion : 1);
        writer.Write(Options.Percentile);
        writer.Write(Options.HistoryWindow ?? 0);
        writer.Write(Options.WarmupSteps);
        writer.Write((int)Options.NonFiniteGradients);
        writer.Write(RecordedSteps);
        writer.Write(NonFiniteSteps);
        writer.Write(Threshold);
        writer.Write(History.Count);
        foreach (double norm in History)
        {
            writer.Write(norm);
        }
        if (grouped)
        {
            writer.Write((int)Options.Scope);
            writer.Write(Groups.Count);
            foreach (var group in Groups)
            {
                group.Save(writer);
            }
        }
    }

    /// <summary>
    /// Reads a state written by <see cref="Save"/>. Whatever the bytes declare, nothing is allocated beyond what the stream
    /// holds, and a group's state holding groups of its own is refused as soon as it is read (a state nests one level deep).
    /// </summary>
    /// <exception cref="InvalidDataException">The data is not an AutoClip state, is truncated, is corrupt, or was written by a newer version.</exception>
    public static AutoClipperState Load(BinaryReader reader) => Load(reader, isGroup: false);

    private static AutoClipperState Load(BinaryReader reader, bool isGroup)
    {
        ArgumentNullException.ThrowIfNull(reader);
        try
        {
            byte[] magic = reader.ReadBytes(4);
            if (!magic.AsSpan().SequenceEqual(Magic))
            {
                throw new InvalidDataException("This is not an AutoClip state: the 'ACLS' header is missing.");
            }
            int version = reader.ReadInt32();
            if (version < 1 || version > FormatVersion)
            {
                throw new InvalidDataException($"The AutoClip state has format version {version}; this library reads versions 1 to {FormatVersion}. Update Microsoft.ML.AutoClip to read it.");
            }
            var options = new AutoClipOptions
            {
                Percentile = reader.ReadDouble(),
                HistoryWindow = reader.ReadInt32() is int w and > 0 ? w : null,
                WarmupSteps = reader.ReadInt32(),
                NonFiniteGradients = (NonFiniteGradientPolicy)reader.ReadInt32(),
            };
            long recorded = reader.ReadInt64();
            long nonFinite = reader.ReadInt64();
            double threshold = reader.ReadDouble();
            int count = reader.ReadInt32();
            if (count < 0 || count > recorded)
            {
                throw new InvalidDataException($"The AutoClip state is corrupt: it claims {count} history entries for {recorded} recorded steps.");
            }
            // Grown as read, so a corrupt count meets the end of the stream before a large allocation.
            long room = reader.BaseStream.CanSeek ? (reader.BaseStream.Length - reader.BaseStream.Position) / sizeof(double) : 1 << 16;
            var history = new List<double>((int)Math.Clamp(Math.Min(count, room), 0, 1 << 16));
            for (int i = 0; i < count; i++)
            {
                history.Add(reader.ReadDouble());
            }
            var groups = new List<AutoClipperState>();
            if (version >= 2)
            {
                options.Scope = (AutoClipScope)reader.ReadInt32();
                int groupCount = reader.ReadInt32();
                if (groupCount < 0 || groupCount > 1 << 20 || (isGroup && groupCount > 0))
                {
                    throw new InvalidDataException($"The AutoClip state is corrupt: {(isGroup ? "a group" : "it")} claims {groupCount} groups.");
                }
                for (int i = 0; i < groupCount; i++)
                {
                    groups.Add(Load(reader, isGroup: true));
                }
            }
            return new AutoClipperState(options, recorded, nonFinite, threshold, history, groups);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The AutoClip state is truncated.", e);
        }
        catch (Exception e) when (e is ArgumentException or OverflowException)
        {
            throw new InvalidDataException("The AutoClip state is corrupt: " + e.Message, e);
        }
    }
}
