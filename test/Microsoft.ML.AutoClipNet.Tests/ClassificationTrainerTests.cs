using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>What only the binary trainer does (its quality against logistic regression: the long tests' QualityTests): ML.NET's calibrated outputs, calibration, the positive class weight.</summary>
[TestClass]
public sealed class BinaryTrainerTests
{
    private static (IDataView Train, IDataView Test) Split(MLContext ml, BundledDataSet set) => TestData.SplitFeaturized(ml, set);

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void Score_is_the_logit_Probability_its_scaled_sigmoid_and_PredictedLabel_Score_above_zero(bool calibrate)
    {
        var ml = new MLContext(seed: 0);
        var (train, test) = Split(ml, BundledData.TelcoChurnSet);
        var options = TestOptions.Quick(new AutoClipNetBinaryTrainer.Options { CalibrateProbabilities = calibrate }, epochs: 3);
        var model = ml.BinaryClassification.Trainers.AutoClipNet(options).Fit(train);
        // The calibrator is ML.NET's Platt with offset 0 and slope −s: sigmoid(s·Score), s fitted on the hold-out
        // (temperature scaling) or exactly 1.
        double s = -model.Model.Calibrator.Slope;
        Assert.AreEqual(0.0, model.Model.Calibrator.Offset);
        if (calibrate)
        {
            Assert.IsTrue(s > 0 && s != 1, $"fitted slope {s}");
        }
        else
        {
            Assert.AreEqual(1.0, s);
        }
        var scored = model.Transform(test);
        var score = scored.GetColumn<float>("Score").ToArray();
        var probability = scored.GetColumn<float>("Probability").ToArray();
        var predicted = scored.GetColumn<bool>("PredictedLabel").ToArray();
        Assert.IsGreaterThan(1000, score.Length);
        for (int i = 0; i < score.Length; i++)
        {
            Assert.AreEqual((float)(1 / (1 + Math.Exp(-s * score[i]))), probability[i], 1e-6f, $"row {i}");
            if (!calibrate)
            {
                Assert.AreEqual((float)(1 / (1 + Math.Exp(-score[i]))), probability[i], $"row {i}: exactly sigmoid(Score)");
            }
            Assert.AreEqual(score[i] > 0, predicted[i], $"row {i}");
        }
        Assert.IsTrue(predicted.Any(p => p) && predicted.Any(p => !p));
        // The scored columns are annotated as ML.NET's evaluators expect.
        var metrics = ml.BinaryClassification.Evaluate(scored);
        Assert.IsGreaterThan(0.8, metrics.AreaUnderRocCurve);
        Assert.IsTrue(double.IsFinite(metrics.LogLoss) && double.IsFinite(metrics.F1Score));
    }

    [TestMethod]
    public void The_fitted_slope_minimises_the_hold_out_log_loss_and_never_makes_a_probability_0_or_1()
    {
        // Logits of a held-out set: a few confidently right, a few confidently wrong.
        var random = new Random(5);
        int n = 400;
        var logits = new float[n];
        var labels = new float[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = random.Next(2);
            double margin = 2 + 6 * random.NextDouble();
            logits[i] = (float)((labels[i] == 1) == (i % 10 != 0) ? margin : -margin); // 10% wrong
        }
        double s = Tasks.TemperatureScaling.FitSlope(logits, labels);
        double best = Tasks.TemperatureScaling.LogLoss(logits, labels, s);
        foreach (double other in new[] { s * 0.9, s * 1.1, 1.0 })
        {
            Assert.IsLessThan(Tasks.TemperatureScaling.LogLoss(logits, labels, other), best, $"slope {other} against the fitted {s}");
        }
        // All rows right and far apart: with Platt's targets the slope stays finite, so no probability is 0 or 1.
        var separable = Enumerable.Range(0, 50).Select(i => i % 2 == 0 ? 30f : -30f).ToArray();
        var separableLabels = Enumerable.Range(0, 50).Select(i => i % 2 == 0 ? 1f : 0f).ToArray();
        double t = Tasks.TemperatureScaling.FitSlope(separable, separableLabels);
        Assert.AreEqual(Math.Log(26) / 30, t, 1e-6, "sigmoid(30·s) = Platt's target (N₊ + 1)/(N₊ + 2) = 26/27");
        Assert.IsLessThan(1f, (float)(1 / (1 + Math.Exp(-t * 30))));
    }

    /// <summary>Expected calibration error over 10 equal-width probability bins.</summary>
    internal static double ExpectedCalibrationError(float[] probability, bool[] label, int bins = 10)
    {
        double error = 0;
        for (int b = 0; b < bins; b++)
        {
            var inBin = Enumerable.Range(0, probability.Length).Where(i => Math.Min(bins - 1, (int)(probability[i] * bins)) == b).ToArray();
            if (inBin.Length == 0)
            {
                continue;
            }
            double confidence = inBin.Average(i => probability[i]);
            double frequency = inBin.Average(i => label[i] ? 1.0 : 0.0);
            error += inBin.Length * Math.Abs(confidence - frequency);
        }
        return error / probability.Length;
    }

    [TestMethod]
    public void The_probabilities_are_calibrated_on_held_out_churn_rows()
    {
        var ml = new MLContext(seed: 0);
        var (train, test) = Split(ml, BundledData.TelcoChurnSet);
        // Keeping the epoch of best validation log-loss keeps the network from growing overconfident.
        var options = new AutoClipNetBinaryTrainer.Options { ValidationFraction = 0.2, EarlyStoppingPatience = 5 };
        var scored = ml.BinaryClassification.Trainers.AutoClipNet(options).Fit(train).Transform(test);
        var probability = scored.GetColumn<float>("Probability").ToArray();
        var label = scored.GetColumn<bool>("Label").ToArray();
        double ece = ExpectedCalibrationError(probability, label);
        var lbfgs = ml.BinaryClassification.Trainers.LbfgsLogisticRegression().Fit(train).Transform(test);
        double lbfgsEce = ExpectedCalibrationError(lbfgs.GetColumn<float>("Probability").ToArray(), label);
        Console.WriteLine($"telco-churn held-out expected calibration error (10 bins): AutoClipNet {ece:F4}, LbfgsLogisticRegression {lbfgsEce:F4}; positives {label.Average(l => l ? 1.0 : 0):P1}, mean probability {probability.Average():P1}");
        Assert.IsLessThan(0.05, ece, "the network is trained on log-loss: its probabilities should match the frequencies");
        Assert.AreEqual(label.Average(l => l ? 1.0 : 0), probability.Average(), 0.03);
    }

    [TestMethod]
    public void A_positive_class_weight_trades_precision_for_recall()
    {
        var ml = new MLContext(seed: 0);
        var (train, test) = Split(ml, BundledData.TelcoChurnSet);
        BinaryClassificationMetrics Metrics(double weight)
        {
            var options = TestOptions.Quick(new AutoClipNetBinaryTrainer.Options(), epochs: 8);
            options.PositiveClassWeight = weight;
            return ml.BinaryClassification.Evaluate(ml.BinaryClassification.Trainers.AutoClipNet(options).Fit(train).Transform(test));
        }
        var plain = Metrics(1);
        var weighted = Metrics(3);
        Console.WriteLine($"positive weight 1: recall {plain.PositiveRecall:F3}, precision {plain.PositivePrecision:F3}; weight 3: recall {weighted.PositiveRecall:F3}, precision {weighted.PositivePrecision:F3}");
        Assert.IsGreaterThan(plain.PositiveRecall + 0.1, weighted.PositiveRecall);
        Assert.IsLessThan(plain.PositivePrecision, weighted.PositivePrecision);

        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.BinaryClassification.Trainers.AutoClipNet(new AutoClipNetBinaryTrainer.Options { PositiveClassWeight = 0 }));
        Assert.AreEqual("PositiveClassWeight", e.ParamName);
        StringAssert.Contains(e.Message, "AutoClipNetBinaryTrainer.Options.PositiveClassWeight must be a positive number, but was 0");
    }

    [TestMethod]
    public void A_text_label_is_refused_with_how_to_map_it_to_true_and_false()
    {
        var ml = new MLContext(seed: 0);
        var raw = TestData.Raw(ml, BundledData.TelcoChurnSet, 200);
        var featurized = BundledData.Featurizer(ml, BundledData.TelcoChurnSet).Fit(raw).Transform(raw);
        var text = ml.Transforms.CopyColumns("Label", "LabelText").Fit(featurized).Transform(featurized);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.BinaryClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetBinaryTrainer.Options(), 1)).Fit(text));
        StringAssert.Contains(e.Message, "label column 'Label'");
        StringAssert.Contains(e.Message, "must be Boolean for binary classification, but is String");
        StringAssert.Contains(e.Message, "mlContext.Transforms.Conversion.MapValue(\"Label\"");
    }

    [TestMethod]
    public void Training_rows_of_one_class_are_refused_naming_the_column()
    {
        var ml = new MLContext(seed: 0);
        var featurized = TestData.Featurized(ml, BundledData.TelcoChurnSet, 1000);
        var onlyNegatives = ml.Data.FilterByCustomPredicate<LabelRow>(featurized, r => r.Label);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.BinaryClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetBinaryTrainer.Options(), 1)).Fit(onlyNegatives));
        StringAssert.Contains(e.Message, "has the label false in column 'Label'");
        StringAssert.Contains(e.Message, "needs rows of both classes");
    }

    public sealed class LabelRow
    {
        public bool Label { get; set; }
    }
}

