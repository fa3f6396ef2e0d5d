using System;
using System.Linq;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>The one-pass statistics behind the feature scaling, for rows of any width.</summary>
[TestClass]
public sealed class FeatureStatisticsTests
{
    [TestMethod]
    [DataRow(3)]
    [DataRow(1_023)]
    [DataRow(1_025)]
    [DataRow(5_000)]
    public void Rows_wider_than_the_first_sample_buffer_keep_exact_quartiles(int features)
    {
        // The sample's buffer starts at 1,024 values and doubles: a row of more than 1,024 values once overflowed it.
        var statistics = new FeatureStatistics(features, seed: 1, sampleQuantiles: true);
        var row = new float[features];
        for (int i = 0; i < 101; i++)
        {
            for (int j = 0; j < features; j++)
            {
                row[j] = i * (j + 1);
            }
            statistics.Add(row);
        }
        Assert.AreEqual(101, statistics.SampledRows, "every row fits in the sample");
        foreach (int j in new[] { 0, features / 2, features - 1 })
        {
            var (q25, median, q75) = statistics.Quartiles(j);
            Assert.AreEqual(25.0 * (j + 1), q25, 1e-9);
            Assert.AreEqual(50.0 * (j + 1), median, 1e-9);
            Assert.AreEqual(75.0 * (j + 1), q75, 1e-9);
        }
    }

    public sealed class WideRow
    {
        [VectorType(1_500)]
        public float[] Features { get; set; } = Array.Empty<float>();

        public bool Label { get; set; }
    }

    [TestMethod]
    public void A_trainer_fits_a_feature_vector_of_1500_slots()
    {
        // As FeaturizeText makes them: many slots, most of them zero.
        var random = new Random(3);
        var rows = Enumerable.Range(0, 400).Select(_ =>
        {
            var features = new float[1_500];
            for (int k = 0; k < 20; k++)
            {
                features[random.Next(1_500)] = (float)random.NextDouble();
            }
            return new WideRow { Features = features, Label = features[0] + features[1] > 0.01f };
        }).ToArray();
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.BinaryClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetBinaryTrainer.Options(), epochs: 2)).Fit(data);
        Assert.AreEqual(1_500, model.Model.SubModel.FeatureCount);
        var metrics = ml.BinaryClassification.Evaluate(model.Transform(data));
        Assert.IsTrue(double.IsFinite(metrics.LogLoss), $"log-loss {metrics.LogLoss}");
    }
}
