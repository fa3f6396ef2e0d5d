using System;

namespace Microsoft.ML.AutoClipNet.Data;

/// <summary>
/// One row as a source gives it: its features, its label (already encoded as a float: the value, 0/1, or the class index),
/// its weight (1 when the data has no weights), its group (0 when the data has no groups: ranking's queries) and its
/// position in the source.
/// </summary>
internal readonly ref struct Row
{
    public Row(ReadOnlySpan<float> features, float label, long position, float weight = 1f, long group = 0)
    {
        Features = features;
        Label = label;
        Position = position;
        Weight = weight;
        Group = group;
    }

    public ReadOnlySpan<float> Features { get; }

    public float Label { get; }

    public long Position { get; }

    public float Weight { get; }

    public long Group { get; }
}

/// <summary>Receives one row.</summary>
internal delegate void RowAction(in Row row);

/// <summary>
/// Where training rows come from, seen without any ML.NET type: a source that can be read from the
/// start as often as needed, always giving the same rows in the same order at the same positions.
/// The ML.NET side (an <c>IDataView</c> cursor) checks the schema, reads and encodes the label, checks
/// that every value is finite and says what is wrong with a bad row.
/// </summary>
internal interface IRowSource
{
    /// <summary>Features per row.</summary>
    int FeatureCount { get; }

    /// <summary>Whether rows carry weights of their own (else every weight is 1).</summary>
    bool HasWeights { get; }

    /// <summary>Whether rows carry groups (else every group is 0).</summary>
    bool HasGroups { get; }

    /// <summary>
    /// Calls <paramref name="action"/> for every usable row, in order. Returns how many rows were skipped
    /// (rows with a missing or non-finite value, when the caller asked to skip them).
    /// </summary>
    long ForEachRow(RowAction action);

    /// <summary>Rows the last pass skipped because their weight was 0 (they are not counted as dropped).</summary>
    long ZeroWeightRows => 0;
}
