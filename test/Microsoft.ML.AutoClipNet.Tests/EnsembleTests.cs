using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Ensembles (AutoClipNetOptionsBase.EnsembleSize): members with their own hold-out slices, the mean of their outputs in
/// every scoring path, the default by data size, persistence of every member's history, and the same bytes whether the
/// members trained one after the other or side by side. (The conformance suite trains every task's shared model on
/// 3,000 rows, where the default is an ensemble, so everything it checks holds for ensembles too.)
/// </summary>
[TestClass]
public sealed class EnsembleTests
{
    private static NetworkDescription Description(IAutoClipNetModel model) => model switch
    {
        AutoClipNetModelParameters r => r.Network,
        AutoClipNetBinaryModelParameters b => b.Network,
        AutoClipNetMulticlassModelParameters m => m.Network,
        _ => throw new AssertFailedException(model.GetType().Name),
    };

    [TestMethod]
    public void Members_hold_out_disjoint_slices_that_together_are_every_row_and_the_first_member_holds_out_what_one_network_would()
    {
        for (int seed = 0; seed < 3; seed++)
        {
            int[] heldOutBy = new int[20_000];
            for (long position = 0; position < heldOutBy.Length; position++)
            {
                for (int member = 0; member < 5; member++)
                {
                    heldOutBy[position] += TrainingSet.IsHeldOut(position, seed, 0.2, member, 5) ? 1 : 0;
                }
                Assert.AreEqual(TrainingSet.IsHeldOut(position, seed, 0.2), TrainingSet.IsHeldOut(position, seed, 0.2, 0, 5), "member 0 is the single network");
            }
            Assert.IsTrue(heldOutBy.All(n => n == 1), "with 5 members and 0.2, every row is held out by exactly one member: " +
                string.Join(", ", heldOutBy.Select((n, p) => (n, p)).Where(x => x.n != 1).Take(5).Select(x => $"row {x.p} by {x.n}")));
            // Three members holding out 0.1 each: disjoint slices, 30% of the rows, each about a tenth.
            var counts = new int[3];
            for (long position = 0; position < heldOutBy.Length; position++)
            {
                int by = 0;
                for (int member = 0; member < 3; member++)
                {
                    if (TrainingSet.IsHeldOut(position, seed, 0.1, member, 3))
                    {
                        counts[member]++;
                        by++;
                    }
                }
                Assert.IsLessThanOrEqualTo(1, by);
            }
            Assert.IsTrue(counts.All(c => Math.Abs(c - 2_000) < 200), string.Join(", ", counts));
        }
    }

    [TestMethod]
    [DataRow("regression")]
    [DataRow("binary")]
    [DataRow("multiclass")]
    public void An_ensemble_scores_the_mean_of_its_members_in_the_managed_and_the_batched_forward(string task)
    {
        var fixture = TaskFixture.ByName(task);
        var ml = new MLContext(seed: 0);
        var data = TestData.Featurized(ml, fixture.DataSet, 1_200);
        var model = fixture.QuickTrainer(ml, epochs: 2, change: o => o.EnsembleSize = 3).Fit(data);
        var parameters = fixture.ModelOf(model);
        Assert.AreEqual(3, parameters.EnsembleSize);
        var network = Description(parameters);
        var ensemble = network.Layers.OfType<EnsembleLayer>().Single();
        Assert.HasCount(3, ensemble.Members);
        var shared = network.Layers.TakeWhile(l => l is not EnsembleLayer).ToArray();
        CollectionAssert.AreEqual(new[] { AutoClipNetLayerKind.MissingValues, AutoClipNetLayerKind.FeatureTransform }, shared.Select(l => l.Kind).ToArray(),
            "the members share the missing values and the feature scaling, which come first, once");

        var rows = data.GetColumn<VBuffer<float>>("Features").Take(300).Select(v => v.DenseValues().ToArray()).ToArray();
        int k = network.OutputSize;
        var scratch = new float[2 * Math.Max(network.MaxWidth, ensemble.MaxMemberWidth) + 1024];
        var memberScratch = new float[2 * ensemble.MaxMemberWidth];
        using var scorer = network.CreateBatchScorer(rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i].CopyTo(scorer.Input.Slice(i * network.InputSize, network.InputSize));
        }
        var batched = scorer.Forward(rows.Length).ToArray();
        bool batchedEqual = true;
        for (int i = 0; i < rows.Length; i++)
        {
            // By hand: the shared layers, each member, their sum in member order, times the float nearest 1/3.
            var transformed = rows[i];
            foreach (var layer in shared)
            {
                var next = new float[layer.OutputSize];
                layer.Forward(transformed, next);
                transformed = next;
            }
            var expected = new float[k];
            for (int m = 0; m < 3; m++)
            {
                var member = ensemble.Members[m].Forward(transformed, memberScratch);
                for (int j = 0; j < k; j++)
                {
                    expected[j] = m == 0 ? member[j] : expected[j] + member[j];
                }
            }
            for (int j = 0; j < k; j++)
            {
                expected[j] *= 1f / 3;
            }
            var actual = network.Forward(rows[i], scratch).ToArray();
            for (int j = 0; j < k; j++)
            {
                Assert.AreEqual(expected[j], batched[i * k + j], 2e-5 * Math.Max(1, Math.Abs(expected[j])), $"row {i}, output {j}: batched forward");
                batchedEqual &= expected[j] == batched[i * k + j];
            }
        }
        Console.WriteLine($"{task}: batched forward bit-identical to the managed one on every row: {batchedEqual}");

