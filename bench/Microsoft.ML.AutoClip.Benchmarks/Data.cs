using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>The bundled real data sets (data/SOURCES.md), featurized into Label and Features.</summary>
public static class Data
{
    private static string PathOf(string file) => Path.Combine(AppContext.BaseDirectory, "data", file);

    /// <summary>diamonds.csv: price from carat, cut, colour, clarity, depth, table, x, y, z (26 features after one-hot).</summary>
    public static IDataView Diamonds(MLContext ml, int? rows = null)
    {
        var raw = ml.Data.LoadFromTextFile(PathOf("diamonds.csv"), new[]
        {
            new TextLoader.Column("carat", DataKind.Single, 0),
            new TextLoader.Column("cut", DataKind.String, 1),
            new TextLoader.Column("color", DataKind.String, 2),
            new TextLoader.Column("clarity", DataKind.String, 3),
            new TextLoader.Column("depth", DataKind.Single, 4),
            new TextLoader.Column("table", DataKind.Single, 5),
            new TextLoader.Column("Label", DataKind.Single, 6),
            new TextLoader.Column("x", DataKind.Single, 7),
            new TextLoader.Column("y", DataKind.Single, 8),
            new TextLoader.Column("z", DataKind.Single, 9),
        }, separatorChar: ',', hasHeader: true, allowQuoting: true);
        if (rows is int n)
        {
            raw = ml.Data.TakeRows(raw, n);
        }
        var featurizer = ml.Transforms.Categorical.OneHotEncoding(new[] { new InputOutputColumnPair("cut"), new InputOutputColumnPair("color"), new InputOutputColumnPair("clarity") })
            .Append(ml.Transforms.Concatenate("Features", "carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"));
        return ml.Data.Cache(featurizer.Fit(raw).Transform(raw));
    }

    /// <summary>flights-200k.csv: delay in minutes from distance and time of day (2 features).</summary>
    public static IDataView Flights(MLContext ml, int? rows = null)
    {
        var raw = ml.Data.LoadFromTextFile(PathOf("flights-200k.csv"), new[]
        {
            new TextLoader.Column("Label", DataKind.Single, 0),
            new TextLoader.Column("distance", DataKind.Single, 1),
            new TextLoader.Column("time", DataKind.Single, 2),
        }, separatorChar: ',', hasHeader: true);
        if (rows is int n)
        {
            raw = ml.Data.TakeRows(raw, n);
        }
        var featurizer = ml.Transforms.Concatenate("Features", "distance", "time");
        return ml.Data.Cache(featurizer.Fit(raw).Transform(raw));
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
