using System;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>Models saved by the released regression trainer (format 1.1, test/Fixtures) load and predict bit-identically.</summary>
[TestClass]
public sealed class ReleasedModelTests
{
    private static string FixtureDirectory => Path.Combine(TestData.RepoRoot, "test", "Fixtures", "regression-format-1.1");

    private static float[] ReadScores(string file)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(FixtureDirectory, file));
        return Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray();
    }

    [TestMethod]
    [DataRow("relu-64-64", 141)]
    [DataRow("tanh-32-16", 129)]
    [DataRow("gelu-24", 141)]
    [DataRow("leakyrelu-16-16-8", 141)]
    [DataRow("linear", 141)]
    public void A_released_model_loads_and_scores_bit_identically(string name, int steps)
    {
        var ml = new MLContext(seed: 0);
        var model = ml.Model.Load(Path.Combine(FixtureDirectory, $"regression-{name}.zip"), out var schema);
        var rows = ml.Data.LoadFromTextFile(Path.Combine(FixtureDirectory, "rows.csv"),
            schema.Select(c => new TextLoader.Column(c.Name, c.Type == NumberDataViewType.Single ? DataKind.Single : DataKind.String, c.Index)).ToArray(),
            separatorChar: ',', hasHeader: true, allowQuoting: true);

        float[] transform = ml.Data.CreateEnumerable<RegressionTrainerTests.Score>(model.Transform(rows), reuseRowObject: false).Select(s => s.Value).ToArray();
        var engine = ml.Model.CreatePredictionEngine<RegressionTrainerTests.DiamondRow, RegressionTrainerTests.Score>(model);
        float[] single = ml.Data.CreateEnumerable<RegressionTrainerTests.DiamondRow>(rows, reuseRowObject: false).Select(r => engine.Predict(r).Value).ToArray();

        Assert.HasCount(998, transform);
        CollectionAssert.AreEqual(ReadScores($"regression-{name}.transform.bin"), transform, "Transform");
        CollectionAssert.AreEqual(ReadScores($"regression-{name}.engine.bin"), single, "PredictionEngine");
        var parameters = ((AutoClipNetPredictionTransformer)((TransformerChain<ITransformer>)model).LastTransformer).Model;
        Assert.HasCount(steps, parameters.TrainingHistory.Steps);

        // Saved again by this version, a released model stays in its format and scores the same bits.
        string again = Path.Combine(Path.GetTempPath(), $"autoclipnet-resaved-{name}-{Environment.ProcessId}.zip");
        try
        {
            ml.Model.Save(model, schema, again);
            var reloaded = new MLContext().Model.Load(again, out _);
            float[] resaved = ml.Data.CreateEnumerable<RegressionTrainerTests.Score>(reloaded.Transform(rows), reuseRowObject: false).Select(s => s.Value).ToArray();
            CollectionAssert.AreEqual(transform, resaved, "Transform after saving again");
            var reloadedParameters = ((AutoClipNetPredictionTransformer)((TransformerChain<ITransformer>)reloaded).LastTransformer).Model;
            CollectionAssert.AreEqual(parameters.TrainingHistory.Steps.ToArray(), reloadedParameters.TrainingHistory.Steps.ToArray());
            Assert.AreEqual(parameters.AutoClipState?.Threshold, reloadedParameters.AutoClipState?.Threshold);
        }
        finally
        {
            File.Delete(again);
        }
    }
}
