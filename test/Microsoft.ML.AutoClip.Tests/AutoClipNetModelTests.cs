using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>The trained transformer in ML.NET's machinery: persistence, evaluation, PFI, concurrency, bad input.</summary>
[TestClass]
public sealed class AutoClipNetModelTests
{
    private static MLContext _ml = null!;
    private static IDataView _raw = null!;
    private static IDataView _featurized = null!;
    private static TransformerChain<AutoClipNetPredictionTransformer> _pipeline = null!;
    private static AutoClipNetPredictionTransformer _model = null!;
    private static string _dir = null!;

    [ClassInitialize]
    public static void TrainOnce(TestContext context)
    {
        _ml = new MLContext(seed: 0);
        _raw = _ml.Data.Cache(_ml.Data.TakeRows(_ml.Data.ShuffleRows(TestData.Diamonds(_ml), seed: 5), 3000));
        var options = TestOptions.QuickOptions(epochs: 5);
        _pipeline = TestData.DiamondsFeaturizer(_ml).Append(_ml.Regression.Trainers.AutoClipNet(options)).Fit(_raw);
        _model = _pipeline.LastTransformer;
        _featurized = _ml.Data.Cache(TestData.DiamondsFeaturizer(_ml).Fit(_raw).Transform(_raw));
        _dir = Directory.CreateTempSubdirectory("autoclipnet-tests").FullName;
    }

    [ClassCleanup]
    public static void CleanUp()
    {
        if (_dir is not null)
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static float[] Scores(ITransformer model, IDataView data)
        => _ml.Data.CreateEnumerable<ChildProcess.Score>(model.Transform(data), reuseRowObject: false).Select(s => s.Value).ToArray();

    private static string Save(ITransformer model, string name)
    {
        string path = Path.Combine(_dir, name);
        _ml.Model.Save(model, _raw.Schema, path);
        return path;
    }

    // ------------------------------------------------------------------ ML.NET's estimator checks

    [TestMethod]
    public void Passes_the_checks_ML_NET_runs_on_every_estimator()
    {
        // A port of TestEstimatorCore (dotnet/machinelearning test/Microsoft.ML.TestFramework/DataPipe/TestDataPipeBase.cs).
        var estimator = _ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 1));
        var valid = _featurized;
        var invalid = _ml.Transforms.Concatenate("Features", "carat", "depth").Fit(_raw).Transform(_raw); // 2 slots, not 26
        var noLabel = _ml.Transforms.DropColumns("Label").Fit(valid).Transform(valid);

