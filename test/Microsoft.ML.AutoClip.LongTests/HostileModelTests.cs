using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Every fixture of every format, every integer field the loader reads in it (up to 60 per block: the first 24, then an even spread over the network, the
/// state and the history) set to every hostile value, and its payloads cut at 12 points: each copy refused with the format's one error within the allocation bound, or loaded and
/// predicting (HostileModels.cs; the fast tests fuzz a sample). And the wide valid model of the report: one dense layer of
/// 2²⁴ units loads, and Transform and a PredictionEngine score it.
/// </summary>
[TestClass]
public sealed class HostileModelTests
{
    /// <summary>Every fixture: (format, name).</summary>
    public static IEnumerable<object[]> Fixtures => new[] { "1.1", "2.1", "2.2", "2.3", "2.4", "2.5" }
        .SelectMany(format => Directory.GetFiles(FixtureFiles.Directory(format), "*.zip").OrderBy(f => f, StringComparer.Ordinal)
            .Select(zip => new object[] { format, Path.GetFileNameWithoutExtension(zip) }));

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void Every_crafted_copy_of_every_fixture_is_refused_with_the_formats_error_or_loads_and_predicts(string format, string name)
    {
        var ml = new MLContext(seed: 0);
        ml.Model.Load(FixtureFiles.Zip(format, name), out var schema);
        Console.WriteLine(HostileModels.Fuzz($"{format} {name}", File.ReadAllBytes(FixtureFiles.Zip(format, name)),
            model => FixtureFiles.Outputs(ml, model, schema, format, name, rows: 16), maxFieldsPerBlock: 60, truncations: 12));
    }

    public sealed class FeatureRow
    {
        [VectorType(26)] public float[] Features { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    [Timeout(1_200_000, CooperativeCancellation = true)]
    public void A_model_with_a_dense_layer_of_2_to_the_24_units_loads_and_predicts()
    {
        // The report's wide valid model: 26 features, one dense layer of 2²⁴ units (436 million weights, 1.7 GB; zeros but for
        // the first unit, so that the zip stays small), then one output. A batch of 4,096 rows would need 256 GB of buffers.
        const int features = 26, width = 1 << 24;
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 300);
        Assert.AreEqual(features, ((VectorDataViewType)data.Schema["Features"].Type).Size);
        var weights = new float[(long)width * features];
        for (int i = 0; i < features; i++)
        {
            weights[i] = 0.01f * (i + 1);
        }
        var output = new float[width];
        output[0] = 1f;
        var network = new NetworkDescription(features, new Layer[]
        {
            FeatureTransformLayer.Identity(features),
            new DenseLayer(features, weights, new float[width]),
            new ActivationLayer(width, AutoClipNetActivation.ReLU),
            new DenseLayer(width, output, new[] { 0.5f }),
        });
        var history = new AutoClipNetTrainingHistory(Array.Empty<AutoClipNetTrainingStep>(), Array.Empty<AutoClipNetEpoch>(), Array.Empty<AutoClipNetDiagnostic>(), 1, 300, 0, 0);
        var parameters = new AutoClipNetModelParameters(ml, network, new RegressionHead(0f, 1f, float.NegativeInfinity, float.PositiveInfinity, 1), null, new[] { history });
        string path = Path.Combine(Path.GetTempPath(), $"autoclipnet-2to24-{Environment.ProcessId}.zip");
        try
        {
            ml.Model.Save(new AutoClipNetPredictionTransformer(ml, parameters, data.Schema, "Features"), data.Schema, path);
            weights = null!;
            Console.WriteLine($"saved: {new FileInfo(path).Length:N0} bytes");
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var loaded = (AutoClipNetPredictionTransformer)new MLContext().Model.Load(path, out _);
            Console.WriteLine($"loaded in {watch.Elapsed.TotalSeconds:F1} s; {loaded.Model.ParameterCount:N0} parameters; {loaded.Model.Network.BatchBytesPerRow:N0} bytes of buffers a row");
            var rows = data.GetColumn<float[]>("Features").ToArray();
            var scores = loaded.Transform(data).GetColumn<float>("Score").ToArray();
            var engine = new MLContext().Model.CreatePredictionEngine<FeatureRow, FixtureFiles.Score>(loaded);
            for (int r = 0; r < rows.Length; r++)
            {
                // The one live unit: 0.5 + max(0, Σ 0.01·(i + 1)·x_i).
                double expected = 0.5 + Math.Max(0, rows[r].Select((x, i) => 0.01 * (i + 1) * x).Sum());
                Assert.AreEqual(expected, scores[r], 1e-4 * (1 + Math.Abs(expected)), $"row {r}: Transform");
                if (r % 30 == 0)
                {
                    Assert.AreEqual(expected, engine.Predict(new FeatureRow { Features = rows[r] }).Value, 1e-4 * (1 + Math.Abs(expected)), $"row {r}: PredictionEngine");
                }
            }
            Console.WriteLine($"scored {rows.Length} rows through Transform and a PredictionEngine in {watch.Elapsed.TotalSeconds:F1} s in all");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
