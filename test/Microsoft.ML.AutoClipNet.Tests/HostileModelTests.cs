using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Hostile models (HostileModels.cs): crafted copies of a fixture of every format, checksums recomputed, are refused with the
/// format's one error within an allocation bound, or load and predict; the declarations the issue reported (a dense layer of
/// inputs × 2²⁴ weights with no data, a block declaring 2³⁰ bytes, truncated payloads) each get the format's error; and a valid
/// model too wide for batches of 4,096 rows loads and predicts in smaller batches, through Transform, a PredictionEngine and ONNX. The long tests fuzz every fixture and every
/// field, and a 2²⁴-wide model.
/// </summary>
[TestClass]
public sealed class HostileModelTests
{
    private static string FixturePath(string format, string name) => Path.Combine(FixtureFiles.Directory(format), name + ".zip");

    /// <summary>What predicting means for a fixture's copy: every output through Transform and a PredictionEngine, on the fixture's rows.</summary>
    internal static Action<ITransformer> Predict(string format, string name)
    {
        var ml = new MLContext(seed: 0);
        ml.Model.Load(FixturePath(format, name), out var schema);
        return model => FixtureFiles.Outputs(ml, model, schema, format, name, rows: 64);
    }

    [TestMethod]
    [DataRow("1.1", "regression-gelu-24")]
    [DataRow("2.1", "binary-tanh-32-16")]
    [DataRow("2.2", "multiclass-mish-64-32")]
    [DataRow("2.3", "regression-silu-32-32")]
    [DataRow("2.4", "regression-ensemble3-pl16")]
    [DataRow("2.4", "binary-ensemble2-pl12-gelu")]
    [DataRow("2.5", "binary-ensemble5-tanh-nan")] // the missing-values layer (the long tests fuzz every fixture)
    public void A_crafted_copy_of_a_model_is_refused_with_the_formats_error_or_loads_and_predicts(string format, string name)
    {
        byte[] zip = File.ReadAllBytes(FixturePath(format, name));
        Console.WriteLine(HostileModels.Fuzz($"{format} {name}", zip, Predict(format, name), maxFieldsPerBlock: 32, truncations: 5));
    }