/// <summary>What only the multiclass trainer does (its quality against maximum entropy: the long tests' QualityTests): the label's key values, key labels that make no sense.</summary>
[TestClass]
public sealed class MulticlassTrainerTests
{
    [TestMethod]
    public void Scores_carry_the_class_names_and_MapKeyToValue_turns_the_prediction_back_into_one()
    {
        var ml = new MLContext(seed: 0);
        var raw = TestData.Raw(ml, BundledData.SatelliteSet, 2000);
        var pipeline = BundledData.Featurizer(ml, BundledData.SatelliteSet)
            .Append(ml.MulticlassClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options(), epochs: 3)))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedClass", "PredictedLabel"))
            .Fit(raw);
        var scored = pipeline.Transform(raw);
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        scored.Schema["Score"].GetSlotNames(ref slotNames);
        var names = slotNames.DenseValues().Select(n => n.ToString()).ToArray();
        string[] classes = { "red soil", "cotton crop", "grey soil", "damp grey soil", "vegetation stubble", "very damp grey soil" };
        CollectionAssert.AreEquivalent(classes, names);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 6), scored.Schema["Score"].Type);
        Assert.AreEqual(6ul, ((KeyDataViewType)scored.Schema["PredictedLabel"].Type).Count);

        var predictedClass = scored.GetColumn<string>("PredictedClass").ToArray();
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        for (int i = 0; i < scores.Length; i++)
        {
            Assert.AreEqual(1.0, scores[i].Sum(), 1e-5, $"row {i}: the scores are probabilities");
            Assert.AreEqual(names[Array.IndexOf(scores[i], scores[i].Max())], predictedClass[i], $"row {i}");
        }
        Assert.IsGreaterThan(0.7, predictedClass.Zip(raw.GetColumn<string>("LabelText"), (p, t) => p == t ? 1.0 : 0).Average());
    }

    // In .NET objects, ML.NET keys are 0-based: a [KeyType(4)] uint holds 0 to 3 (classes 1 to 4 in the view), and a value
    // out of that range loads as the missing key.
    public sealed class KeyRow
    {
        [KeyType(1)]
        public uint Label { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = new float[3];
    }

    public sealed class FourKeyRow
    {
        [KeyType(4)]
        public uint Label { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = new float[3];
    }

    [TestMethod]
    public void A_key_of_one_class_is_refused_naming_the_column_and_the_fix()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 20).Select(i => new KeyRow { Label = 0, Features = new float[] { i, 1, 2 } }));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options(), 1)).Fit(data));
        StringAssert.Contains(e.Message, "label column 'Label'");
        StringAssert.Contains(e.Message, "has 1 class; multiclass classification needs at least 2");
        StringAssert.Contains(e.Message, "binary trainer");
    }

    [TestMethod]
    public void A_class_missing_from_the_training_rows_is_warned_about_and_keeps_its_score()
    {
        var ml = new MLContext(seed: 0);
        var warnings = new ConcurrentQueue<string>();
        ml.Log += (_, e) =>
        {
            if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning)
            {
                warnings.Enqueue(e.RawMessage);
            }
        };
        // Four classes declared, rows only of classes 1, 2 and 4 (0-based 0, 1 and 3).
        var rows = Enumerable.Range(0, 300).Select(i => new FourKeyRow { Label = (uint)(i % 3 == 2 ? 3 : i % 3), Features = new float[] { i % 3, i % 7, 1 } }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options(), 40);
        options.LearningRate = 0.01;
        var model = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(data);
        Assert.IsTrue(warnings.Any(w => w.Contains("1 of the 4 classes", StringComparison.Ordinal) && w.Contains("keys 3", StringComparison.Ordinal)), string.Join(" | ", warnings));
        Assert.AreEqual(4, model.Model.ClassCount);
        var scores = model.Transform(data).GetColumn<float[]>("Score").ToArray();
        Assert.IsTrue(scores.All(s => s.Length == 4));
        Assert.IsLessThan(0.05, scores.Average(s => s[2]), "the class without rows gets little probability");
    }

    [TestMethod]
    public void A_row_with_a_missing_key_is_named_or_dropped_and_counted()
    {
        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(0, 100).Select(i => new FourKeyRow { Label = (uint)(i % 4), Features = new float[] { i % 4, 1, 2 } }).ToArray();
        rows[37].Label = 9; // out of range: the missing key, as for a value MapValueToKey did not learn
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options(), 1);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(data));
        StringAssert.Contains(e.Message, "Row 37 of the training data");
        StringAssert.Contains(e.Message, "column 'Label' is missing (key 0");
        options.DropNonFiniteRows = true;
        var model = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(data);
        var history = model.Model.TrainingHistory;
        Assert.AreEqual(1, history.DroppedRows);
        Assert.AreEqual(99, history.TrainingRows + history.ValidationRows);
    }

    [TestMethod]
    public void The_softmax_slope_minimises_the_softened_hold_out_loss_and_stays_finite_on_separable_rows()
    {
        // Logits of 400 held-out rows of 5 classes, 10% of them confidently wrong.
        var random = new Random(6);
        int n = 400, k = 5;
        var logits = new float[n * k];
        var labels = new float[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = random.Next(k);
            int top = i % 10 == 0 ? ((int)labels[i] + 1) % k : (int)labels[i];
            for (int c = 0; c < k; c++)
            {
                logits[i * k + c] = (float)(c == top ? 2 + 4 * random.NextDouble() : random.NextDouble());
            }
        }
        double s = Tasks.TemperatureScaling.FitSoftmaxSlope(logits, k, labels);
        double loss = Tasks.TemperatureScaling.SoftmaxLogLoss(logits, k, labels, s);
        Assert.IsLessThan(Tasks.TemperatureScaling.SoftmaxLogLoss(logits, k, labels, 1), loss, "better than the raw logits");
        foreach (double other in new[] { s / 2, s * 2 })
        {
            Assert.IsLessThan(Tasks.TemperatureScaling.SoftmaxLogLoss(logits, k, labels, other), loss, $"slope {other} against the fitted {s}");
        }
        // Every row right with the same margin: the slope stops where the true class gets Platt's target (N_c + 1)/(N_c + 2).
        var separable = new float[40 * 4];
        var separableLabels = new float[40];
        for (int i = 0; i < 40; i++)
        {
            separableLabels[i] = i % 4;
            separable[i * 4 + i % 4] = 30f;
        }
        double t = Tasks.TemperatureScaling.FitSoftmaxSlope(separable, 4, separableLabels);
        double trueClass = Math.Exp(30 * t) / (Math.Exp(30 * t) + 3);
        Assert.AreEqual(11.0 / 12, trueClass, 1e-6, "10 rows per class: the true class's probability is 11/12");
    }

    [TestMethod]
    public void Multiclass_probabilities_are_temperature_scaled_without_changing_the_predicted_class()
    {
        var ml = new MLContext(seed: 0);
        var (train, test) = TestData.SplitFeaturized(ml, BundledData.SatelliteSet);
        var options = new AutoClipNetMulticlassTrainer.Options { EnsembleSize = 1, NumberOfEpochs = 20, Seed = 3 };
        var calibrated = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(train);
        options.CalibrateProbabilities = false;
        var raw = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(train);
        Assert.AreEqual(1f, raw.Model.ProbabilitySlope);
        Assert.IsGreaterThan(1f, calibrated.Model.ProbabilitySlope, "label smoothing caps the confidence; the slope lifts the cap");
        var a = calibrated.Transform(test);
        var b = raw.Transform(test);
        CollectionAssert.AreEqual(b.GetColumn<uint>("PredictedLabel").ToArray(), a.GetColumn<uint>("PredictedLabel").ToArray(), "the same classes predicted");
        double calibratedLoss = ml.MulticlassClassification.Evaluate(a).LogLoss, rawLoss = ml.MulticlassClassification.Evaluate(b).LogLoss;
        Console.WriteLine($"satellite held-out log-loss: {rawLoss:F4} unscaled, {calibratedLoss:F4} with slope {calibrated.Model.ProbabilitySlope:F3}");
        Assert.IsLessThan(rawLoss, calibratedLoss);
    }

    [TestMethod]
    public void A_near_separable_ten_class_set_gets_below_the_label_smoothing_floor()
    {
        // Ten well-separated clusters: the default smoothing (0.1) alone caps each row's log-loss at −ln(1 − 0.1 + 0.01) = 0.094.
        var ml = new MLContext(seed: 0);
        var random = new Random(8);
        ClusterRow[] Rows(int count) => Enumerable.Range(0, count).Select(i =>
        {
            int c = i % 10;
            return new ClusterRow { Label = (uint)c, Features = new[] { (float)(Math.Cos(c) * 10 + random.NextDouble()), (float)(Math.Sin(c) * 10 + random.NextDouble()), (float)random.NextDouble() } };
        }).ToArray();
        var schema = SchemaDefinition.Create(typeof(ClusterRow));
        schema["Label"].ColumnType = new KeyDataViewType(typeof(uint), 10);
        var model = ml.MulticlassClassification.Trainers.AutoClipNet(new AutoClipNetMulticlassTrainer.Options { EnsembleSize = 1, NumberOfEpochs = 30, Seed = 1 })
            .Fit(ml.Data.LoadFromEnumerable(Rows(2000), schema));
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(ml.Data.LoadFromEnumerable(Rows(1000), schema)));
        Assert.AreEqual(1.0, metrics.MicroAccuracy);
        Assert.IsLessThan(0.03, metrics.LogLoss, $"slope {model.Model.ProbabilitySlope}");
    }

    private sealed class ClusterRow
    {
        public uint Label { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void Label_smoothing_is_an_option_checked_like_the_others()
    {
        var ml = new MLContext(seed: 0);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.AutoClipNet(new AutoClipNetMulticlassTrainer.Options { LabelSmoothing = 1 }));
        Assert.AreEqual("LabelSmoothing", e.ParamName);
        var data = TestData.Featurized(ml, BundledData.SatelliteSet, 1000);
        var options = TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options { CalibrateProbabilities = false }, 3);
        options.LabelSmoothing = 0.1;
        var smoothed = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(data).Transform(data).GetColumn<float[]>("Score").ToArray();
        options.LabelSmoothing = 0;
        var plain = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(data).Transform(data).GetColumn<float[]>("Score").ToArray();
        // Smoothing keeps probabilities away from 0 and 1.
        Assert.IsLessThan(plain.Average(s => s.Max()), smoothed.Average(s => s.Max()));
    }
}
