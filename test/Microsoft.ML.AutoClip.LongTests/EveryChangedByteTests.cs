using System;
using System.IO;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Every byte of AutoClipNet's saved streams changed in turn, for every task: a model with any single changed bit in its
/// network, head, AutoClip state or history is refused before anything is scored (the fast conformance suite tries a sample
/// of the positions of a larger model). The networks are small, so that every byte can be tried, and hold every layer kind:
/// the feature transform, piecewise-linear encodings, periodic embeddings, the feature scale, dense layers and activations,
/// an ensemble of two (regression and multiclass).
/// </summary>
[TestClass]
public sealed class EveryChangedByteTests
{
    [TestMethod]
    [DataRow("regression")]
    [DataRow("binary")]
    [DataRow("multiclass")]
    public void A_model_with_any_changed_byte_in_its_network_streams_is_refused_before_anything_is_scored(string task)
    {
        var fixture = TaskFixture.ByName(task);
        var ml = new MLContext(seed: 0);
        var raw = TestData.Raw(ml, fixture.DataSet, 3000, seed: 5);
        // Every step and the AutoClip state kept, so that every part of the format is changed.
        var pipeline = BundledData.Featurizer(ml, fixture.DataSet).Append(fixture.QuickTrainer(ml, epochs: 2, change: o =>
        {
            o.HistoryDetail = AutoClipNetHistoryDetail.EveryStep;
            o.HiddenLayerSizes = new[] { 2 };
            o.EmbeddingFrequencies = 1;
            o.PiecewiseLinearBins = 2;
            o.EnsembleSize = task == "binary" ? 1 : 2;
            o.BatchSize = 1000;
        })).Fit(raw);
        string directory = Directory.CreateTempSubdirectory($"autoclipnet-every-byte-{task}").FullName;
        try
        {
            string good = Path.Combine(directory, "good.zip");
            ml.Model.Save(pipeline, raw.Schema, good);
            byte[] Outputs(ITransformer model) => Tests.Outputs.Bytes(model.Transform(raw), fixture.OutputColumns);
            Console.WriteLine(ModelZips.AssertEveryChangedBitIsRefused(good, Outputs(pipeline), Outputs, samples: int.MaxValue));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
