using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>The real data sets bundled in data/ (see data/SOURCES.md), loaded as ML.NET users would.</summary>
internal static class TestData
{
    public static string PathOf(string file) => Shared.BundledData.PathOf(file);

    /// <summary>diamonds.csv with price as the Single label.</summary>
    public static IDataView Diamonds(MLContext ml) => Shared.BundledData.Diamonds(ml);

    /// <summary>One-hot the three categorical columns and concatenate everything into Features (26 slots).</summary>
    public static IEstimator<ITransformer> DiamondsFeaturizer(MLContext ml) => Shared.BundledData.DiamondsFeaturizer(ml);

    /// <summary>The first <paramref name="rows"/> diamonds, featurized and cached in memory.</summary>
    public static IDataView FeaturizedDiamonds(MLContext ml, int rows)
    {
        var raw = ml.Data.TakeRows(ml.Data.ShuffleRows(Diamonds(ml), seed: 3), rows);
        return ml.Data.Cache(DiamondsFeaturizer(ml).Fit(raw).Transform(raw));
    }

    /// <summary>Rows for hand-made IDataViews.</summary>
    public sealed class Row
    {
        public float Label { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    public static Row[] SyntheticRows(int count, int seed = 0)
    {
        var rng = new Random(seed);
        var rows = new Row[count];
        for (int i = 0; i < count; i++)
        {
            float a = (float)rng.NextDouble() * 2 - 1, b = (float)rng.NextDouble() * 2 - 1, c = (float)rng.NextDouble() * 2 - 1;
            rows[i] = new Row { Features = new[] { a, b, c }, Label = 3 * a - 2 * b * b + c + 0.01f * (float)rng.NextDouble() };
        }
        return rows;
    }
}

/// <summary>Trainer options for tests (apart from <see cref="TestData"/>, which the child process loads before any AutoClipNet type).</summary>
internal static class TestOptions
{
    /// <summary>A small, fast configuration for tests that check behaviour rather than quality.</summary>
    public static AutoClipNet.AutoClipNetTrainer.Options QuickOptions(int epochs = 3, int seed = 1) => new()
    {
        NumberOfEpochs = epochs,
        BatchSize = 64,
        HiddenLayerSizes = new[] { 16, 16 },
        Seed = seed,
    };

}
