using System;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Regression's prediction intervals (PredictionIntervalCoverage): split conformal on the trainer's hold-out, LowerBound and
/// UpperBound beside Score in Transform, PredictionEngine and a saved model; ONNX has its own test in OnnxExportTests.
/// </summary>
[TestClass]
public sealed class PredictionIntervalTests
{
    private sealed class Prediction
    {
        public float Score { get; set; }

        public float LowerBound { get; set; }

        public float UpperBound { get; set; }
    }

    [TestMethod]
    public void The_half_width_is_the_conformal_quantile_of_the_residuals()
    {
        // 19 residuals 1..19 (shuffled): k = ⌈(19 + 1)·0.9⌉ = 18, so h is the 18th smallest.
        var residuals = Enumerable.Range(1, 19).Select(i => (float)((i * 7) % 19 + 1)).ToArray();
        Assert.AreEqual(18f, ConformalInterval.HalfWidth(residuals, default, 0.9));
        // k = ⌈20·0.5⌉ = 10.
        Assert.AreEqual(10f, ConformalInterval.HalfWidth(residuals, default, 0.5));
        // Equal weights are no weights, whatever their size.
        Assert.AreEqual(18f, ConformalInterval.HalfWidth(residuals, Enumerable.Repeat(2.5f, 19).ToArray(), 0.9));
        // Weighted: residual 1 weighing 10 among 1..10 (W = 19, mean weight 1.9): the target is 0.75·(19 + 1.9) = 15.675 of weight,
        // reached at residual 7 (10 + 6 = 16). Rows repeated instead (19 rows, the new row counting 1) reach 0.75·20 = 15 at 6:
        // weights carry no unit, so the new row counts as the mean weight.
        var ten = Enumerable.Range(1, 10).Select(i => (float)i).ToArray();
        var weights = Enumerable.Range(1, 10).Select(i => i == 1 ? 10f : 1f).ToArray();
        Assert.AreEqual(7f, ConformalInterval.HalfWidth(ten, weights, 0.75));
        Assert.AreEqual(7f, ConformalInterval.HalfWidth(ten, weights.Select(w => w * 3).ToArray(), 0.75), "scaled weights");
        var repeated = Enumerable.Repeat(1f, 10).Concat(Enumerable.Range(2, 9).Select(i => (float)i)).ToArray();
        Assert.AreEqual(6f, ConformalInterval.HalfWidth(repeated, default, 0.75));
        // Too few rows to bound a 90% interval: ⌈(5 + 1)·0.9⌉ = 6 > 5.
        Assert.AreEqual(float.PositiveInfinity, ConformalInterval.HalfWidth(residuals.AsSpan(0, 5), default, 0.9));
        Assert.AreEqual(float.PositiveInfinity, ConformalInterval.HalfWidth(ReadOnlySpan<float>.Empty, default, 0.9));
        // The fewest rows that bound it, as the trainer's warning says: 9 for 90% (⌈10·0.9⌉ = 9), 4 for 80%, 19 for 95%.
        Assert.AreEqual(9, ConformalInterval.RowsNeeded(0.9));
        Assert.AreEqual(4, ConformalInterval.RowsNeeded(0.8));
        Assert.AreEqual(19, ConformalInterval.RowsNeeded(0.95));
        Assert.AreEqual(residuals.Take(9).Max(), ConformalInterval.HalfWidth(residuals.AsSpan(0, 9), default, 0.9), "9 rows: the 9th smallest");
        Assert.AreEqual(float.PositiveInfinity, ConformalInterval.HalfWidth(residuals.AsSpan(0, 8), default, 0.9));
    }

    [TestMethod]
    public void Ninety_percent_intervals_cover_about_ninety_percent_of_held_out_labels_in_every_scoring_path()
    {
        var ml = new MLContext(seed: 0);
        var (train, test) = TestData.SplitFeaturized(ml, BundledData.CarsSet);
        var options = TestOptions.Quick(new AutoClipNetTrainer.Options(), epochs: 30);
        var model = ml.Regression.Trainers.AutoClipNet(options).Fit(train);
        var interval = model.Model.PredictionInterval;
        Assert.IsNotNull(interval);
        Assert.AreEqual(0.9f, interval.Value.Coverage);
        Assert.IsTrue(interval.Value.HalfWidth > 0 && float.IsFinite(interval.Value.HalfWidth), $"half-width {interval.Value.HalfWidth}");

        var scored = model.Transform(test);
        var labels = scored.GetColumn<float>("Label").ToArray();
        var scores = scored.GetColumn<float>("Score").ToArray();
        var lower = scored.GetColumn<float>("LowerBound").ToArray();
        var upper = scored.GetColumn<float>("UpperBound").ToArray();
        for (int i = 0; i < scores.Length; i++)
        {
            Assert.AreEqual(scores[i] - interval.Value.HalfWidth, lower[i], $"row {i}");
            Assert.AreEqual(scores[i] + interval.Value.HalfWidth, upper[i], $"row {i}");
        }
        // Exchangeable held-out rows: coverage at least 90% in expectation; with ~100 rows a binomial spread of ±6% around it.
        double covered = Enumerable.Range(0, labels.Length).Count(i => lower[i] <= labels[i] && labels[i] <= upper[i]) / (double)labels.Length;
        Assert.IsTrue(covered >= 0.82 && covered <= 0.99, $"empirical coverage {covered:P1} on {labels.Length} rows");

        // The row path (PredictionEngine) and a saved and reloaded model give the same bounds.
        using var stream = new MemoryStream();
        ml.Model.Save(model, train.Schema, stream);
        stream.Position = 0;
        var loaded = ml.Model.Load(stream, out _);
        CollectionAssert.AreEqual(Outputs.Bytes(scored, new[] { "Score", "LowerBound", "UpperBound" }),
            Outputs.Bytes(loaded.Transform(test), new[] { "Score", "LowerBound", "UpperBound" }));
        var narrow = ml.Transforms.SelectColumns("Label", "Features").Fit(test).Transform(test);
        var engine = ml.Model.CreatePredictionEngine<TestRow, Prediction>(loaded, narrow.Schema);
        var first = ml.Data.CreateEnumerable<TestRow>(narrow, reuseRowObject: false).First();
        var prediction = engine.Predict(first);
        Assert.AreEqual(prediction.Score - interval.Value.HalfWidth, prediction.LowerBound);
        Assert.AreEqual(prediction.Score + interval.Value.HalfWidth, prediction.UpperBound);
        Assert.AreEqual(scores[0], prediction.Score, 1e-4f * Math.Max(1, Math.Abs(scores[0])));
    }