    [TestMethod]
    public void The_reported_declarations_are_refused_before_anything_large_is_allocated()
    {
        // A format 2.3 regression fixture: 26 → feature transform → periodic embedding → scale → dense 130→32 → ... (format-2.3/Generator.cs.txt).
        byte[] zip = File.ReadAllBytes(FixturePath("2.3", "regression-selu-48"));
        var fields = HostileModels.Fields(zip);
        var modelFields = fields.Where(f => f.Entry.EndsWith("Model.key", StringComparison.Ordinal)).ToList();
        var predict = Predict("2.3", "regression-selu-48");

        // The first dense layer: its kind, input and output counts, then its weights' count. Declared 2²⁴ outputs, or 127 × 2²⁴
        // weights (about 2³¹, 8 GB of floats) with no data behind them: refused before anything is allocated for them.
        var dense = ((AutoClipNetPredictionTransformer)((TransformerChain<ITransformer>)new MLContext().Model.Load(FixturePath("2.3", "regression-selu-48"), out _)).LastTransformer)
            .Model.NetworkLayers.First(l => l.Kind == AutoClipNetLayerKind.Dense);
        int denseKind = Enumerable.Range(0, modelFields.Count - 2).First(i => modelFields[i].Size == 4 && HostileModels.ValueOf(zip, modelFields[i]) == (int)AutoClipNetLayerKind.Dense
            && HostileModels.ValueOf(zip, modelFields[i + 1]) == dense.InputSize && HostileModels.ValueOf(zip, modelFields[i + 2]) == dense.OutputSize);
        var outputs = modelFields[denseKind + 2];
        var weightCount = modelFields[denseKind + 3];
        // Consistent declarations, as a crafted file would make them: 2²² or 2²⁴ outputs and their inputs × as many weights, with no
        // data behind them: refused for the bytes they lack, or for more values than one array may hold, before any allocation.
        foreach (var (width, reason) in new[] { (1L << 22, "bytes are left"), (1L << 24, "a stored array holds at most") })
        {
            var wide = HostileModels.WithField(HostileModels.WithField(zip, outputs, width), weightCount, dense.InputSize * width);
            HostileModels.AssertRefusedOrPredicts(wide, $"a dense layer declaring {dense.InputSize} × {width} weights", predict);
            string refusal = ModelZips.Flatten(Assert.Throws<Exception>(() => ModelZips.Load(wide)));
            Console.WriteLine(refusal);
            StringAssert.Contains(refusal, reason);
        }
        foreach (var (field, value) in new[] { (outputs, 1L << 24), (weightCount, 127L << 24), (weightCount, int.MaxValue) })
        {
            HostileModels.AssertRefusedOrPredicts(HostileModels.WithField(zip, field, value), $"{field.Offset} → {value}", predict);
        }

        // A block that declares 2³⁰ and 2³¹ − 1 bytes: refused from its length, before anything is allocated for it.
        var block = modelFields[0].Block!;
        foreach (long declared in new[] { 1L << 30, int.MaxValue, (long)int.MaxValue + 1, -5 })
        {
            var entries = ModelZips.NetworkEntries(zip, out string directory);
            var key = (byte[])entries[directory + "/Model.key"].Clone();
            BitConverter.GetBytes(declared).CopyTo(key, block.Start);
            HostileModels.AssertRefusedOrPredicts(ModelZips.Rewrite(zip, directory + "/Model.key", key), $"a block declaring {declared} bytes", predict);
        }

        // A payload cut after its first layer's kind: the end of the stream, as the format's error.
        var cut = HostileModels.Truncated(zip, block, modelFields[3].Offset - block.Start - 8);
        var e = Assert.Throws<Exception>(() => ModelZips.Load(cut));
        HostileModels.AssertTheFormatsError(e, "a cut payload");
        StringAssert.Contains(ModelZips.Flatten(e), "end", "the error says the data ended");
    }

