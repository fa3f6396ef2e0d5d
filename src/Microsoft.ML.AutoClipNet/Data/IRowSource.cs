using System;

namespace Microsoft.ML.AutoClipNet.Data;

/// <summary>Receives one row: its features, its label (already encoded as a float: the value, 0/1, or the class index) and its position in the source.</summary>
internal delegate void RowAction(ReadOnlySpan<float> features, float label, long position);

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

    /// <summary>
    /// Calls <paramref name="action"/> for every usable row, in order. Returns how many rows were skipped
    /// (rows with a missing or non-finite value, when the caller asked to skip them).
    /// </summary>
    long ForEachRow(RowAction action);
}