    private sealed class TestRow
    {
        public float Label { get; set; }

        [VectorType]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void Higher_coverage_gives_a_wider_interval_and_null_gives_no_interval_columns()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(600, seed: 2));
        AutoClipNetTrainer.Options Options(double? coverage) => TestOptions.Quick(new AutoClipNetTrainer.Options { PredictionIntervalCoverage = coverage }, epochs: 3);
        var narrow = ml.Regression.Trainers.AutoClipNet(Options(0.5)).Fit(data);
        var wide = ml.Regression.Trainers.AutoClipNet(Options(0.95)).Fit(data);
        var none = ml.Regression.Trainers.AutoClipNet(Options(null)).Fit(data);
        Assert.IsTrue(narrow.Model.PredictionInterval!.Value.HalfWidth < wide.Model.PredictionInterval!.Value.HalfWidth);
        // Same seed and data: the interval changes nothing else.
        CollectionAssert.AreEqual(Outputs.Bytes(none.Transform(data), new[] { "Score" }), Outputs.Bytes(wide.Transform(data), new[] { "Score" }));
        Assert.IsNull(none.Model.PredictionInterval);
        Assert.IsNull(none.Transform(data).Schema.GetColumnOrNull("LowerBound"));
        Assert.IsNull(none.GetOutputSchema(data.Schema).GetColumnOrNull("UpperBound"));
        Assert.IsNotNull(wide.GetOutputSchema(data.Schema).GetColumnOrNull("UpperBound"));
    }

    [TestMethod]
    [DataRow(0.0)]
    [DataRow(1.0)]
    [DataRow(-0.1)]
    [DataRow(double.NaN)]
    public void A_coverage_outside_zero_to_one_is_refused_naming_the_option(double coverage)
    {
        var ml = new MLContext(seed: 0);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { PredictionIntervalCoverage = coverage }));
        StringAssert.Contains(e.Message, "PredictionIntervalCoverage");
    }

    [TestMethod]
    public void An_ensembles_explicit_validation_rows_count_once()
    {
        // Four members all validated on the same 6 rows: 6 rows, not 24, so a 90% interval (9 rows needed) is unbounded; the
        // calibration rows are the ensemble's mean output, not each member's.
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(300, seed: 2));
        var validation = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(6, seed: 3));
        var model = ml.Regression.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetTrainer.Options { EnsembleSize = 4 }, epochs: 2)).Fit(train, validation);
        Assert.AreEqual(float.PositiveInfinity, model.Model.PredictionInterval!.Value.HalfWidth);
        var enough = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(40, seed: 3));
        var bounded = ml.Regression.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetTrainer.Options { EnsembleSize = 4 }, epochs: 2)).Fit(train, enough);
        Assert.IsTrue(float.IsFinite(bounded.Model.PredictionInterval!.Value.HalfWidth));
    }

    [TestMethod]
    public void Too_few_held_out_rows_give_an_unbounded_interval_and_a_warning()
    {
        // 40 rows with 10% held out: 4 rows, too few for a 90% interval (⌈5·0.9⌉ = 5 > 4).
        var ml = new MLContext(seed: 0);
        string? warning = null;
        ml.Log += (_, e) => warning ??= e.Message.Contains("prediction interval is unbounded", StringComparison.Ordinal) ? e.Message : null;
        var data = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(40, seed: 2));
        var model = ml.Regression.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetTrainer.Options { EnsembleSize = 1, ValidationFraction = 0.1 }, epochs: 2)).Fit(data);
        Assert.AreEqual(float.PositiveInfinity, model.Model.PredictionInterval!.Value.HalfWidth);
        Assert.IsNotNull(warning, "the trainer warns");
        Assert.AreEqual(float.NegativeInfinity, model.Transform(data).GetColumn<float>("LowerBound").First());
    }
}
