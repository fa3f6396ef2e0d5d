using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Models saved in the released three-task formats (test/Fixtures/format-2.1: the first, multilayer perceptrons;
/// test/Fixtures/format-2.2 and 2.3: the default recipe's networks with embeddings and scale layers; test/Fixtures/format-2.4:
/// ensembles and piecewise-linear encodings; test/Fixtures/format-2.5: missing values, prediction intervals, the softmax slope) load and predict bit-identically in every later version: Transform and PredictionEngine against the outputs the code of that
/// format computed, and again after saving. (Format 1.1, regression only: ReleasedModelTests.)
/// </summary>
[TestClass]
public sealed class FormatFixtureTests
{
    private static string FixtureDirectory(string format) => FixtureFiles.Directory(format);

    private static float[] ReadValues(string format, string file) => FixtureFiles.ReadValues(format, file);

    private static (float[] Transform, float[] Engine) Outputs(MLContext ml, ITransformer model, DataViewSchema schema, string format, string name)
        => FixtureFiles.Outputs(ml, model, schema, format, name);

    private static IAutoClipNetModel Parameters(ITransformer model) => model switch
    {
        TransformerChain<ITransformer> chain => chain.Select(t => t switch
        {
            AutoClipNetPredictionTransformer r => r.Model,
            MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters> m => (IAutoClipNetModel?)m.Model,
            _ => null,
        }).Single(p => p is not null)!,
        BinaryPredictionTransformer<Calibrators.CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, Calibrators.PlattCalibrator>> b => b.Model.SubModel,
        _ => throw new AssertFailedException($"unexpected model {model.GetType()}"),
    };

    [TestMethod]
    [DataRow("2.1", "regression-silu-32-32", 998)]
    [DataRow("2.1", "regression-selu-48", 998)]
    [DataRow("2.1", "binary-tanh-32-16", 190 * 3)]
    [DataRow("2.1", "binary-gelu-24", 190 * 3)]
    [DataRow("2.1", "multiclass-mish-64-32", 282 * 5)]
    [DataRow("2.1", "multiclass-leakyrelu-40", 282 * 5)]
    [DataRow("2.2", "regression-silu-32-32", 998)]
    [DataRow("2.2", "regression-selu-48", 998)]
    [DataRow("2.2", "binary-tanh-32-16", 190 * 3)]
    [DataRow("2.2", "binary-gelu-24", 190 * 3)]
    [DataRow("2.2", "multiclass-mish-64-32", 282 * 5)]
    [DataRow("2.2", "multiclass-leakyrelu-40", 282 * 5)]
    [DataRow("2.3", "regression-silu-32-32", 998)]
    [DataRow("2.3", "regression-selu-48", 998)]
    [DataRow("2.3", "binary-tanh-32-16", 190 * 3)]
    [DataRow("2.3", "binary-gelu-24", 190 * 3)]
    [DataRow("2.3", "multiclass-mish-64-32", 282 * 5)]
    [DataRow("2.3", "multiclass-leakyrelu-40", 282 * 5)]
    [DataRow("2.4", "regression-ensemble3-pl16", 998)]
    [DataRow("2.4", "regression-single-pl8-noembed", 998)]
    [DataRow("2.4", "binary-ensemble5-tanh", 190 * 3)]
    [DataRow("2.4", "binary-ensemble2-pl12-gelu", 190 * 3)]
    [DataRow("2.4", "multiclass-ensemble4-pl10-mish", 282 * 5)]
    [DataRow("2.4", "multiclass-ensemble5-leakyrelu", 282 * 5)]
    [DataRow("2.5", "regression-ensemble3-pl16-interval90", 998 * 3)]
    [DataRow("2.5", "regression-single-pl8-noembed-interval50-nomissing", 998 * 3)]
    [DataRow("2.5", "binary-ensemble5-tanh-nan", 190 * 3)]
    [DataRow("2.5", "binary-ensemble2-pl12-gelu-nan-fill", 190 * 3)]
    [DataRow("2.5", "multiclass-ensemble4-pl10-mish-nan", 282 * 5)]
    [DataRow("2.5", "multiclass-ensemble5-leakyrelu-nan-uncalibrated", 282 * 5)]
    public void A_model_of_a_released_format_loads_and_scores_bit_identically(string format, string name, int values)
    {
        var ml = new MLContext(seed: 0);
        var model = ml.Model.Load(Path.Combine(FixtureDirectory(format), name + ".zip"), out var schema);
        var (transform, engine) = Outputs(ml, model, schema, format, name);
        Assert.HasCount(values, transform);
        // Byte for byte one recorded machine's Transform and PredictionEngine (the writing machine's, or another CPU's whose
        // LibTorch products round differently: FixtureFiles.Machines).
        var (matches, report) = FixtureFiles.MatchesAMachine(format, name, transform, engine);
        Assert.IsTrue(matches, report);

        // The history is there (2.1 and 2.2 kept every step; 2.3 what its HistoryDetail asked for); 2.1's layout 1 has no validation errors.
        var parameters = Parameters(model);
        int members = name.Contains("ensemble", StringComparison.Ordinal) ? name[name.IndexOf("ensemble", StringComparison.Ordinal) + 8] - '0' : 1;
        Assert.AreEqual(members, parameters.EnsembleSize, "ensemble members");
        Assert.HasCount(members, parameters.MemberTrainingHistories);
        Assert.AreEqual(name.Contains("-pl", StringComparison.Ordinal), parameters.Layers.Contains("piecewise-linear", StringComparison.Ordinal), "piecewise-linear encodings");
        Assert.AreEqual(format != "2.1" && !name.Contains("noembed", StringComparison.Ordinal), parameters.Layers.Contains("periodic embedding", StringComparison.Ordinal), "periodic embeddings");
        var detail = format is "2.1" or "2.2" ? AutoClipNetHistoryDetail.EveryStep : name switch
        {
            "regression-silu-32-32" or "multiclass-leakyrelu-40" => AutoClipNetHistoryDetail.EveryStep,
            _ when name.StartsWith("regression-ensemble3-pl16", StringComparison.Ordinal) || name.StartsWith("multiclass-ensemble4-pl10-mish", StringComparison.Ordinal) => AutoClipNetHistoryDetail.EveryStep,
            "binary-gelu-24" or "multiclass-mish-64-32" => AutoClipNetHistoryDetail.None,
            _ when name.StartsWith("binary-ensemble2-pl12-gelu", StringComparison.Ordinal) || name.StartsWith("multiclass-ensemble5-leakyrelu", StringComparison.Ordinal) => AutoClipNetHistoryDetail.None,
            _ => AutoClipNetHistoryDetail.Summary,
        };
        Assert.AreEqual(detail, parameters.TrainingHistory.Detail);
        Assert.IsGreaterThan(0L, parameters.TrainingHistory.StepCount);
        Assert.AreEqual(detail == AutoClipNetHistoryDetail.None, parameters.TrainingHistory.Steps.Count == 0, "steps kept");
        Assert.AreEqual(detail == AutoClipNetHistoryDetail.None, parameters.TrainingHistory.Epochs.Count == 0, "epochs kept");
        if (format is "2.3" or "2.4" or "2.5")
        {
            Assert.AreEqual(detail == AutoClipNetHistoryDetail.EveryStep, parameters.AutoClipState is not null, "AutoClip state kept with every step only");
        }
        bool heldOut = name is not ("regression-selu-48" or "binary-gelu-24"); // trained with ValidationFraction = 0 (2.4: the default hold-out)
        bool errorsRecorded = format != "2.1" && heldOut;
        Assert.IsTrue(parameters.TrainingHistory.Epochs.Count > 0 || detail == AutoClipNetHistoryDetail.None);
        Assert.IsTrue(parameters.TrainingHistory.Epochs.All(e => double.IsNaN(e.ValidationError) != errorsRecorded), $"validation errors recorded: {errorsRecorded}");
        // Format 2.5's fields: the missing-values layer (unless trained with MissingValues = Error), the interval, the softmax slope.
        Assert.AreEqual(format == "2.5" && !name.EndsWith("-nomissing", StringComparison.Ordinal), parameters.Layers.Contains("missing values", StringComparison.Ordinal), "missing-values layer");
        if (format == "2.5" && model is TransformerChain<ITransformer> regressionChain && regressionChain.LastTransformer is AutoClipNetPredictionTransformer regression)
        {
            Assert.AreEqual(name.Contains("interval90", StringComparison.Ordinal) ? 0.9f : 0.5f, regression.Model.PredictionInterval!.Value.Coverage);
        }
        if (format == "2.5" && Parameters(model) is AutoClipNetMulticlassModelParameters multiclass)
        {
            Assert.AreEqual(name.EndsWith("-uncalibrated", StringComparison.Ordinal), multiclass.ProbabilitySlope == 1f, $"softmax slope {multiclass.ProbabilitySlope}");
        }

        // Saved again by this version, it scores the same bits and keeps its history.
        string again = Path.Combine(Path.GetTempPath(), $"autoclipnet-resaved-{format}-{name}-{Environment.ProcessId}.zip");
        try
        {
            ml.Model.Save(model, schema, again);
            var reloaded = new MLContext(seed: 0).Model.Load(again, out var reloadedSchema);
            var (transformAgain, engineAgain) = Outputs(ml, reloaded, reloadedSchema, format, name);
            CollectionAssert.AreEqual(transform, transformAgain, "Transform after saving again");
            CollectionAssert.AreEqual(engine, engineAgain, "PredictionEngine after saving again");
            CollectionAssert.AreEqual(parameters.TrainingHistory.Steps.ToArray(), Parameters(reloaded).TrainingHistory.Steps.ToArray());
            CollectionAssert.AreEqual(parameters.TrainingHistory.Epochs.ToArray(), Parameters(reloaded).TrainingHistory.Epochs.ToArray());
        }
        finally
        {
            File.Delete(again);
        }
    }
}
