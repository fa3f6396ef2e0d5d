using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>The bundled real data sets (data/SOURCES.md), featurized into Label and Features.</summary>
public static class Data
{
    /// <summary>diamonds.csv: price from carat, cut, colour, clarity, depth, table, x, y, z (26 features after one-hot).</summary>
    public static IDataView Diamonds(MLContext ml, int? rows = null)
    {
        var raw = Shared.BundledData.Diamonds(ml);
        if (rows is int n)
        {
            raw = ml.Data.TakeRows(raw, n);
        }
        return ml.Data.Cache(Shared.BundledData.DiamondsFeaturizer(ml).Fit(raw).Transform(raw));
    }

    /// <summary>flights-200k.csv: delay in minutes from distance and time of day (2 features).</summary>
    public static IDataView Flights(MLContext ml, int? rows = null)
    {
        var raw = Shared.BundledData.Flights(ml);
        if (rows is int n)
        {
            raw = ml.Data.TakeRows(raw, n);
        }
        return ml.Data.Cache(Shared.BundledData.FlightsFeaturizer(ml).Fit(raw).Transform(raw));
    }

    /// <summary>The number of rows (counted with a cursor when the view does not know it).</summary>
    public static int RowCount(IDataView data)
    {
        if (data.GetRowCount() is long known)
        {
            return (int)known;
        }
        int count = 0;
        using var cursor = data.GetRowCursor(Array.Empty<DataViewSchema.Column>());
        while (cursor.MoveNext())
        {
            count++;
        }
        return count;
    }
}
