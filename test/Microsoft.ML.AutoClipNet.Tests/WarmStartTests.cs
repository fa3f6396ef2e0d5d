using System;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Warm start: Fit(trainData, modelParameters) and Fit(trainData, validationData, modelParameters) continue a model's network
/// and its AutoClip history, for every task; a model of other features, classes or architecture is refused with a clear error.
/// </summary>
[TestClass]
public sealed class WarmStartTests
{
    private sealed class ClassRow
    {
        public string Class { get; set; } = "";

        [VectorType(3)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private static double Rmse(MLContext ml, ITransformer model, IDataView data) => ml.Regression.Evaluate(model.Transform(data)).RootMeanSquaredError;

    [TestMethod]
    public void A_continued_regression_model_goes_on_from_its_weights_and_its_AutoClip_history()
    {
        var ml = new MLContext(seed: 0);
        var (train, test) = TestData.SplitFeaturized(ml, BundledData.CarsSet);
        var options = TestOptions.Quick(new AutoClipNetTrainer.Options { EnsembleSize = 1, HistoryDetail = AutoClipNetHistoryDetail.EveryStep }, epochs: 4);
        var trainer = ml.Regression.Trainers.AutoClipNet(options);
        var first = trainer.Fit(train);
        var continued = trainer.Fit(train, first.Model);
        var state = continued.Model.AutoClipState!;
        var before = first.Model.AutoClipState!;
        // Every step of both fits is in AutoClip's history: the second fit's norms were added to the first's.
        Assert.AreEqual(before.RecordedSteps + continued.Model.TrainingHistory.StepCount - continued.Model.TrainingHistory.SkippedStepCount, state.RecordedSteps);
        var kept = state.History.GroupBy(n => n).ToDictionary(g => g.Key, g => g.Count());
        Assert.IsTrue(before.History.GroupBy(n => n).All(g => kept.TryGetValue(g.Key, out int count) && count >= g.Count()), "every norm of the first fit is in the history");
        // It starts where the first model stood: from the same weights the first steps cannot land far off, and the hold-out
        // keeps the model it continued unless an epoch does better, so it is no worse on new rows than noise allows.
        double rmseFirst = Rmse(ml, first, test), rmseContinued = Rmse(ml, continued, test);
        var fresh = trainer.Fit(train);
        Console.WriteLine($"RMSE after 4 epochs {rmseFirst:F3}; 4 more, continued {rmseContinued:F3}");
        Assert.IsTrue(rmseContinued <= rmseFirst * 1.05, $"continued {rmseContinued} against {rmseFirst}");
        CollectionAssert.AreEqual(Outputs.Bytes(first.Transform(test), new[] { "Score" }), Outputs.Bytes(fresh.Transform(test), new[] { "Score" }),
            "continuing leaves the model it started from untouched (a new fit with the same seed gives the same bits)");
        Assert.AreEqual(first.Model.LabelStandardization, continued.Model.LabelStandardization, "the label keeps the model's encoding");
    }

    [TestMethod]
    public void A_model_that_kept_no_AutoClip_state_continues_with_a_new_history_and_a_loaded_model_continues_too()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(500, seed: 3));
        string? said = null;
        ml.Log += (_, e) => said ??= e.Message.Contains("AutoClip starts a new history", StringComparison.Ordinal) ? e.Message : null;
        var trainer = ml.Regression.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetTrainer.Options(), epochs: 2));
        var first = trainer.Fit(data);
        Assert.IsNull(first.Model.AutoClipState, "the default history keeps no AutoClip state");
        using var stream = new MemoryStream();
        ml.Model.Save(first, data.Schema, stream);
        stream.Position = 0;
        var loaded = (AutoClipNetPredictionTransformer)ml.Model.Load(stream, out _);
        var continued = trainer.Fit(data, loaded.Model);
        Assert.IsNotNull(said, "the log says AutoClip starts anew");
        Assert.AreEqual(first.Model.EnsembleSize, continued.Model.EnsembleSize, "the ensemble's members continue");
        Assert.AreEqual(first.Model.Layers, continued.Model.Layers, "the same network");
    }

    [TestMethod]
    public void Binary_and_multiclass_models_continue_with_a_validation_set_and_are_calibrated_again()
    {
        var ml = new MLContext(seed: 0);
        var (train, test) = TestData.SplitFeaturized(ml, BundledData.BreastCancerSet);
        var binary = ml.BinaryClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetBinaryTrainer.Options(), epochs: 3));
        var first = binary.Fit(train);
        var continued = binary.Fit(train, test, first.Model);
        Assert.AreNotEqual(first.Model.Calibrator.Slope, continued.Model.Calibrator.Slope, "Platt scaling fitted again");
        Assert.IsGreaterThan(0.9, ml.BinaryClassification.Evaluate(continued.Transform(test)).AreaUnderRocCurve);

        var raw = TestData.Raw(ml, BundledData.VehicleSet, 500);
        var featurized = BundledData.Featurizer(ml, BundledData.VehicleSet).Fit(raw).Transform(raw);
        var multiclass = ml.MulticlassClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options(), epochs: 3));
        var m1 = multiclass.Fit(featurized);
        var m2 = multiclass.Fit(featurized, m1.Model);
        Assert.AreEqual(m1.Model.ClassCount, m2.Model.ClassCount);
        Assert.IsGreaterThan(ml.MulticlassClassification.Evaluate(m1.Transform(featurized)).MacroAccuracy - 0.05,
            ml.MulticlassClassification.Evaluate(m2.Transform(featurized)).MacroAccuracy);
    }

    [TestMethod]
    public void Other_features_classes_or_architecture_are_refused_naming_what_differs()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(300, seed: 4));
        var model = ml.Regression.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetTrainer.Options { EnsembleSize = 2 }, epochs: 1)).Fit(data);

        var wider = ml.Transforms.Concatenate("Features", "Features", "Label").Fit(data).Transform(data);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetTrainer.Options(), epochs: 1)).Fit(wider, model.Model));
        StringAssert.Contains(e.Message, "trained on 3 features in 'Features'; the data has 4");

        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetTrainer.Options { EnsembleSize = 3 }, epochs: 1)).Fit(data, model.Model));
        StringAssert.Contains(e.Message, "EnsembleSize");

        var options = TestOptions.Quick(new AutoClipNetTrainer.Options(), epochs: 1);
        options.HiddenLayerSizes = new[] { 32 };
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(options).Fit(data, model.Model));
        StringAssert.Contains(e.Message, "HiddenLayerSizes");

        IDataView Classes(int count) => ml.Transforms.Conversion.MapValueToKey("Label", "Class").Fit(ml.Data.LoadFromEnumerable(TestData.SyntheticRows(300, seed: 5)
            .Select((r, i) => new ClassRow { Class = ((char)('a' + i % count)).ToString(), Features = r.Features })))
            .Transform(ml.Data.LoadFromEnumerable(TestData.SyntheticRows(300, seed: 5).Select((r, i) => new ClassRow { Class = ((char)('a' + i % count)).ToString(), Features = r.Features })));
        var four = ml.MulticlassClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options(), epochs: 1)).Fit(Classes(4));
        var classes = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            ml.MulticlassClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options(), epochs: 1)).Fit(Classes(3), four.Model));
        StringAssert.Contains(classes.Message, "trained on 4 classes");
    }
}
