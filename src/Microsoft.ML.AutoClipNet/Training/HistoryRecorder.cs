using System;
using System.Collections.Generic;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// Keeps a run's per-step records as <see cref="AutoClipNetHistoryDetail"/> asks: all of them, none, or a summary of
/// between <see cref="SummaryRecords"/> and twice as many evenly spaced ones plus the last, whatever the run's length
/// (the memory a run holds and the model it writes stay bounded). The summary keeps the records of the steps that are
/// multiples of a stride; when it holds twice <see cref="SummaryRecords"/>, every other one is dropped and the stride
/// doubles. Deterministic: the steps kept depend on the step numbers only.
/// </summary>
internal sealed class HistoryRecorder<T>
{
    /// <summary>The fewest records a summary of a long run keeps.</summary>
    public const int SummaryRecords = 1024;

    private readonly AutoClipNetHistoryDetail _detail;
    private readonly List<(long Step, T Record)> _kept = new();
    private (long Step, T Record)? _last;
    private long _stride = 1;

    public HistoryRecorder(AutoClipNetHistoryDetail detail) => _detail = detail;

    /// <summary>The records of a summary are those of the steps that are multiples of this.</summary>
    public long Stride => _stride;

    public void Add(long step, T record)
    {
        switch (_detail)
        {
            case AutoClipNetHistoryDetail.None:
                return;
            case AutoClipNetHistoryDetail.EveryStep:
                _kept.Add((step, record));
                return;
        }
        _last = (step, record);
        if (step % _stride != 0)
        {
            return;
        }
        _kept.Add((step, record));
        while (_kept.Count >= 2 * SummaryRecords)
        {
            // (Records every N steps, diagnostics, may all be multiples of the doubled stride: double again.)
            _stride *= 2;
            _kept.RemoveAll(k => k.Step % _stride != 0);
        }
    }

    /// <summary>The records kept, in step order; a summary ends with the last step's record.</summary>
    public List<T> Records()
    {
        var records = new List<T>(_kept.Count + 1);
        foreach (var (_, record) in _kept)
        {
            records.Add(record);
        }
        if (_detail == AutoClipNetHistoryDetail.Summary && _last is { } last && (_kept.Count == 0 || _kept[^1].Step != last.Step))
        {
            records.Add(last.Record);
        }
        return records;
    }
}
