using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Example weights (ExampleWeightColumnName, as ML.NET's trainers have it): a row of weight w counts as w rows in the loss, the
/// validation that picks the epoch, the calibration and the label's statistics; weight 0 drops the row; a bad weight is an error
/// that names the column and the row.
/// </summary>
[TestClass]
public sealed class ExampleWeightTests
{
    private sealed class WeightedRow
    {
        public float Label { get; set; }

        public float Weight { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private sealed class DoubleWeightRow
    {
        public float Label { get; set; }

        public double Weight { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private static WeightedRow[] Rows(int count, int seed, Func<int, float> weight)
        => TestData.SyntheticRows(count, seed).Select((r, i) => new WeightedRow { Label = r.Label, Features = r.Features, Weight = weight(i) }).ToArray();

    private static byte[] ModelKey(MLContext ml, ITransformer model, DataViewSchema schema)
    {
        using var stream = new MemoryStream();
        ml.Model.Save(model, schema, stream);
        return ModelZips.NetworkEntries(stream.ToArray(), out _).Single(e => e.Key.EndsWith("Model.key", StringComparison.Ordinal)).Value;
    }

    [TestMethod]
    [DataRow(1_000_000, DisplayName = "packed")]
    [DataRow(100, DisplayName = "streamed")]
    public void Rows_of_weight_zero_train_the_same_model_as_a_data_set_without_them(int maxRowsInMemory)
    {
        // The same rows in the same order and the same validation set: dropping rows by weight 0 is dropping them from the data.
        var ml = new MLContext(seed: 0);
        var all = Rows(600, seed: 4, i => i % 5 == 2 ? 0f : 1f + i % 3);
        var kept = all.Where(r => r.Weight != 0).ToArray();
        var validation = ml.Data.LoadFromEnumerable(Rows(200, seed: 5, i => 1f));
        var options = TestOptions.Quick(new AutoClipNetTrainer.Options { ExampleWeightColumnName = "Weight", MaxRowsInMemory = maxRowsInMemory, ShufflePoolSize = 64 }, epochs: 4);
        var trainer = ml.Regression.Trainers.AutoClipNet(options);
        var withZeros = trainer.Fit(ml.Data.LoadFromEnumerable(all), validation);
        var without = trainer.Fit(ml.Data.LoadFromEnumerable(kept), validation);
        CollectionAssert.AreEqual(ModelKey(ml, without, validation.Schema), ModelKey(ml, withZeros, validation.Schema), "the model's bytes");
        Assert.AreEqual(kept.Length, withZeros.Model.TrainingHistory.TrainingRows);
    }

    [TestMethod]
    public void Weight_two_trains_as_a_duplicated_row_does_in_full_batch_training()
    {
        // Full batches, no hold-out, no label or feature scaling (whose statistics count rows, not weights, by design): the loss is
        // Σ w·l / Σ w either way, so the two models agree to float rounding over the steps.
        var ml = new MLContext(seed: 0);
        var rows = Rows(300, seed: 6, i => i % 4 == 0 ? 2f : 1f);
        var duplicated = rows.SelectMany(r => r.Weight == 2f ? new[] { r, r } : new[] { r }).Select(r => new WeightedRow { Label = r.Label, Features = r.Features, Weight = 1f }).ToArray();
        AutoClipNetTrainer.Options Options(string? weights) => new()
        {
            ExampleWeightColumnName = weights, BatchSize = 10_000, NumberOfEpochs = 40, HiddenLayerSizes = new[] { 16 }, EnsembleSize = 1, ValidationFraction = 0,
            StandardizeLabel = false, FeatureScaling = AutoClipNetFeatureScaling.None, EmbeddingFrequencies = 0, Seed = 3,
        };
        var weighted = ml.Regression.Trainers.AutoClipNet(Options("Weight")).Fit(ml.Data.LoadFromEnumerable(rows));
        var copies = ml.Regression.Trainers.AutoClipNet(Options(null)).Fit(ml.Data.LoadFromEnumerable(duplicated));
        var test = ml.Data.LoadFromEnumerable(Rows(200, seed: 7, i => 1f));
        var a = weighted.Transform(test).GetColumn<float>("Score").ToArray();
        var b = copies.Transform(test).GetColumn<float>("Score").ToArray();
        double largest = a.Max(Math.Abs);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.AreEqual(b[i], a[i], 1e-3 * largest, $"row {i}");
        }
        // And unweighted training on the same rows is a different model: the weights did something.
        var plain = ml.Regression.Trainers.AutoClipNet(Options(null)).Fit(ml.Data.LoadFromEnumerable(rows)).Transform(test).GetColumn<float>("Score").ToArray();
        Assert.IsGreaterThan(10 * a.Zip(b, (x, y) => Math.Abs(x - y)).Max(), a.Zip(plain, (x, y) => Math.Abs(x - y)).Max());
    }

    [TestMethod]
    public void Integer_weights_give_a_model_as_good_as_duplicated_rows_within_the_seeds_spread()
    {
        // The default recipe (mini-batches, hold-out, scaling): weighted and duplicated rows are not the same run, but the same
        // problem; the held-out accuracy of each, over three seeds, overlaps. Rows whose feature 0 is positive weigh 3.
        var ml = new MLContext(seed: 0);
        var (train, test) = TestData.SplitFeaturized(ml, BundledData.BreastCancerSet);
        int width = ((VectorDataViewType)train.Schema["Features"].Type).Size;
        BinaryRow[] Read(IDataView data) => data.GetColumn<float[]>("Features").Zip(data.GetColumn<bool>("Label"),
            (f, y) => new BinaryRow { Features = f, Label = y, Weight = f[0] > 14f ? 3f : 1f }).ToArray();
        var schema = SchemaDefinition.Create(typeof(BinaryRow));
        schema["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, width);
        var trainRows = Read(train);
        var weightedTrain = ml.Data.LoadFromEnumerable(trainRows, schema);
        var copies = ml.Data.LoadFromEnumerable(trainRows.SelectMany(r => Enumerable.Repeat(r, (int)r.Weight)).ToArray(), schema);
        var weightedTest = ml.Data.LoadFromEnumerable(Read(test), schema);
        double WeightedLogLoss(ITransformer model)
        {
            var scored = model.Transform(weightedTest);
            var p = scored.GetColumn<float>("Probability").ToArray();
            var y = scored.GetColumn<bool>("Label").ToArray();
            var w = scored.GetColumn<float>("Weight").ToArray();
            return Enumerable.Range(0, p.Length).Sum(i => -w[i] * Math.Log(Math.Clamp(y[i] ? p[i] : 1 - p[i], 1e-7, 1))) / w.Sum();
        }
        var withWeights = new List<double>();
        var withCopies = new List<double>();
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var options = new AutoClipNetBinaryTrainer.Options { EnsembleSize = 1, NumberOfEpochs = 40, Seed = seed };
            options.ExampleWeightColumnName = "Weight";
            withWeights.Add(WeightedLogLoss(ml.BinaryClassification.Trainers.AutoClipNet(options).Fit(weightedTrain)));
            options.ExampleWeightColumnName = null;
            withCopies.Add(WeightedLogLoss(ml.BinaryClassification.Trainers.AutoClipNet(options).Fit(copies)));
        }
        Console.WriteLine($"weighted log-loss on held-out rows: weights {string.Join(", ", withWeights.Select(v => v.ToString("F4")))}; copies {string.Join(", ", withCopies.Select(v => v.ToString("F4")))}");
        double spread = Math.Max(withWeights.Max() - withWeights.Min(), withCopies.Max() - withCopies.Min());
        Assert.IsLessThan(Math.Max(2 * spread, 0.05), Math.Abs(withWeights.Average() - withCopies.Average()));
    }

    private sealed class BinaryRow
    {
        public bool Label { get; set; }

        public float Weight { get; set; }

        public float[] Features { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void The_weights_weigh_the_validation_that_picks_the_best_epoch()
    {
        // Validation rows of weight 0 do not count: a validation set whose rows all weigh 0 but a few scores only those few.
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(Rows(400, seed: 8, i => 1f));
        var validationRows = Rows(100, seed: 9, i => i < 10 ? 1f : 0f);
        var options = TestOptions.Quick(new AutoClipNetTrainer.Options { ExampleWeightColumnName = "Weight" }, epochs: 3);
        var model = ml.Regression.Trainers.AutoClipNet(options).Fit(train, ml.Data.LoadFromEnumerable(validationRows));
        var first10 = ml.Regression.Trainers.AutoClipNet(options).Fit(train, ml.Data.LoadFromEnumerable(validationRows.Take(10).ToArray()));
        var epochs = model.Model.TrainingHistory.Epochs.Select(e => e.ValidationLoss).ToArray();
        var expected = first10.Model.TrainingHistory.Epochs.Select(e => e.ValidationLoss).ToArray();
        Assert.HasCount(3, epochs);
        for (int e = 0; e < 3; e++)
        {
            Assert.AreEqual(expected[e], epochs[e], 1e-6 * expected[e], $"epoch {e + 1}: the validation loss of the 10 rows that weigh");
        }
    }

    [TestMethod]
    public void A_regression_labels_mean_and_scale_are_weighted()
    {
        var ml = new MLContext(seed: 0);
        var rows = Rows(500, seed: 10, i => i % 2 == 0 ? 4f : 1f);
        var options = TestOptions.Quick(new AutoClipNetTrainer.Options { ExampleWeightColumnName = "Weight", ValidationFraction = 0 }, epochs: 1);
        var model = ml.Regression.Trainers.AutoClipNet(options).Fit(ml.Data.LoadFromEnumerable(rows)).Model;
        double w = rows.Sum(r => r.Weight);
        double mean = rows.Sum(r => r.Weight * r.Label) / w;
        double variance = rows.Sum(r => r.Weight * (r.Label - mean) * (r.Label - mean)) / (w - w / rows.Length);
        Assert.AreEqual(mean, model.LabelStandardization.Mean, 1e-5 * Math.Abs(mean) + 1e-6);
        Assert.AreEqual(Math.Sqrt(variance), model.LabelStandardization.Scale, 1e-5 * Math.Sqrt(variance));
    }

    [TestMethod]
    [DataRow(-1f, "-1", DisplayName = "negative")]
    [DataRow(float.NaN, "NaN", DisplayName = "NaN")]
    [DataRow(float.PositiveInfinity, "Infinity", DisplayName = "infinite")]
    public void A_bad_weight_is_an_error_naming_the_column_and_the_row(float bad, string shown)
    {
        var ml = new MLContext(seed: 0);
        var rows = Rows(200, seed: 11, i => i == 37 ? bad : 1f);
        var trainer = ml.Regression.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetTrainer.Options { ExampleWeightColumnName = "Weight" }, epochs: 1));
        var error = Assert.ThrowsExactly<InvalidOperationException>(() => trainer.Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(error.Message, "Row 37 of the training data");
        StringAssert.Contains(error.Message, "'Weight'");
        StringAssert.Contains(error.Message, shown);
        if (!float.IsFinite(bad))
        {
            // Non-finite weights are skipped when asked to skip such rows; a negative weight never is.
            var options = TestOptions.Quick(new AutoClipNetTrainer.Options { ExampleWeightColumnName = "Weight", DropNonFiniteRows = true }, epochs: 1);
            var model = ml.Regression.Trainers.AutoClipNet(options).Fit(ml.Data.LoadFromEnumerable(rows));
            Assert.AreEqual(1, model.Model.TrainingHistory.DroppedRows);
        }
    }

    [TestMethod]
    public void A_weight_column_of_the_wrong_type_or_name_is_an_error_naming_it()
    {
        var ml = new MLContext(seed: 0);
        var doubles = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(100, 1).Select(r => new DoubleWeightRow { Label = r.Label, Features = r.Features, Weight = 1 }));
        var wrongType = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(exampleWeightColumnName: "Weight", numberOfEpochs: 1).Fit(doubles));
        StringAssert.Contains(wrongType.Message, "weight column 'Weight': expected Single, got Double", "ML.NET's own check of the trainer's weight role");
        var missing = Assert.Throws<Exception>(() => ml.Regression.Trainers.AutoClipNet(exampleWeightColumnName: "Importance", numberOfEpochs: 1).Fit(doubles));
        StringAssert.Contains(missing.Message, "Importance");
    }

    [TestMethod]
    public void Every_task_and_catalog_overload_takes_the_weight_column()
    {
        var ml = new MLContext(seed: 0);
        Assert.AreEqual("W", ml.Regression.Trainers.AutoClipNet(exampleWeightColumnName: "W").TrainerOptions.ExampleWeightColumnName);
        Assert.AreEqual("W", ml.BinaryClassification.Trainers.AutoClipNet(exampleWeightColumnName: "W").TrainerOptions.ExampleWeightColumnName);
        Assert.AreEqual("W", ml.MulticlassClassification.Trainers.AutoClipNet(exampleWeightColumnName: "W").TrainerOptions.ExampleWeightColumnName);
        Assert.IsNull(ml.Regression.Trainers.AutoClipNet().TrainerOptions.ExampleWeightColumnName);
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { ExampleWeightColumnName = " " }));
        StringAssert.Contains(error.Message, "ExampleWeightColumnName");

        // The multiclass trainer: a class's rows weighted up move its probabilities up.
        // In .NET objects a key is 0-based: classes 0 to 2 here.
        var rows = TestData.SyntheticRows(900, 12).Select((r, i) => new ClassRow { Features = r.Features, Class = (uint)(i % 3), Weight = i % 3 == 0 ? 5f : 1f }).ToArray();
        var schema = SchemaDefinition.Create(typeof(ClassRow));
        schema["Class"].ColumnType = new KeyDataViewType(typeof(uint), 3);
        var data = ml.Data.LoadFromEnumerable(rows, schema);
        var options = TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options { LabelColumnName = "Class", CalibrateProbabilities = false }, epochs: 6);
        var plain = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(data).Transform(data).GetColumn<float[]>("Score").Average(s => s[0]);
        options.ExampleWeightColumnName = "Weight";
        var weighted = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(data).Transform(data).GetColumn<float[]>("Score").Average(s => s[0]);
        Assert.IsGreaterThan(plain + 0.15, weighted, $"the mean probability of the class weighing 5: {plain:F3} unweighted, {weighted:F3} weighted");
    }

    private sealed class ClassRow
    {
        public uint Class { get; set; }

        public float Weight { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }
}