    [TestMethod]
    public void A_model_too_wide_for_batches_of_4096_rows_scores_in_smaller_batches_as_its_rows_would_alone()
    {
        // A valid regression model on the diamonds' 26 features with one dense layer of 2¹⁷ units: a batch of 4,096 rows would
        // need 2 GB of buffers; the scorer takes as many rows as fit in its budget (the long tests load one of 2²⁴ units).
        const int features = 26, width = 1 << 17;
        var random = new Random(3);
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 300);
        Assert.AreEqual(features, ((VectorDataViewType)data.Schema["Features"].Type).Size);
        var network = new NetworkDescription(features, new Layer[]
        {
            FeatureTransformLayer.Identity(features),
            DenseLayer.Create(features, width, DenseInit.Uniform, random),
            new ActivationLayer(width, AutoClipNetActivation.ReLU),
            DenseLayer.Create(width, 1, DenseInit.Uniform, random),
        });
        Assert.IsGreaterThan(BatchScorer.MemoryBudget / 4096, network.BatchBytesPerRow);
        var history = new AutoClipNetTrainingHistory(Array.Empty<AutoClipNetTrainingStep>(), Array.Empty<AutoClipNetEpoch>(), Array.Empty<AutoClipNetDiagnostic>(), 1, 300, 0, 0);
        var parameters = new AutoClipNetModelParameters(ml, network, new RegressionHead(3000f, 1000f, float.NegativeInfinity, float.PositiveInfinity, 1), null, new[] { history });
        var transformer = new AutoClipNetPredictionTransformer(ml, parameters, data.Schema, "Features");
        string path = Path.Combine(Path.GetTempPath(), $"autoclipnet-wide-{Environment.ProcessId}.zip");
        try
        {
            ml.Model.Save(transformer, data.Schema, path);
            var loaded = (AutoClipNetPredictionTransformer)new MLContext().Model.Load(path, out _);
            using (var scorer = loaded.Model.CreateBatchScorer(AutoClipNetPredictionTransformer.TransformBatchSize))
            {
                Assert.IsLessThan(4096, scorer.Capacity, "fewer rows a batch");
                Assert.IsGreaterThanOrEqualTo(1, scorer.Capacity);
                Console.WriteLine($"{width}-wide dense layer: {network.BatchBytesPerRow:N0} bytes a row, batches of {scorer.Capacity} rows");
            }
            var scores = loaded.Transform(data).GetColumn<float>("Score").ToArray();
            var features_ = data.GetColumn<float[]>("Features").ToArray();
            Assert.HasCount(300, scores);
            var engine = new MLContext().Model.CreatePredictionEngine<FeatureRow, FixtureFiles.Score>(loaded);
            for (int r = 0; r < 300; r += 37)
            {
                float single = engine.Predict(new FeatureRow { Features = features_[r] }).Value;
                Assert.AreEqual(single, scores[r], 1e-4f * (1 + Math.Abs(single)), $"row {r}: Transform's batch and PredictionEngine agree");
            }

            // Exported to ONNX, ONNX Runtime scores it too (the graph holds the weights; no scorer's buffers are involved).
            string onnx = Path.ChangeExtension(path, ".onnx");
            var onlyFeatures = ml.Data.LoadFromEnumerable(features_.Select(f => new FeatureRow { Features = f }));
            using (var stream = File.Create(onnx))
            {
                ml.Model.ConvertToOnnx(loaded, onlyFeatures, stream);
            }
            var exported = OnnxRuntimeScorer.Score(onnx, onlyFeatures)["Score.output"].Floats;
            File.Delete(onnx);
            Assert.HasCount(300, exported);
            for (int r = 0; r < 300; r++)
            {
                Assert.AreEqual(scores[r], exported[r], 1e-4f * (1 + Math.Abs(scores[r])), $"row {r}: ONNX Runtime and Transform agree");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void The_scorers_budget_counts_the_temporaries_of_the_embeddings_and_encodings()
    {
        // A periodic embedding of 512 features at 256 frequencies makes about 1 MB of LibTorch temporaries a row in its batch
        // forward: a batch of 4,096 rows would take 4 GB. The budget counts them, so the batch shrinks, and it still scores.
        const int features = 512;
        var random = new Random(5);
        var embedding = PeriodicEmbeddingLayer.Create(features, Enumerable.Range(0, features).ToArray(), frequencies: 256, outputsPerFeature: 1, sigma: 0.1, random, 1f, 1f);
        using var network = new NetworkDescription(features, new Layer[] { embedding, DenseLayer.Create(embedding.OutputSize, 1, DenseInit.Uniform, random) });
        long temporaries = sizeof(float) * (features + 2L * features * 256 + 3L * features);
        Assert.AreEqual(sizeof(float) * (long)features + sizeof(float) * (long)embedding.OutputSize + temporaries + sizeof(float), network.BatchBytesPerRow);
        using var scorer = network.CreateBatchScorer(4096);
        Assert.IsLessThanOrEqualTo(BatchScorer.MemoryBudget, scorer.Capacity * network.BatchBytesPerRow);
        Assert.IsLessThan(4096, scorer.Capacity);
        var rows = Enumerable.Range(0, 3 * features).Select(i => (float)Math.Sin(i)).ToArray();
        rows.CopyTo(scorer.Input);
        var batch = scorer.Forward(3).ToArray();
        var scratch = new float[2 * network.MaxWidth];
        for (int r = 0; r < 3; r++)
        {
            float single = network.Forward(rows.AsSpan(r * features, features), scratch)[0];
            Assert.AreEqual(single, batch[r], 1e-4f * (1 + Math.Abs(single)), $"row {r}");
        }
    }

    public sealed class FeatureRow
    {
        [VectorType(26)] public float[] Features { get; set; } = Array.Empty<float>();
    }
}
