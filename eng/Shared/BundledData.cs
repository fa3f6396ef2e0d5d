using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Shared;

/// <summary>
/// The real data sets bundled in data/ (see data/SOURCES.md), loaded as ML.NET users would. One copy
/// of this file is compiled into the tests, the benchmarks and the studies; each copies data/*.csv next
/// to its binaries.
/// </summary>
internal static class BundledData
{
    public static string PathOf(string file) => Path.Combine(AppContext.BaseDirectory, "data", file);

    /// <summary>diamonds.csv: price as the Single label "Label", and the nine measurements.</summary>
    public static IDataView Diamonds(MLContext ml) => ml.Data.LoadFromTextFile(PathOf("diamonds.csv"), new[]
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

    /// <summary>One-hot the three categorical columns and concatenate everything into Features (26 slots).</summary>
    public static IEstimator<ITransformer> DiamondsFeaturizer(MLContext ml)
        => ml.Transforms.Categorical.OneHotEncoding(new[] { new InputOutputColumnPair("cut"), new InputOutputColumnPair("color"), new InputOutputColumnPair("clarity") })
            .Append(ml.Transforms.Concatenate("Features", "carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"));

    /// <summary>flights-200k.csv: delay in minutes as "Label", from distance and time of day.</summary>
    public static IDataView Flights(MLContext ml) => ml.Data.LoadFromTextFile(PathOf("flights-200k.csv"), new[]
    {
        new TextLoader.Column("Label", DataKind.Single, 0),
        new TextLoader.Column("distance", DataKind.Single, 1),
        new TextLoader.Column("time", DataKind.Single, 2),
    }, separatorChar: ',', hasHeader: true);

    /// <summary>Concatenate distance and time into Features (2 slots).</summary>
    public static IEstimator<ITransformer> FlightsFeaturizer(MLContext ml) => ml.Transforms.Concatenate("Features", "distance", "time");
}
