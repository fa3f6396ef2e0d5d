using System;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Models saved by the released regression trainer (format 1.1, test/Fixtures) load and predict bit-identically to
/// what the released code computes. The release's own bits depend on the CPU (its PredictionEngine summed with
/// System.Numerics.Tensors' widest vectors, its batch GELU was LibTorch's kernel for the CPU), so the fixture holds
/// the release's scores from two machines: the one that wrote the models, and an AVX2 machine without AVX-512
/// (<c>avx2/</c>). A model must score exactly like one of them, Transform and PredictionEngine alike.
/// </summary>
[TestClass]
public sealed class ReleasedModelTests
{
    private static string FixtureDirectory => Path.Combine(TestData.RepoRoot, "test", "Fixtures", "regression-format-1.1");

    /// <summary>The machines whose release scores the fixture holds: a folder each (the models' own, then avx2/).</summary>
    private static string[] Machines => FixtureFiles.Machines("1.1").ToArray();

    private static float[] ReadScores(string machine, string file)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(FixtureDirectory, machine, file));
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

        float[] transform = ml.Data.CreateEnumerable<FixtureFiles.Score>(model.Transform(rows), reuseRowObject: false).Select(s => s.Value).ToArray();
        var engine = ml.Model.CreatePredictionEngine<FixtureFiles.DiamondRow, FixtureFiles.Score>(model);
        float[] single = ml.Data.CreateEnumerable<FixtureFiles.DiamondRow>(rows, reuseRowObject: false).Select(r => engine.Predict(r).Value).ToArray();

        Assert.HasCount(998, transform);
        var (matches, report) = FixtureFiles.MatchesAMachine("1.1", $"regression-{name}", transform, single);
        Assert.IsTrue(matches, "Transform and PredictionEngine score exactly as on one of the recorded machines: " + report);
        var parameters = ((AutoClipNetPredictionTransformer)((TransformerChain<ITransformer>)model).LastTransformer).Model;
        Assert.HasCount(steps, parameters.TrainingHistory.Steps);

        // Saved again by this version, a released model stays in its format and scores the same bits.
        string again = Path.Combine(Path.GetTempPath(), $"autoclipnet-resaved-{name}-{Environment.ProcessId}.zip");
        try
        {
            ml.Model.Save(model, schema, again);
            var reloaded = new MLContext().Model.Load(again, out _);
            float[] resaved = ml.Data.CreateEnumerable<FixtureFiles.Score>(reloaded.Transform(rows), reuseRowObject: false).Select(s => s.Value).ToArray();
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

    private static int Differences(float[] expected, float[] actual)
        => expected.Length != actual.Length ? Math.Max(expected.Length, actual.Length) : expected.Zip(actual).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));

    [TestMethod]
    public void The_recorded_machines_disagree_so_matching_one_of_them_says_something()
    {
        // Were the two sets equal, matching "one of them" would be no weaker than matching the first; they are not, and
        // each differs from the other in a few rows only: the same computation, rounded differently.
        foreach (string name in new[] { "relu-64-64", "tanh-32-16", "gelu-24", "leakyrelu-16-16-8", "linear" })
        {
            int engine = Differences(ReadScores("", $"regression-{name}.engine.bin"), ReadScores("avx2", $"regression-{name}.engine.bin"));
            Assert.IsTrue(engine is > 0 and < 998, $"{name}: the machines' PredictionEngine scores differ in {engine} rows");
        }
    }
}
