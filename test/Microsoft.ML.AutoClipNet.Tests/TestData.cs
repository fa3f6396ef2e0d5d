using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>The real data sets bundled in data/ (see data/SOURCES.md), loaded as ML.NET users would.</summary>
internal static class TestData
{
    public static string PathOf(string file) => BundledData.PathOf(file);

    public static string RepoRoot => RepositoryChecks.RepoRoot;

    /// <summary>diamonds.csv with price as the Single label.</summary>
    public static IDataView Diamonds(MLContext ml) => BundledData.Diamonds(ml);

    /// <summary>One-hot the three categorical columns and concatenate everything into Features (26 slots).</summary>
    public static IEstimator<ITransformer> DiamondsFeaturizer(MLContext ml) => BundledData.DiamondsFeaturizer(ml);

    /// <summary>The first <paramref name="rows"/> diamonds, featurized and cached in memory.</summary>
    public static IDataView FeaturizedDiamonds(MLContext ml, int rows)
    {
        var raw = ml.Data.TakeRows(ml.Data.ShuffleRows(Diamonds(ml), seed: 3), rows);
        return ml.Data.Cache(DiamondsFeaturizer(ml).Fit(raw).Transform(raw));
    }

    /// <summary><paramref name="rows"/> rows of a bundled set (shuffled with <paramref name="seed"/>), as loaded: raw columns, cached.</summary>
    public static IDataView Raw(MLContext ml, BundledDataSet set, int rows, int seed = 3)
        => ml.Data.Cache(ml.Data.TakeRows(ml.Data.ShuffleRows(BundledData.Load(ml, set), seed: seed), rows));

    /// <summary>The same rows featurized: Features and the task's Label, cached.</summary>
    /// <summary>A whole bundled set, featurized and cached, split into 75% to train on and 25% held out (seed 1).</summary>
    public static (IDataView Train, IDataView Test) SplitFeaturized(MLContext ml, BundledDataSet set)
    {
        var data = ml.Data.Cache(BundledData.Load(ml, set));
        var featurized = ml.Data.Cache(BundledData.Featurizer(ml, set).Fit(data).Transform(data));
        var split = ml.Data.TrainTestSplit(featurized, testFraction: 0.25, seed: 1);
        return (split.TrainSet, split.TestSet);
    }

    public static IDataView Featurized(MLContext ml, BundledDataSet set, int rows, int seed = 3)
    {
        var raw = Raw(ml, set, rows, seed);
        return ml.Data.Cache(BundledData.Featurizer(ml, set).Fit(raw).Transform(raw));
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
    public static AutoClipNetTrainer.Options QuickOptions(int epochs = 3, int seed = 1) => Quick(new AutoClipNetTrainer.Options(), epochs, seed);

    public static TOptions Quick<TOptions>(TOptions options, int epochs = 3, int seed = 1) where TOptions : AutoClipNetOptionsBase
    {
        options.NumberOfEpochs = epochs;
        options.BatchSize = 64;
        options.HiddenLayerSizes = new[] { 16, 16 };
        options.Seed = seed;
        return options;
    }
}

/// <summary>
/// The output columns of a scored view as bytes, row by row (Single as its 4 bytes, Boolean as 1,
/// a key as its 4-byte value, a vector as its values): what "bit-identical" compares.
/// </summary>
internal static class Outputs
{
    public static byte[] Bytes(IDataView scored, IReadOnlyList<string> columns)
    {
        var cols = columns.Select(c => scored.Schema[c]).ToArray();
        using var cursor = scored.GetRowCursor(cols);
        var readers = cols.Select(c => Reader(cursor, c)).ToArray();
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        while (cursor.MoveNext())
        {
            foreach (var read in readers)
            {
                read(writer);
            }
        }
        writer.Flush();
        return stream.ToArray();
    }

    private static Action<BinaryWriter> Reader(DataViewRowCursor cursor, DataViewSchema.Column column)
    {
        var type = column.Type;
        if (type == NumberDataViewType.Single)
        {
            var get = cursor.GetGetter<float>(column);
            float v = 0;
            return w => { get(ref v); w.Write(v); };
        }
        if (type == BooleanDataViewType.Instance)
        {
            var get = cursor.GetGetter<bool>(column);
            bool v = false;
            return w => { get(ref v); w.Write(v); };
        }
        if (type is KeyDataViewType)
        {
            var get = cursor.GetGetter<uint>(column);
            uint v = 0;
            return w => { get(ref v); w.Write(v); };
        }
        if (type is VectorDataViewType { ItemType: NumberDataViewType item } && item == NumberDataViewType.Single)
        {
            var get = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> v = default;
            return w =>
            {
                get(ref v);
                foreach (float x in v.DenseValues())
                {
                    w.Write(x);
                }
            };
        }
        throw new ArgumentException($"No reader for column '{column.Name}' of type {type}.");
    }

    /// <summary>The floats of <paramref name="bytes"/> (little-endian).</summary>
    public static float[] Floats(byte[] bytes) => Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray();
}

/// <summary>The values of a trained network, as its public description gives them.</summary>
internal static class NetworkValues
{
    /// <summary>Every stored value of every layer, every member's included, in order.</summary>
    public static float[] Of(IReadOnlyList<AutoClipNetLayer> layers)
        => layers.SelectMany(l => l.ValueNames.SelectMany(l.GetValues).Concat(l.Members.SelectMany(Of))).ToArray();
}
