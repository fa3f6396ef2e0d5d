using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Missing values inside the model (MissingValues, default FillAndIndicate): a NaN feature is filled with the feature's training
/// center and, for the features that had NaN in training, flagged by an indicator the network learns from; the same in the row
/// forward, the batch scorer, a saved model and ONNX (OnnxExportTests). Infinities stay an error.
/// </summary>
[TestClass]
public sealed class MissingValueTests
{
    private sealed class Row
    {
        public float Label { get; set; }

        [VectorType(4)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private sealed class Prediction
    {
        public float Score { get; set; }
    }

    /// <summary>
    /// y = 2a + b² − c + d, where a third of the rows lack b, and a row that lacks b has y 2 higher: the missingness itself carries
    /// signal, which a filled value alone cannot show.
    /// </summary>
    private static Row[] Rows(int count, int seed, double missing = 1.0 / 3)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            float a = (float)random.NextDouble() * 2 - 1, b = (float)random.NextDouble() * 2 - 1, c = (float)random.NextDouble() * 2 - 1, d = (float)random.NextDouble();
            bool lacksB = random.NextDouble() < missing;
            float y = 2 * a + (lacksB ? 2 : b * b) - c + d + 0.05f * (float)(random.NextDouble() - 0.5);
            return new Row { Label = y, Features = new[] { a, lacksB ? float.NaN : b, c, d } };
        }).ToArray();
    }

    private static AutoClipNetTrainer.Options Options(AutoClipNetMissingValues missing = AutoClipNetMissingValues.FillAndIndicate)
        => new() { MissingValues = missing, NumberOfEpochs = 30, EnsembleSize = 1, HiddenLayerSizes = new[] { 32, 32 }, Seed = 2 };

    private static double Rmse(MLContext ml, ITransformer model, IDataView test) => ml.Regression.Evaluate(model.Transform(test)).RootMeanSquaredError;

    [TestMethod]
    public void NaN_features_train_by_default_and_the_model_fills_and_flags_them()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(Rows(2000, seed: 1));
        var test = ml.Data.LoadFromEnumerable(Rows(1000, seed: 2));
        var messages = new List<string>();
        ml.Log += (_, e) => messages.Add(e.Message);
        var model = ml.Regression.Trainers.AutoClipNet(Options()).Fit(train);
        var layers = model.Model.NetworkLayers;
        Assert.AreEqual(AutoClipNetLayerKind.MissingValues, layers[0].Kind, string.Join(" → ", layers));
        CollectionAssert.AreEqual(new[] { 1f }, layers[0].GetValues("indicated"), "slot 1 gains an indicator");
        Assert.AreEqual(5, layers[1].InputSize, "the feature transform sees the four features and the indicator");
        Assert.AreEqual(AutoClipNetFeatureScaling.RobustSmoothClip, model.Model.FeatureScaling);
        Assert.HasCount(4, model.Model.FeatureCenters);
        Assert.AreEqual(model.Model.FeatureCenters[1], layers[0].GetValues("fill")[1], "a missing value takes the feature's center (its median)");
        Assert.IsTrue(messages.Any(m => m.Contains("1 of the 4 slots of 'Features' have missing values (NaN)", StringComparison.Ordinal)), "the log says which slots had NaN");
        var scores = model.Transform(test).GetColumn<float>("Score").ToArray();
        Assert.IsTrue(scores.All(float.IsFinite), "every score finite");
        Assert.IsLessThan(0.15, Rmse(ml, model, test));
    }

    [TestMethod]
    public void Where_missingness_carries_signal_the_indicator_beats_filling_and_mean_imputation()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(Rows(2000, seed: 3));
        var test = ml.Data.LoadFromEnumerable(Rows(1000, seed: 4));
        double indicate = Rmse(ml, ml.Regression.Trainers.AutoClipNet(Options()).Fit(train), test);
        double fill = Rmse(ml, ml.Regression.Trainers.AutoClipNet(Options(AutoClipNetMissingValues.Fill)).Fit(train), test);
        var imputed = ml.Transforms.ReplaceMissingValues("Features").Append(ml.Regression.Trainers.AutoClipNet(Options(AutoClipNetMissingValues.Error))).Fit(train);
        double mean = Rmse(ml, imputed, test);
        Console.WriteLine($"test RMSE: fill and indicate {indicate:F4}, fill only {fill:F4}, ReplaceMissingValues (mean) then the trainer {mean:F4}");
        Assert.IsLessThan(0.5 * fill, indicate);
        Assert.IsLessThan(0.5 * mean, indicate);
    }

    [TestMethod]
    public void The_row_forward_the_batch_scorer_and_a_reloaded_model_agree_on_rows_with_NaN()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(Rows(1500, seed: 5));
        var rows = Rows(300, seed: 6, missing: 0.5);
        // Rows the training never saw: NaN in every slot, also in slots that never had one (filled, without an indicator).
        var random = new Random(7);
        foreach (var row in rows.Where((_, i) => i % 3 == 0))
        {
            row.Features[random.Next(4)] = float.NaN;
        }
        rows[1].Features = new[] { float.NaN, float.NaN, float.NaN, float.NaN };
        var test = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Regression.Trainers.AutoClipNet(Options()).Fit(train);
        var batch = model.Transform(test).GetColumn<float>("Score").ToArray();
        var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(model);
        var managed = rows.Select(r => engine.Predict(r).Score).ToArray();
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.IsTrue(float.IsFinite(managed[i]), $"row {i}");
            Assert.AreEqual(managed[i], batch[i], 1e-4f * (1 + Math.Abs(managed[i])), $"row {i}: the row forward and the batch scorer");
        }
        using var stream = new MemoryStream();
        ml.Model.Save(model, test.Schema, stream);
        stream.Position = 0;
        var loaded = ml.Model.Load(stream, out _);
        CollectionAssert.AreEqual(batch, loaded.Transform(test).GetColumn<float>("Score").ToArray(), "the reloaded model, bit for bit");
    }

    [TestMethod]
    public void A_missing_value_scores_as_its_fill_value_and_indicator_written_out()
    {
        var ml = new MLContext(seed: 0);
        var model = ml.Regression.Trainers.AutoClipNet(Options()).Fit(ml.Data.LoadFromEnumerable(Rows(800, seed: 8))).Model;
        var network = model.Network;
        var missing = (MissingValuesLayer)network.Layers[0];
        using var rest = new NetworkDescription(missing.OutputSize, network.Layers.Skip(1).ToArray());
        var row = new[] { 0.3f, float.NaN, -0.2f, float.NaN };
        var written = new[] { 0.3f, missing.Fill[1], -0.2f, missing.Fill[3], 1f }; // slot 3 never lacked a value in training: no indicator
        float direct = network.Forward(row, new float[2 * network.MaxWidth])[0];
        float manual = rest.Forward(written, new float[2 * rest.MaxWidth])[0];
        Assert.AreEqual(BitConverter.SingleToInt32Bits(manual), BitConverter.SingleToInt32Bits(direct));
    }

    [TestMethod]
    public void MissingValues_Error_keeps_the_clear_error_and_an_infinity_is_always_one()
    {
        var ml = new MLContext(seed: 0);
        var rows = Rows(200, seed: 10);
        var error = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Regression.Trainers.AutoClipNet(Options(AutoClipNetMissingValues.Error)).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(error.Message, "column 'Features', slot 1, is NaN");
        StringAssert.Contains(error.Message, "ReplaceMissingValues");

        rows = Rows(200, seed: 10, missing: 0);
        rows[57].Features[2] = float.PositiveInfinity;
        error = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Regression.Trainers.AutoClipNet(Options()).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(error.Message, "Row 57 of the training data has an infinite feature: column 'Features', slot 2, is Infinity");
        StringAssert.Contains(error.Message, "DropNonFiniteRows");
        var options = Options();
        options.DropNonFiniteRows = true;
        var model = ml.Regression.Trainers.AutoClipNet(options).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.AreEqual(1, model.Model.TrainingHistory.DroppedRows, "the infinite row is skipped, the NaN rows are kept");
    }

    [TestMethod]
    public void Fill_adds_no_indicators_and_Error_adds_no_layer()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(Rows(300, seed: 11));
        var options = Options(AutoClipNetMissingValues.Fill);
        options.NumberOfEpochs = 1;
        var fill = ml.Regression.Trainers.AutoClipNet(options).Fit(train).Model.NetworkLayers;
        Assert.AreEqual(AutoClipNetLayerKind.MissingValues, fill[0].Kind);
        Assert.AreEqual(4, fill[0].OutputSize);
        options.MissingValues = AutoClipNetMissingValues.Error;
        var complete = ml.Data.LoadFromEnumerable(Rows(300, seed: 11, missing: 0));
        var none = ml.Regression.Trainers.AutoClipNet(options).Fit(complete).Model.NetworkLayers;
        Assert.AreEqual(AutoClipNetLayerKind.FeatureTransform, none[0].Kind);
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { MissingValues = (AutoClipNetMissingValues)7 }));
        StringAssert.Contains(error.Message, "MissingValues must be FillAndIndicate, Fill or Error");
    }

    [TestMethod]
    public void A_model_trained_without_NaN_fills_a_NaN_it_meets_when_scoring()
    {
        var ml = new MLContext(seed: 0);
        var options = Options();
        options.NumberOfEpochs = 5;
        var model = ml.Regression.Trainers.AutoClipNet(options).Fit(ml.Data.LoadFromEnumerable(Rows(500, seed: 12, missing: 0)));
        var layers = model.Model.NetworkLayers;
        Assert.AreEqual(AutoClipNetLayerKind.MissingValues, layers[0].Kind);
        Assert.AreEqual(4, layers[0].OutputSize, "no feature lacked a value: no indicator");
        var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(model);
        float filled = engine.Predict(new Row { Features = new[] { 0.5f, float.NaN, 0f, 0.5f } }).Score;
        float median = engine.Predict(new Row { Features = new[] { 0.5f, model.Model.FeatureCenters[1], 0f, 0.5f } }).Score;
        Assert.AreEqual(median, filled, "a NaN scores as the feature's median");
    }

    [TestMethod]
    public void A_feature_that_is_never_present_is_filled_with_zero_with_a_warning()
    {
        var ml = new MLContext(seed: 0);
        var rows = Rows(400, seed: 13);
        foreach (var row in rows)
        {
            row.Features[3] = float.NaN;
        }
        var warnings = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Kind == Runtime.ChannelMessageKind.Warning)
            {
                warnings.Add(e.Message);
            }
        };
        var options = Options();
        options.NumberOfEpochs = 3;
        var model = ml.Regression.Trainers.AutoClipNet(options).Fit(ml.Data.LoadFromEnumerable(rows));
        StringAssert.Contains(string.Join("\n", warnings), "1 slot of 'Features' has no value in any training row (slot 3)");
        var missing = model.Model.NetworkLayers[0];
        Assert.AreEqual(0f, missing.GetValues("fill")[3]);
        CollectionAssert.AreEqual(new[] { 1f, 3f }, missing.GetValues("indicated"));
        Assert.IsTrue(model.Transform(ml.Data.LoadFromEnumerable(Rows(50, seed: 14))).GetColumn<float>("Score").All(float.IsFinite));
    }

    [TestMethod]
    public void Classification_trains_on_a_real_set_with_empty_fields_kept_as_NaN()
    {
        // pima-diabetes: five features with empty fields (insulin lacks 374 of 768 values).
        var ml = new MLContext(seed: 0);
        var raw = ml.Data.Cache(BundledData.Load(ml, BundledData.PimaSet));
        var data = ml.Data.Cache(BundledData.Featurizer(ml, BundledData.PimaSet, keepMissing: true).Fit(raw).Transform(raw));
        Assert.IsTrue(data.GetColumn<float[]>("Features").Any(f => f.Any(float.IsNaN)), "the features keep their NaN");
        var split = ml.Data.TrainTestSplit(data, testFraction: 0.25, seed: 1);
        var model = ml.BinaryClassification.Trainers.AutoClipNet(new AutoClipNetBinaryTrainer.Options { EnsembleSize = 1, NumberOfEpochs = 40, Seed = 1 }).Fit(split.TrainSet);
        var indicated = model.Model.SubModel.NetworkLayers[0].GetValues("indicated");
        Assert.HasCount(5, indicated, "the five features with empty fields");
        double auc = ml.BinaryClassification.Evaluate(model.Transform(split.TestSet)).AreaUnderRocCurve;
        Assert.IsGreaterThan(0.75, auc);
    }
}