        // Schema propagation.
        var shape = estimator.GetOutputSchema(ShapeOf(valid.Schema));
        var scoreShape = shape.Single(c => c.Name == "Score");
        Assert.AreEqual(NumberDataViewType.Single, scoreShape.ItemType);
        Assert.AreEqual(SchemaShape.Column.VectorKind.Scalar, scoreShape.Kind);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => estimator.GetOutputSchema(ShapeOf(noLabel.Schema)));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => estimator.Fit(noLabel));

        var transformer = estimator.Fit(valid);
        Assert.IsTrue(((ITransformer)transformer).IsRowToRowMapper);
        string path = Path.Combine(_dir, "estimator-checks.zip");
        _ml.Model.Save(transformer, valid.Schema, path);
        var loaded = _ml.Model.Load(path, out var loadedInputSchema);

        var schema = transformer.GetOutputSchema(valid.Schema);
        var mapper = ((ITransformer)transformer).GetRowToRowMapper(valid.Schema);
        Assert.AreSame(valid.Schema, mapper.InputSchema);
        AssertSameSchemas(schema, mapper.OutputSchema);
        AssertSameSchemas(schema, loaded.GetOutputSchema(valid.Schema));
        AssertSameSchemas(valid.Schema, loadedInputSchema);

        var scored = ((ITransformer)transformer).Transform(valid);
        var scoredByLoaded = loaded.Transform(valid);
        AssertSameSchemas(schema, scored.Schema);
        AssertSameSchemas(scored.Schema, scoredByLoaded.Schema);
        AssertSameValues(scored, scoredByLoaded);

        // A feature column of the wrong width fails on every path.
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => transformer.GetOutputSchema(invalid.Schema));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ((ITransformer)transformer).Transform(invalid));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => loaded.GetOutputSchema(invalid.Schema));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => loaded.Transform(invalid));

        // Estimator and transformer agree on the output schema.
        var fromTransformer = ShapeOf(transformer.GetOutputSchema(valid.Schema));
        Assert.AreEqual(shape.Count, fromTransformer.Count);
        foreach (var column in shape)
        {
            var other = fromTransformer.Single(c => c.Name == column.Name);
            Assert.AreEqual(column.Kind, other.Kind, column.Name);
            Assert.AreEqual(column.ItemType, other.ItemType, column.Name);
        }
    }

    /// <summary>ML.NET's internal SchemaShape.Create, which its own estimator tests use.</summary>
    private static SchemaShape ShapeOf(DataViewSchema schema)
        => (SchemaShape)typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static, new[] { typeof(DataViewSchema) })!
            .Invoke(null, new object[] { schema })!;

    internal static void AssertSameSchemas(DataViewSchema expected, DataViewSchema actual)
    {
        Assert.AreEqual(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.AreEqual(expected[i].Name, actual[i].Name);
            Assert.AreEqual(expected[i].Type, actual[i].Type, expected[i].Name);
            Assert.AreEqual(expected[i].IsHidden, actual[i].IsHidden, expected[i].Name);
            CollectionAssert.AreEqual(expected[i].Annotations.Schema.Select(a => a.Name).ToArray(), actual[i].Annotations.Schema.Select(a => a.Name).ToArray(), expected[i].Name);
        }
    }

    /// <summary>Compares every visible column of two views row by row, through their cursors.</summary>
    internal static void AssertSameValues(IDataView expected, IDataView actual)
    {
        var columns = expected.Schema.Where(c => !c.IsHidden).ToArray();
        using var a = expected.GetRowCursor(columns);
        using var b = actual.GetRowCursor(actual.Schema.Where(c => !c.IsHidden));
        var readers = columns.Select(c => (Func<DataViewRow, object>)(row => ReadValue(row, c))).ToArray();
        long rows = 0;
        while (a.MoveNext())
        {
            Assert.IsTrue(b.MoveNext(), $"the second view ends after {rows} rows");
            Assert.AreEqual(a.Position, b.Position);
            foreach (var column in columns)
            {
                Assert.AreEqual(ReadValue(a, column), ReadValue(b, b.Schema[column.Index]), $"row {rows}, column {column.Name}");
            }
            rows++;
        }
        Assert.IsFalse(b.MoveNext(), "the second view has more rows");
        Assert.IsGreaterThan(0, rows);
    }

    private static string ReadValue(DataViewRow row, DataViewSchema.Column column)
    {
        var type = column.Type.RawType;
        var method = typeof(AutoClipNetModelTests).GetMethod(nameof(ReadTyped), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(VBuffer<>))
        {
            method = typeof(AutoClipNetModelTests).GetMethod(nameof(ReadVector), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
            type = type.GetGenericArguments()[0];
        }
        return (string)method.MakeGenericMethod(type).Invoke(null, new object[] { row, column })!;
    }

    private static string ReadTyped<T>(DataViewRow row, DataViewSchema.Column column)
    {
        T value = default!;
        row.GetGetter<T>(column)(ref value);
        return value is float f ? BitConverter.SingleToInt32Bits(f).ToString() : value?.ToString() ?? "";
    }

    private static string ReadVector<T>(DataViewRow row, DataViewSchema.Column column)
    {
        VBuffer<T> value = default;
        row.GetGetter<VBuffer<T>>(column)(ref value);
        return string.Join(",", value.DenseValues());
    }

    // ------------------------------------------------------------------ persistence

    [TestMethod]
    public void A_fresh_process_loads_the_zip_with_no_registration_and_predicts_bit_identically()
    {
        string path = Save(_pipeline, "fresh-process.zip");
        float[] expected = ChildProcess.Scores(_ml, _pipeline);
        string output = Path.Combine(_dir, "fresh-process.bin");

        string log = ChildProcess.Run("load", path, output);

        StringAssert.Contains(log, "autoclipnet-loaded-before=False");
        StringAssert.Contains(log, "last transformer " + typeof(AutoClipNetPredictionTransformer).FullName);
        byte[] bytes = File.ReadAllBytes(output);
        float[] actual = Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray();
        CollectionAssert.AreEqual(expected, actual);
    }

    [TestMethod]
    public void Two_processes_train_bit_identical_models()
    {
        string first = Path.Combine(_dir, "train-1.bin"), second = Path.Combine(_dir, "train-2.bin");
        ChildProcess.Run("train", "1200", first);
        ChildProcess.Run("train", "1200", second);
        CollectionAssert.AreEqual(File.ReadAllBytes(first), File.ReadAllBytes(second));

        // And the same as this process trains.
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 1200);
        var model = ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 2, seed: 42)).Fit(data);
        CollectionAssert.AreEqual(AutoClipNetFingerprint.Of(ml, model, data).SelectMany(BitConverter.GetBytes).ToArray(), File.ReadAllBytes(first));
    }

    [TestMethod]
    public void A_loaded_model_has_the_same_typed_parameters()
    {
        string path = Save(_pipeline, "typed.zip");
        var loaded = (TransformerChain<ITransformer>)new MLContext().Model.Load(path, out _);
        var model = ((AutoClipNetPredictionTransformer)loaded.LastTransformer).Model;
        var original = _model.Model;

        Assert.AreEqual(original.FeatureCount, model.FeatureCount);
        CollectionAssert.AreEqual(original.HiddenLayerSizes.ToArray(), model.HiddenLayerSizes.ToArray());
        for (int l = 0; l <= original.HiddenLayerSizes.Count; l++)
        {
            CollectionAssert.AreEqual(original.GetWeights(l), model.GetWeights(l));
            CollectionAssert.AreEqual(original.GetBiases(l), model.GetBiases(l));
        }
        CollectionAssert.AreEqual(original.FeatureMeans.ToArray(), model.FeatureMeans.ToArray());
        Assert.AreEqual(original.LabelStandardization, model.LabelStandardization);
        CollectionAssert.AreEqual(original.TrainingHistory.Steps.ToArray(), model.TrainingHistory.Steps.ToArray());
        CollectionAssert.AreEqual(original.TrainingHistory.Epochs.ToArray(), model.TrainingHistory.Epochs.ToArray());
        CollectionAssert.AreEqual(original.AutoClipState!.History.ToArray(), model.AutoClipState!.History.ToArray());
        Assert.AreEqual(original.AutoClipState.Threshold, model.AutoClipState.Threshold);
        CollectionAssert.AreEqual(Scores(_pipeline, _raw), Scores(loaded, _raw));
    }

    [TestMethod]
    public void A_corrupt_or_truncated_zip_fails_with_a_clear_error()
    {
        string good = Save(_pipeline, "good.zip");
        byte[] bytes = File.ReadAllBytes(good);

        string truncated = Path.Combine(_dir, "truncated.zip");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var e1 = Assert.Throws<Exception>(() => new MLContext().Model.Load(truncated, out _));
        Console.WriteLine(e1.GetType() + ": " + e1.Message);

        string garbage = Path.Combine(_dir, "garbage.zip");
        File.WriteAllBytes(garbage, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919)).ToArray());
        Assert.Throws<Exception>(() => new MLContext().Model.Load(garbage, out _));

        // A model entry cut short fails ML.NET's own header checks.
        string cut = Path.Combine(_dir, "cut-model.zip");
        RewriteModelEntry(good, cut, data => data[..(data.Length - 200)]);
        Assert.Throws<Exception>(() => new MLContext().Model.Load(cut, out _));

        // A model block whose content is inconsistent: AutoClipNet's reader says what is wrong.
        string corrupt = Path.Combine(_dir, "corrupt-model.zip");
        RewriteModelEntry(good, corrupt, data =>
        {
            var copy = (byte[])data.Clone();
            long block = BitConverter.ToInt64(copy, 0x10); // ModelHeader.FpModel
            // sizeof(float), features, activation, layers, outputs, then the weight count of layer 0.
            BitConverter.GetBytes(12345).CopyTo(copy, (int)block + 20);
            return copy;
        });
        var e3 = Assert.Throws<Exception>(() => new MLContext().Model.Load(corrupt, out _));
        string message = Flatten(e3);
        Console.WriteLine(message);
        StringAssert.Contains(message, "The AutoClipNet model in this file is corrupt: The layer 0 weights hold 12345 values; 416 were expected.");

        // Nothing was half-built: the good file still loads.
        Assert.IsNotNull(new MLContext().Model.Load(good, out _));
    }

    [TestMethod]
    public void A_model_written_by_a_newer_format_version_is_refused_with_what_to_do()
    {
        string good = Save(_pipeline, "current.zip");
        string newer = Path.Combine(_dir, "newer.zip");
        RewriteModelEntry(good, newer, data =>
        {
            // ModelHeader: ModelVerWritten at 0x48 and ModelVerReadable at 0x4C (dotnet/machinelearning src/Microsoft.ML.Core/Data/ModelHeader.cs).
            var copy = (byte[])data.Clone();
            BitConverter.GetBytes(0x00020001u).CopyTo(copy, 0x48);
            BitConverter.GetBytes(0x00020001u).CopyTo(copy, 0x4C);
            return copy;
        });
        var e = Assert.Throws<Exception>(() => new MLContext().Model.Load(newer, out _));
        string message = Flatten(e);
        Console.WriteLine(message);
        StringAssert.Contains(message, "newer version of Microsoft.ML.AutoClipNet");
        StringAssert.Contains(message, "0x00020001");
    }

    private static string Flatten(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            parts.Add(x.Message);
        }
        return string.Join(" | ", parts);
    }

    /// <summary>Copies a model zip, passing the AutoClipNet model entry (signature "ACLIPNET" at 0x40) through <paramref name="change"/>.</summary>
    private static void RewriteModelEntry(string source, string target, Func<byte[], byte[]> change)
    {
        File.Copy(source, target, overwrite: true);
        using var zip = ZipFile.Open(target, ZipArchiveMode.Update);
        var signature = System.Text.Encoding.ASCII.GetBytes("ACLIPNET");
        var entry = zip.Entries.Single(e =>
        {
            using var s = e.Open();
            var header = new byte[0x48];
            return s.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) == header.Length && header.AsSpan(0x40, 8).SequenceEqual(signature);
        });
        byte[] data;
        using (var s = entry.Open())
        using (var m = new MemoryStream())
        {
            s.CopyTo(m);
            data = m.ToArray();
        }
        string name = entry.FullName;
        entry.Delete();
        using var w = zip.CreateEntry(name).Open();
        w.Write(change(data));
    }

    // ------------------------------------------------------------------ ML.NET's evaluation tools

    /// <summary>
    /// Batches (TorchSharp, standardization folded into the weights) and single rows (managed) round
    /// differently: allow float rounding relative to the score and to the label's scale (prices: ~4000).
    /// </summary>
    private static float Tolerance(float score) => 1e-5f * (Math.Abs(score) + _model.Model.LabelStandardization.Scale);

    [TestMethod]
    public void Evaluate_PredictionEngine_and_Transform_agree()
    {
        var metrics = _ml.Regression.Evaluate(_pipeline.Transform(_raw));
        Assert.IsGreaterThan(0.85, metrics.RSquared);

        float[] batched = Scores(_pipeline, _raw);
        var engine = _ml.Model.CreatePredictionEngine<DiamondRow, ChildProcess.Score>(_pipeline);
        var rows = _ml.Data.CreateEnumerable<DiamondRow>(_raw, reuseRowObject: false).ToArray();
        for (int i = 0; i < rows.Length; i++)
        {
            float single = engine.Predict(rows[i]).Value;
            Assert.AreEqual(batched[i], single, Tolerance(batched[i]), $"row {i}");
        }
    }

    [TestMethod]
    public void Transform_reads_ahead_in_batches_and_keeps_rows_columns_and_ids_in_step()
    {
        // 9000 rows = two full batches of 4096 and one partial batch.
        var featurized = TestData.FeaturizedDiamonds(_ml, 9000);
        var scored = _model.Transform(featurized);
        using var cursor = scored.GetRowCursor(scored.Schema);
        using var source = featurized.GetRowCursor(featurized.Schema);
        var id = cursor.GetIdGetter();
        var sourceId = source.GetIdGetter();
        var label = cursor.GetGetter<float>(scored.Schema["Label"]);
        var sourceLabel = source.GetGetter<float>(featurized.Schema["Label"]);
        var score = cursor.GetGetter<float>(scored.Schema["Score"]);
        var features = cursor.GetGetter<VBuffer<float>>(scored.Schema["Features"]);
        var sourceFeatures = source.GetGetter<VBuffer<float>>(featurized.Schema["Features"]);
        DataViewRowId a = default, b = default;
        float la = 0, lb = 0, s = 0;
        VBuffer<float> fa = default, fb = default;
        long rows = 0;
        while (cursor.MoveNext())
        {
            Assert.IsTrue(source.MoveNext());
            Assert.AreEqual(rows, cursor.Position);
            id(ref a);
            sourceId(ref b);
            Assert.AreEqual(b, a);
            label(ref la);
            sourceLabel(ref lb);
            Assert.AreEqual(lb, la);
            features(ref fa);
            sourceFeatures(ref fb);
            CollectionAssert.AreEqual(fb.DenseValues().ToArray(), fa.DenseValues().ToArray());
            score(ref s);
            Assert.AreEqual(_model.Model.ScoreRow(fb), s, Tolerance(s));
            rows++;
        }
        Assert.AreEqual(9000, rows);
        Assert.IsFalse(source.MoveNext());

        // Only the score, or no score at all, also works.
        Assert.HasCount(9000, scored.GetColumn<float>("Score").ToArray());
        Assert.HasCount(9000, scored.GetColumn<float>("Label").ToArray());
        Assert.AreEqual(scored.GetRowCount(), featurized.GetRowCount());
        // A cursor that is asked for a column it was not opened with says so.
        using var onlyScore = scored.GetRowCursor(new[] { scored.Schema["Score"] });
        Assert.IsFalse(onlyScore.IsColumnActive(scored.Schema["Label"]));
        Assert.ThrowsExactly<InvalidOperationException>(() => onlyScore.GetGetter<float>(scored.Schema["Label"]));
    }

    [TestMethod]
    public void CrossValidate_works()
    {
        var results = _ml.Regression.CrossValidate(_featurized, _ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 4)), numberOfFolds: 3);
        Assert.HasCount(3, results);
        foreach (var fold in results)
        {
            Assert.IsInstanceOfType<AutoClipNetPredictionTransformer>(fold.Model);
            Assert.IsGreaterThan(0.8, fold.Metrics.RSquared, $"fold {fold.Fold}");
        }
    }

    [TestMethod]
    public void PermutationFeatureImportance_finds_that_size_matters_most()
    {
        var importance = _ml.Regression.PermutationFeatureImportance(_model, _featurized, permutationCount: 1);
        Assert.HasCount(26, importance);
        // Slot 0 is carat, slots 23-25 are x, y, z: the size of a diamond drives its price.
        double[] rmseIncrease = importance.Select(m => m.RootMeanSquaredError.Mean).ToArray();
        int top = Array.IndexOf(rmseIncrease, rmseIncrease.Max());
        CollectionAssert.Contains(new[] { 0, 23, 24, 25 }, top);
        Assert.IsGreaterThan(100.0, rmseIncrease[top]);

        // The overload that finds the prediction transformer at the end of a pipeline (on featurized data, as PFI requires).
        var byName = _ml.Regression.PermutationFeatureImportance(_pipeline, _featurized, permutationCount: 1);
        Assert.HasCount(26, byName);
        Assert.IsGreaterThan(100.0, byName["carat"].RootMeanSquaredError.Mean, "permuting carat must hurt (the permutation itself is random)");
    }

    [TestMethod]
    public void One_transformer_serves_several_threads_at_once()
    {
        float[] expected = Scores(_pipeline, _raw);
        var rows = _ml.Data.CreateEnumerable<DiamondRow>(_raw, reuseRowObject: false).ToArray();
        var engineExpected = rows.Select(r => _ml.Model.CreatePredictionEngine<DiamondRow, ChildProcess.Score>(_pipeline).Predict(r).Value).Take(200).ToArray();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            if (i % 2 == 0)
            {
                CollectionAssert.AreEqual(expected, Scores(_pipeline, _raw), $"Transform on thread {i}");
            }
            else
            {
                var engine = _ml.Model.CreatePredictionEngine<DiamondRow, ChildProcess.Score>(_pipeline);
                for (int r = 0; r < engineExpected.Length; r++)
                {
                    Assert.AreEqual(engineExpected[r], engine.Predict(rows[r]).Value, $"PredictionEngine on thread {i}, row {r}");
                }
            }
        });
    }

    [TestMethod]
    public void A_feature_width_different_from_training_is_refused_by_Transform_and_PredictionEngine()
    {
        var narrow = _ml.Transforms.Concatenate("Features", "carat", "depth", "table").Fit(_raw).Transform(_raw);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _model.Transform(narrow));
        StringAssert.Contains(e.Message, "The feature column 'Features' is Vector<Single, 3>, but this AutoClipNet model was trained on Vector<Single, 26>");
        var engine = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _ml.Model.CreatePredictionEngine<WideRow, ChildProcess.Score>(_model));
        StringAssert.Contains(engine.Message, "Vector<Single, 27>");
    }

    public sealed class DiamondRow
    {
        public float carat { get; set; }
        public string cut { get; set; } = "";
        public string color { get; set; } = "";
        public string clarity { get; set; } = "";
        public float depth { get; set; }
        public float table { get; set; }
        public float Label { get; set; }
        public float x { get; set; }
        public float y { get; set; }
        public float z { get; set; }
    }

    public sealed class WideRow
    {
        [VectorType(27)]
        public float[] Features { get; set; } = new float[27];
    }
}
