using System;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>Piecewise-linear encodings (AutoClipNetOptionsBase.PiecewiseLinearBins): the layer, its bins from quantiles, a model that uses them.</summary>
[TestClass]
public sealed class PiecewiseLinearTests
{
    [TestMethod]
    public void Each_bin_gives_minus_1_below_it_1_above_it_and_the_position_inside_after_the_input_unchanged()
    {
        var layer = PiecewiseLinearLayer.Create(3, new[] { 0, 2 }, new[] { new[] { 0f, 1f, 3f }, new[] { -1f, 1f } })!;
        Assert.AreEqual(3 + 3, layer.OutputSize);
        var output = new float[6];
        layer.Forward(new[] { 2f, 7f, 0.5f }, output);
        CollectionAssert.AreEqual(new[] { 2f, 7f, 0.5f, 1f, 0f, 0.5f }, output);
        layer.Forward(new[] { -5f, 7f, 4f }, output);
        CollectionAssert.AreEqual(new[] { -5f, 7f, 4f, -1f, -1f, 1f }, output);

        // The batched forward computes the same bits.
        var rows = new[] { 2f, 7f, 0.5f, -5f, 7f, 4f, 0.999f, 0f, -0.999f };
        using var network = new NetworkDescription(3, new Layer[] { layer });
        using var scorer = network.CreateBatchScorer(3);
        rows.CopyTo(scorer.Input);
        var batched = scorer.Forward(3).ToArray();
        var scratch = new float[2 * network.MaxWidth];
        for (int r = 0; r < 3; r++)
        {
            CollectionAssert.AreEqual(network.Forward(rows.AsSpan(r * 3, 3), scratch).ToArray(), batched.Skip(r * 6).Take(6).ToArray(), $"row {r}");
        }

        // A bin of no width is left out; bad parameters are refused.
        Assert.AreEqual(3 + 1, PiecewiseLinearLayer.Create(3, new[] { 1 }, new[] { new[] { 2f, 2f, 5f } })!.OutputSize);
        Assert.IsNull(PiecewiseLinearLayer.Create(3, new[] { 1 }, new[] { new[] { 2f } }));
        Assert.Throws<InvalidDataException>(() => new PiecewiseLinearLayer(3, new[] { 3 }, new[] { 0f }, new[] { 1f }));
        Assert.Throws<InvalidDataException>(() => new PiecewiseLinearLayer(3, new[] { 0 }, new[] { 0f }, new[] { 0f }));
    }

    [TestMethod]
    public void The_bins_lie_between_quantiles_of_the_numeric_features_after_the_feature_transform()
    {
        // Feature 0: 0 to 999 evenly; feature 1: one-hot; feature 2: constant.
        var statistics = new FeatureStatistics(3, seed: 1, sampleQuantiles: true);
        for (int i = 0; i < 1000; i++)
        {
            statistics.Add(new float[] { i, i % 2, 4f });
        }
        int[] numeric = { 0 };
        var raw = NetworkBuilder.PiecewiseLinear(4, numeric, statistics, transform: null)!;
        Assert.AreEqual(3 + 4, raw.OutputSize);
        var output = new float[7];
        // Bins [0, 249.75], [249.75, 499.5], [499.5, 749.25], [749.25, 999]: 600 is past the first two, 40% into the third.
        raw.Forward(new[] { 600f, 1f, 4f }, output);
        Assert.AreEqual(1f, output[3]);
        Assert.AreEqual(1f, output[4]);
        Assert.AreEqual(2 * (600 - 499.5) / 249.75 - 1, output[5], 1e-6);
        Assert.AreEqual(-1f, output[6]);
        raw.Forward(new[] { 124.875f, 1f, 4f }, output);
        Assert.AreEqual(0f, output[3], 1e-6f);

        // Through a feature transform (center 500, scale 1/100, smoothly clipped) the bins are the same quantiles, mapped.
        var transform = new FeatureTransformLayer(new[] { 500f, 0f, 4f }, new[] { 0.01f, 1f, 0f }, new[] { true, false, false });
        var mapped = NetworkBuilder.PiecewiseLinear(4, numeric, statistics, transform)!;
        var scaled = new float[3];
        transform.Forward(new[] { 600f, 1f, 4f }, scaled);
        mapped.Forward(scaled, output);
        Assert.AreEqual(1f, output[3]);
        Assert.AreEqual(1f, output[4]);
        Assert.IsTrue(output[5] is > -1f and < 1f, $"inside the third bin: {output[5]}");
        Assert.AreEqual(-1f, output[6]);
    }

    [TestMethod]
    public void A_model_with_encodings_trains_saves_and_scores_the_same_bytes_after_loading()
    {
        var fixture = TaskFixture.ByName("multiclass");
        var ml = new MLContext(seed: 0);
        var raw = TestData.Raw(ml, BundledData.HpcJobsSet, 1_200);
        var pipeline = BundledData.Featurizer(ml, BundledData.HpcJobsSet).Append(ml.MulticlassClassification.Trainers.AutoClipNet(
            TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options { PiecewiseLinearBins = 8, EnsembleSize = 2 }, epochs: 2))).Fit(raw);
        var model = ((Microsoft.ML.Data.MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters>)pipeline.LastTransformer).Model;
        StringAssert.Contains(model.Layers, "piecewise-linear encodings of");
        string path = Path.Combine(Path.GetTempPath(), $"autoclipnet-encodings-{Environment.ProcessId}.zip");
        try
        {
            ml.Model.Save(pipeline, raw.Schema, path);
            var loaded = new MLContext().Model.Load(path, out _);
            CollectionAssert.AreEqual(Outputs.Bytes(pipeline.Transform(raw), fixture.OutputColumns), Outputs.Bytes(loaded.Transform(raw), fixture.OutputColumns));
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.AutoClipNet(new AutoClipNetMulticlassTrainer.Options { PiecewiseLinearBins = 1 }));
    }
}