        // The ensemble layer's own batch forward (temporary tensors) and the scorer's (a scorer per member) agree bit for bit.
        using var noGrad = TorchSharp.torch.no_grad();
        using var input = TorchSharp.torch.tensor(rows.SelectMany(r => r).ToArray(), new long[] { rows.Length, network.InputSize });
        var transformedBatch = input;
        foreach (var layer in shared)
        {
            transformedBatch = layer.Forward(transformedBatch, layer.BatchInPlace ? null : TorchSharp.torch.empty(rows.Length, layer.OutputSize));
        }
        using var output = TorchSharp.torch.empty(rows.Length, k);
        ensemble.Forward(transformedBatch, output);
        CollectionAssert.AreEqual(batched, output.data<float>().ToArray());
    }

    [TestMethod]
    public void By_default_small_data_gets_an_ensemble_and_larger_data_one_network()
    {
        Assert.AreEqual(5, Recipe.DefaultEnsembleSize(Recipe.DefaultEnsembleMaxRows));
        Assert.AreEqual(1, Recipe.DefaultEnsembleSize(Recipe.DefaultEnsembleMaxRows + 1));
        var binary = Tasks.BinaryTask.Instance;
        Assert.AreEqual(5, Recipe.Resolve(new AutoClipNetBinaryTrainer.Options(), binary, 300).EnsembleSize);
        Assert.AreEqual(1, Recipe.Resolve(new AutoClipNetBinaryTrainer.Options(), binary, 40_000).EnsembleSize);
        Assert.AreEqual(1, Recipe.Resolve(new AutoClipNetBinaryTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp }, binary, 300).EnsembleSize, "the previous network stays one network");
        Assert.AreEqual(2, Recipe.Resolve(new AutoClipNetBinaryTrainer.Options { EnsembleSize = 2 }, binary, 40_000).EnsembleSize);
        Assert.IsTrue(Recipe.Plan(new AutoClipNetBinaryTrainer.Options(), BinaryTask.Instance).MayBeEnsemble, "the default may be an ensemble: rows keep their positions");
        Assert.IsFalse(Recipe.Plan(new AutoClipNetBinaryTrainer.Options { EnsembleSize = 1 }, BinaryTask.Instance).MayBeEnsemble);

        var ml = new MLContext(seed: 0);
        var small = TestData.Featurized(ml, BundledData.BreastCancerSet, 569);
        var model = (BinaryPredictionTransformer<Calibrators.CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, Calibrators.PlattCalibrator>>)
            ml.BinaryClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetBinaryTrainer.Options(), epochs: 2)).Fit(small);
        var network = model.Model.SubModel;
        Assert.AreEqual(5, network.EnsembleSize);
        Assert.HasCount(5, network.MemberTrainingHistories);
        Assert.AreSame(network.TrainingHistory, network.MemberTrainingHistories[0]);
        // Each member held out its own fifth: together every row once.
        Assert.AreEqual(569L, network.MemberTrainingHistories.Sum(h => h.ValidationRows));
        Assert.IsTrue(network.MemberTrainingHistories.All(h => h.TrainingRows + h.ValidationRows == 569));
        StringAssert.Contains(network.Layers, "ensemble of 5");
    }

    [TestMethod]
    public void An_ensemble_of_one_trains_the_single_network_of_format_2_3_to_float_rounding()
    {
        // The format-2.3 fixture binary-tanh-32-16 (test/Fixtures/format-2.3/Generator.cs.txt), trained again with EnsembleSize = 1:
        // a single network trains as before ensembles existed. The outputs were the same bits until the training step's
        // feature transform, embeddings' sine and cosine and SELU moved from LibTorch calls to managed kernels, which round
        // a few values differently in the last bit; the trained model's scores moved by at most 3e-8.
        string directory = Path.Combine(TestData.RepoRoot, "test", "Fixtures", "format-2.3");
        var ml = new MLContext(seed: 0);
        var cancer = File.ReadLines(TestData.PathOf("breast-cancer.csv")).Skip(1)
            .Select(l => l.Split(',').Select(f => f.Trim('"')).ToArray())
            .Select(f => new FixtureFiles.CancerRow { Features = f.Take(30).Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray() })
            .ToArray();
        var labels = File.ReadLines(TestData.PathOf("breast-cancer.csv")).Skip(1).Select(l => l.Split(',')[30].Trim('"') == "malignant").ToArray();
        var data = ml.Data.LoadFromEnumerable(cancer.Select((r, i) => new LabeledCancerRow { Features = r.Features, Label = labels[i] }));
        var model = ml.BinaryClassification.Trainers.AutoClipNet(new AutoClipNetBinaryTrainer.Options
        {
            NumberOfEpochs = 5, HiddenLayerSizes = new[] { 32, 16 }, Activation = AutoClipNetActivation.Tanh, Seed = 5, ValidationFraction = 0.2,
            HistoryDetail = AutoClipNetHistoryDetail.Summary, EnsembleSize = 1,
        }).Fit(data);
        var rows = ml.Data.LoadFromTextFile(Path.Combine(directory, "breast-cancer-rows.csv"), new[] { new TextLoader.Column("Features", DataKind.Single, 0, 29) }, separatorChar: ',');
        var values = new List<float>();
        foreach (var s in ml.Data.CreateEnumerable<FixtureFiles.BinaryOutput>(model.Transform(rows), reuseRowObject: false))
        {
            values.AddRange(new[] { s.Score, s.Probability, s.PredictedLabel ? 1f : 0f });
        }
        byte[] bytes = File.ReadAllBytes(Path.Combine(directory, "binary-tanh-32-16.transform.bin"));
        var expected = Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray();
        Assert.AreEqual(expected.Length, values.Count);
        for (int i = 0; i < expected.Length; i += 3)
        {
            // Score, probability: within float rounding (2.6e-8 at most here); the predicted label the same.
            Assert.AreEqual(expected[i], values[i], 1e-6f * (1 + Math.Abs(expected[i])), $"row {i / 3}: score");
            Assert.AreEqual(expected[i + 1], values[i + 1], 1e-6f, $"row {i / 3}: probability");
            Assert.AreEqual(expected[i + 2], values[i + 2], $"row {i / 3}: predicted label");
        }
    }

    public sealed class LabeledCancerRow
    {
        [VectorType(30)] public float[] Features { get; set; } = Array.Empty<float>();
        public bool Label { get; set; }
    }

    [TestMethod]
    [DataRow("regression")]
    [DataRow("binary")]
    [DataRow("multiclass")]
    public void Saved_and_loaded_an_ensemble_keeps_every_member_and_history_and_scores_the_same_bytes(string task)
    {
        var fixture = TaskFixture.ByName(task);
        var ml = new MLContext(seed: 0);
        var raw = TestData.Raw(ml, fixture.DataSet, 900);
        var pipeline = BundledData.Featurizer(ml, fixture.DataSet).Append(fixture.QuickTrainer(ml, epochs: 3, change: o =>
        {
            o.EnsembleSize = 3;
            o.HistoryDetail = AutoClipNetHistoryDetail.EveryStep;
        })).Fit(raw);
        string path = Path.Combine(Path.GetTempPath(), $"autoclipnet-ensemble-{task}-{Environment.ProcessId}.zip");
        try
        {
            ml.Model.Save(pipeline, raw.Schema, path);
            var loaded = new MLContext().Model.Load(path, out _);
            CollectionAssert.AreEqual(Outputs.Bytes(pipeline.Transform(raw), fixture.OutputColumns), Outputs.Bytes(loaded.Transform(raw), fixture.OutputColumns));
            var before = fixture.ModelOf(pipeline);
            var after = fixture.ModelOf(loaded);
            Assert.AreEqual(3, after.EnsembleSize);
            Assert.AreEqual(before.Layers, after.Layers);
            Assert.AreEqual(before.ParameterCount, after.ParameterCount);
            Assert.HasCount(3, after.MemberTrainingHistories);
            for (int m = 0; m < 3; m++)
            {
                var h0 = before.MemberTrainingHistories[m];
                var h1 = after.MemberTrainingHistories[m];
                CollectionAssert.AreEqual(h0.Steps.ToArray(), h1.Steps.ToArray(), $"member {m}: steps");
                CollectionAssert.AreEqual(h0.Epochs.ToArray(), h1.Epochs.ToArray(), $"member {m}: epochs");
                Assert.AreEqual((h0.BestEpoch, h0.TrainingRows, h0.ValidationRows, h0.StepCount, h0.ClippedStepCount), (h1.BestEpoch, h1.TrainingRows, h1.ValidationRows, h1.StepCount, h1.ClippedStepCount));
            }
            // The members differ (their own initialisation, shuffling and held-out rows), and so do their histories (not at the
            // first step: the output layer starts at zero, so every member's first loss is the same).
            CollectionAssert.AreNotEqual(before.MemberTrainingHistories[0].Steps.Select(s => s.Loss).ToArray(), before.MemberTrainingHistories[1].Steps.Select(s => s.Loss).ToArray());
            Assert.AreEqual(before.AutoClipState!.Threshold, after.AutoClipState!.Threshold, "the first member's AutoClip state");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    [DataRow("regression")]
    [DataRow("binary")]
    [DataRow("multiclass")]
    public void Members_trained_side_by_side_or_one_after_the_other_give_the_same_bytes(string task)
    {
        // DOTNET_PROCESSOR_COUNT=1 makes the child train the members one after the other, on the calling thread with
        // LibTorch's usual threads; otherwise two at a time, each with one LibTorch thread.
        string directory = Directory.CreateTempSubdirectory($"autoclipnet-ensemble-threads-{task}").FullName;
        try
        {
            string one = Path.Combine(directory, "one.bin"), two = Path.Combine(directory, "two.bin");
            Processes.Run(AppContext.BaseDirectory, "dotnet", new[] { typeof(ChildProcess).Assembly.Location, "train", task, "1500", "7", one }, out _,
                environment: new Dictionary<string, string> { ["DOTNET_PROCESSOR_COUNT"] = "1" });
            Processes.Run(AppContext.BaseDirectory, "dotnet", new[] { typeof(ChildProcess).Assembly.Location, "train", task, "1500", "7", two }, out _,
                environment: new Dictionary<string, string> { ["DOTNET_PROCESSOR_COUNT"] = "2" });
            CollectionAssert.AreEqual(File.ReadAllBytes(one), File.ReadAllBytes(two));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void A_member_that_fails_fails_the_fit_and_leaves_LibTorch_threads_as_they_were()
    {
        int before = TorchSharp.torch.get_num_threads();
        var ml = new MLContext(seed: 0);
        var data = TestData.Featurized(ml, BundledData.DiamondsSet, 800);
        // The label not standardized and a huge learning rate with no clipping: the members diverge.
        var options = TestOptions.Quick(new AutoClipNetTrainer.Options { EnsembleSize = 4, StandardizeLabel = false, LearningRate = 1e6, Clipping = AutoClipNetClipping.None }, epochs: 3);
        var error = Assert.Throws<InvalidOperationException>(() => ml.Regression.Trainers.AutoClipNet(options).Fit(data));
        StringAssert.Contains(error.Message, "diverged");
        Assert.AreEqual(before, TorchSharp.torch.get_num_threads());
    }
}
