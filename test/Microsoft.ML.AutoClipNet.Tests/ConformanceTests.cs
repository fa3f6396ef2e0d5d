using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// What every AutoClipNet trainer must do, whatever its task: ML.NET's estimator checks, persistence in
/// a fresh process, determinism, evaluation tools, concurrency, progress and cancellation, streaming,
/// validation, bad input and bad options, corrupt models. Each task's test class derives from this one
/// with its <see cref="TaskFixture"/> (real data, the task's outputs and metric).
/// </summary>
public abstract class ConformanceTests
{
    private const int Rows = 3000;

    private sealed class Shared
    {
        public required MLContext Ml { get; init; }
        public required IDataView Raw { get; init; }
        public required IDataView Featurized { get; init; }
        public required ITransformer Pipeline { get; init; }
        public required ITransformer Model { get; init; }
        public required string Directory { get; init; }
    }

    private static readonly ConcurrentDictionary<string, Shared> SharedState = new();

    private protected ConformanceTests(TaskFixture fixture) => Fixture = fixture;

    private protected TaskFixture Fixture { get; }

    /// <summary>Real rows of the task's data set and a pipeline (featurizer + quick AutoClipNet) trained once for the whole class.</summary>
    private Shared State => SharedState.GetOrAdd(Fixture.Name, _ =>
    {
        var ml = new MLContext(seed: 0);
        var raw = TestData.Raw(ml, Fixture.DataSet, Rows, seed: 5);
        var featurizer = BundledData.Featurizer(ml, Fixture.DataSet).Fit(raw);
        var featurized = ml.Data.Cache(featurizer.Transform(raw));
        // Every step and the AutoClip state kept, so that the model tests (and the changed-byte test) cover all of them.
        var pipeline = BundledData.Featurizer(ml, Fixture.DataSet)
            .Append(Fixture.QuickTrainer(ml, epochs: 5, change: o => o.HistoryDetail = AutoClipNetHistoryDetail.EveryStep)).Fit(raw);
        return new Shared
        {
            Ml = ml,
            Raw = raw,
            Featurized = featurized,
            Pipeline = pipeline,
            Model = TaskFixture.PredictionTransformer(pipeline),
            Directory = System.IO.Directory.CreateTempSubdirectory($"autoclipnet-{Fixture.Name}").FullName,
        };
    });

    private MLContext Ml => State.Ml;

    private string Save(ITransformer model, string name)
    {
        string path = Path.Combine(State.Directory, name);
        Ml.Model.Save(model, State.Raw.Schema, path);
        return path;
    }

    private byte[] OutputBytes(ITransformer model, IDataView data) => Outputs.Bytes(model.Transform(data), Fixture.OutputColumns);

    // ------------------------------------------------------------------ ML.NET's estimator checks

    [TestMethod]
    public void Passes_the_checks_ML_NET_runs_on_every_estimator()
    {
        // A port of TestEstimatorCore (dotnet/machinelearning test/Microsoft.ML.TestFramework/DataPipe/TestDataPipeBase.cs).
        var estimator = Fixture.QuickTrainer(Ml, epochs: 1);
        var valid = State.Featurized;
        var invalid = Ml.Transforms.Concatenate("Features", "Features", "Features").Fit(valid).Transform(valid); // twice the width
        var noLabel = Ml.Transforms.DropColumns("Label").Fit(valid).Transform(valid);

        // Schema propagation: the estimator announces the task's columns.
        var shape = estimator.GetOutputSchema(Shapes.Of(valid.Schema));
        foreach (string column in Fixture.OutputColumns)
        {
            Assert.IsTrue(shape.Any(c => c.Name == column), $"the estimator does not announce '{column}'");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => estimator.GetOutputSchema(Shapes.Of(noLabel.Schema)));
        Assert.Throws<ArgumentOutOfRangeException>(() => estimator.Fit(noLabel));

        var transformer = estimator.Fit(valid);
        Assert.IsTrue(transformer.IsRowToRowMapper);
        string path = Path.Combine(State.Directory, "estimator-checks.zip");
        Ml.Model.Save(transformer, valid.Schema, path);
        var loaded = Ml.Model.Load(path, out var loadedInputSchema);

        var schema = transformer.GetOutputSchema(valid.Schema);
        var mapper = transformer.GetRowToRowMapper(valid.Schema);
        Assert.AreSame(valid.Schema, mapper.InputSchema);
        AssertSameSchemas(schema, mapper.OutputSchema);
        AssertSameSchemas(schema, loaded.GetOutputSchema(valid.Schema));
        AssertSameSchemas(valid.Schema, loadedInputSchema);

        var scored = transformer.Transform(valid);
        var scoredByLoaded = loaded.Transform(valid);
        AssertSameSchemas(schema, scored.Schema);
        AssertSameSchemas(scored.Schema, scoredByLoaded.Schema);
        CollectionAssert.AreEqual(Outputs.Bytes(scored, Fixture.OutputColumns), Outputs.Bytes(scoredByLoaded, Fixture.OutputColumns));

        // A feature column of the wrong width fails on every path (AutoClipNet's regression transformer and ML.NET's classification ones say so differently).
        Assert.Throws<Exception>(() => transformer.GetOutputSchema(invalid.Schema));
        Assert.Throws<Exception>(() => transformer.Transform(invalid));
        Assert.Throws<Exception>(() => loaded.GetOutputSchema(invalid.Schema));
        Assert.Throws<Exception>(() => loaded.Transform(invalid));

        // Estimator and transformer agree on the output schema.
        var fromTransformer = Shapes.Of(transformer.GetOutputSchema(valid.Schema));
        foreach (var column in shape)
        {
            var other = fromTransformer.Single(c => c.Name == column.Name);
            Assert.AreEqual(column.Kind, other.Kind, column.Name);
            Assert.AreEqual(column.ItemType, other.ItemType, column.Name);
        }
    }

    internal static void AssertSameSchemas(DataViewSchema expected, DataViewSchema actual)
    {
        Assert.AreEqual(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.AreEqual(expected[i].Name, actual[i].Name);
            Assert.AreEqual(expected[i].Type, actual[i].Type, expected[i].Name);
            Assert.AreEqual(expected[i].IsHidden, actual[i].IsHidden, expected[i].Name);
            CollectionAssert.AreEqual(expected[i].Annotations.Schema.Select(a => a.Name).ToArray(), actual[i].Annotations.Schema.Select(a => a.Name).ToArray(), expected[i].Name);
        }
    }

    // ------------------------------------------------------------------ persistence and determinism

    [TestMethod]
    public void A_fresh_process_loads_the_zip_with_no_registration_call_and_predicts_bit_identically()
    {
        string path = Save(State.Pipeline, "fresh-process.zip");
        byte[] expected = ChildProcess.Scores(Ml, State.Pipeline, Fixture.Name);
        string output = Path.Combine(State.Directory, "fresh-process.bin");

        string log = ChildProcess.Run("load", path, Fixture.Name, output);

        StringAssert.Contains(log, "autoclipnet-loaded-before=False");
        StringAssert.Contains(log, "last transformer " + Fixture.TransformerType.FullName);
        CollectionAssert.AreEqual(expected, File.ReadAllBytes(output));
    }

    [TestMethod]
    public void Two_processes_train_bit_identical_models_and_so_does_this_one()
    {
        string first = Path.Combine(State.Directory, "train-1.bin"), second = Path.Combine(State.Directory, "train-2.bin");
        ChildProcess.Run("train", Fixture.Name, "1200", "42", first);
        ChildProcess.RunPerturbed(3, "train", Fixture.Name, "1200", "42", second);
        CollectionAssert.AreEqual(File.ReadAllBytes(first), File.ReadAllBytes(second));

        var ml = new MLContext(seed: 0);
        var raw = TestData.Raw(ml, Fixture.DataSet, 1200);
        var pipeline = BundledData.Featurizer(ml, Fixture.DataSet).Append(Fixture.QuickTrainer(ml, epochs: 2, seed: 42)).Fit(raw);
        CollectionAssert.AreEqual(File.ReadAllBytes(first), Fingerprint.Of(ml, pipeline, Fixture.Name));

        // Another seed gives another model.
        var other = BundledData.Featurizer(ml, Fixture.DataSet).Append(Fixture.QuickTrainer(ml, epochs: 2, seed: 43)).Fit(raw);
        CollectionAssert.AreNotEqual(File.ReadAllBytes(first), Fingerprint.Of(ml, other, Fixture.Name));
    }

    [TestMethod]
    public void Without_a_seed_the_MLContext_seed_decides()
    {
        float[] Train(int contextSeed)
        {
            var ml = new MLContext(seed: contextSeed);
            var data = TestData.Featurized(ml, Fixture.DataSet, 800);
            var model = Fixture.QuickTrainer(ml, epochs: 1, change: o => o.Seed = null).Fit(data);
            return NetworkValues.Of(Fixture.ModelOf(model).NetworkLayers);
        }
        CollectionAssert.AreEqual(Train(5), Train(5));
        CollectionAssert.AreNotEqual(Train(5), Train(6));
    }

    [TestMethod]
    public void A_loaded_model_is_the_typed_transformer_with_the_same_network_history_and_AutoClip_state()
    {
        string path = Save(State.Pipeline, "typed.zip");
        var loaded = (TransformerChain<ITransformer>)new MLContext().Model.Load(path, out _);
        Assert.IsInstanceOfType(loaded.LastTransformer, Fixture.TransformerType);
        var model = Fixture.ModelOf(loaded);
        var original = Fixture.ModelOf(State.Pipeline);

        Assert.AreEqual(original.FeatureCount, model.FeatureCount);
        Assert.AreEqual(original.Layers, model.Layers);
        CollectionAssert.AreEqual(NetworkValues.Of(original.NetworkLayers), NetworkValues.Of(model.NetworkLayers), "every value of every layer and member");
        Assert.AreEqual(original.FeatureScaling, model.FeatureScaling);
        CollectionAssert.AreEqual(original.FeatureCenters.ToArray(), model.FeatureCenters.ToArray());
        CollectionAssert.AreEqual(original.TrainingHistory.Steps.ToArray(), model.TrainingHistory.Steps.ToArray());
        CollectionAssert.AreEqual(original.TrainingHistory.Epochs.ToArray(), model.TrainingHistory.Epochs.ToArray());
        Assert.AreEqual(original.TrainingHistory.TrainingRows, model.TrainingHistory.TrainingRows);
        Assert.AreEqual(original.TrainingHistory.BestEpoch, model.TrainingHistory.BestEpoch);
        CollectionAssert.AreEqual(original.AutoClipState!.History.ToArray(), model.AutoClipState!.History.ToArray());
        Assert.AreEqual(original.AutoClipState.Threshold, model.AutoClipState.Threshold);
        CollectionAssert.AreEqual(OutputBytes(State.Pipeline, State.Raw), OutputBytes(loaded, State.Raw));

        // Saved again, it is the same model.
        string again = Path.Combine(State.Directory, "typed-again.zip");
        new MLContext().Model.Save(loaded, State.Raw.Schema, again);
        CollectionAssert.AreEqual(OutputBytes(State.Pipeline, State.Raw), OutputBytes(new MLContext().Model.Load(again, out _), State.Raw));
    }

    // ------------------------------------------------------------------ ML.NET's evaluation tools

    [TestMethod]
    public void Evaluate_PredictionEngine_and_Transform_agree_on_held_out_rows()
    {
        var ml = Ml;
        var held = ml.Data.Cache(TestData.Raw(ml, Fixture.DataSet, 1500, seed: 11));
        double quality = Fixture.Quality(ml, State.Pipeline.Transform(held));
        Console.WriteLine($"{Fixture.Name}: held-out quality {quality:F4}");
        Assert.IsGreaterThan(Fixture.MinimumQuality, quality);

        var featurized = BundledData.Featurizer(ml, Fixture.DataSet).Fit(State.Raw).Transform(held);
        byte[] batched = OutputBytes(State.Model, featurized);
        byte[] single = Fixture.EngineBytes(ml, State.Model, featurized);
        if (Fixture.TransformIsManaged)
        {
            // Transform and PredictionEngine run the same managed code: the same bits.
            CollectionAssert.AreEqual(batched, single);
        }
        else
        {
            // Transform scores batches with LibTorch, PredictionEngine single rows in managed code: float rounding apart.
            float[] a = Outputs.Floats(batched), b = Outputs.Floats(single);
            float scale = Math.Max(1f, a.Max(Math.Abs));
            for (int i = 0; i < a.Length; i++)
            {
                Assert.AreEqual(a[i], b[i], 1e-5f * scale, $"row {i}");
            }
        }
    }

    [TestMethod]
    public void CrossValidate_works()
    {
        var options = TestOptions.Quick(Fixture.NewOptions(), epochs: 4);
        double[] folds = Fixture.CrossValidate(Ml, State.Featurized, options, folds: 3);
        Assert.HasCount(3, folds);
        foreach (double quality in folds)
        {
            Assert.IsGreaterThan(Fixture.MinimumQuality - 0.05, quality, $"{Fixture.Name}: folds {string.Join(", ", folds)}");
        }
    }

    [TestMethod]
    public void PermutationFeatureImportance_finds_features_that_matter()
    {
        double[] drop = Fixture.PermutationImportance(Ml, State.Model, State.Featurized);
        int features = ((VectorDataViewType)State.Featurized.Schema["Features"].Type).Size;
        Assert.HasCount(features, drop);
        Console.WriteLine($"{Fixture.Name}: largest metric drops {string.Join(", ", drop.OrderDescending().Take(3).Select(d => d.ToString("F4")))}");
        Assert.IsGreaterThan(Fixture.MinimumImportance, drop.Max(), "permuting the most important feature must hurt the metric");
    }

    [TestMethod]
    public void One_transformer_serves_several_threads_at_once()
    {
        byte[] expected = OutputBytes(State.Pipeline, State.Raw);
        var featurized = State.Featurized;
        byte[] engineExpected = Fixture.EngineBytes(Ml, State.Model, Ml.Data.TakeRows(featurized, 200));
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            if (i % 2 == 0)
            {
                CollectionAssert.AreEqual(expected, OutputBytes(State.Pipeline, State.Raw), $"Transform on thread {i}");
            }
            else
            {
                CollectionAssert.AreEqual(engineExpected, Fixture.EngineBytes(Ml, State.Model, Ml.Data.TakeRows(featurized, 200)), $"PredictionEngine on thread {i}");
            }
        });
    }

    // ------------------------------------------------------------------ training

    [TestMethod]
    public void The_model_exposes_its_architecture_history_and_AutoClip_state()
    {
        var data = Ml.Data.TakeRows(State.Featurized, 2000);
        // The previous network (Mlp): its parameters are the dense layers' alone, and it holds no rows out.
        var model = Fixture.ModelOf(Fixture.QuickTrainer(Ml, epochs: 3, change: o =>
        {
            o.Architecture = AutoClipNetArchitecture.Mlp;
            o.HiddenLayerSizes = new[] { 8, 4 };
            o.BatchSize = 100;
            o.HistoryDetail = AutoClipNetHistoryDetail.EveryStep;
        }).Fit(data));
        int f = ((VectorDataViewType)data.Schema["Features"].Type).Size;
        var dense = model.NetworkLayers.Where(l => l.Kind == AutoClipNetLayerKind.Dense).ToArray();
        int outputs = dense[2].OutputSize;
        CollectionAssert.AreEqual(new[] { 8, 4, outputs }, dense.Select(d => d.OutputSize).ToArray());
        CollectionAssert.AreEqual(new[] { AutoClipNetLayerKind.MissingValues, AutoClipNetLayerKind.FeatureTransform, AutoClipNetLayerKind.Dense, AutoClipNetLayerKind.Activation,
            AutoClipNetLayerKind.Dense, AutoClipNetLayerKind.Activation, AutoClipNetLayerKind.Dense }, model.NetworkLayers.Select(l => l.Kind).ToArray());
        Assert.AreEqual(AutoClipNetActivation.ReLU, model.NetworkLayers[3].Activation);
        Assert.AreEqual(AutoClipNetFeatureScaling.Standardize, model.FeatureScaling);
        Assert.AreEqual(f, model.FeatureCount);
        Assert.AreEqual(f * 8 + 8 + 8 * 4 + 4 + 4 * outputs + outputs, model.ParameterCount);
        CollectionAssert.AreEqual(new long[] { 8, f }, dense[0].GetShape("weight").ToArray());
        Assert.HasCount(8 * f, dense[0].GetValues("weight"));
        CollectionAssert.AreEqual(new[] { "weight", "bias" }, dense[0].ValueNames.ToArray());
#pragma warning disable CS0618 // the members kept for users' code: the first member's dense layers, as before
        CollectionAssert.AreEqual(new[] { 8, 4 }, model.HiddenLayerSizes.ToArray());
        CollectionAssert.AreEqual(dense[1].GetValues("weight"), model.GetWeights(1));
        CollectionAssert.AreEqual(dense[2].GetValues("bias"), model.GetBiases(2));
        Assert.AreEqual(AutoClipNetActivation.ReLU, model.Activation);
        CollectionAssert.AreEqual(model.FeatureCenters.ToArray(), model.FeatureMeans.ToArray());
#pragma warning restore CS0618

        var history = model.TrainingHistory;
        Assert.HasCount(3 * 20, history.Steps); // 2000 rows / 100 per step × 3 epochs
        Assert.HasCount(3, history.Epochs);
        Assert.AreEqual(2000, history.TrainingRows);
        Assert.IsTrue(history.Steps.Select(s => s.Step).SequenceEqual(Enumerable.Range(1, 60).Select(i => (long)i)));
        Assert.IsTrue(history.Steps.All(s => s.GradientNorm > 0 && s.Threshold > 0 && s.Scale is > 0 and <= 1 && !s.Skipped));
        Assert.IsFalse(history.Steps[0].Clipped, "the first step is never clipped");
        Assert.IsTrue(history.Steps.Any(s => s.Clipped));
        Assert.IsTrue(history.Epochs.All(e => double.IsFinite(e.TrainingLoss) && double.IsNaN(e.ValidationLoss)));
        Assert.IsLessThan(history.Epochs[0].TrainingLoss, history.Epochs[^1].TrainingLoss);

        var state = model.AutoClipState!;
        Assert.AreEqual(60, state.RecordedSteps);
        Assert.AreEqual(10, state.Options.Percentile);
        Assert.AreEqual(history.Steps[^1].Threshold, state.Threshold);
        Assert.AreEqual(NumPyPercentile(history.Steps.Select(s => s.GradientNorm), 10), state.Threshold, 0.0);
    }

    /// <summary>numpy.percentile(values, p) with linear interpolation (NumPy's _lerp).</summary>
    private static double NumPyPercentile(IEnumerable<double> values, double p)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        double index = (sorted.Length - 1) * p / 100;
        int below = (int)Math.Floor(index);
        int above = (int)Math.Ceiling(index);
        double t = index - below;
        double a = sorted[below], b = sorted[above];
        double d = b - a;
        return t >= 0.5 ? b - d * (1 - t) : a + d * t;
    }

    [TestMethod]
    public void Progress_is_logged_per_epoch_and_CancelExecution_stops_training_promptly()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.Featurized(ml, Fixture.DataSet, 3000);
        var epochs = new ConcurrentQueue<string>();
        var watch = new Stopwatch();
        ml.Log += (_, e) =>
        {
            if (e.Message.Contains("Epoch ", StringComparison.Ordinal) && e.Source.Contains("AutoClipNet", StringComparison.Ordinal))
            {
                epochs.Enqueue(e.RawMessage);
                if (epochs.Count == 2)
                {
                    watch.Start();
                    ml.CancelExecution();
                }
            }
        };
        var trainer = Fixture.QuickTrainer(ml, epochs: 10_000);
        Assert.ThrowsExactly<OperationCanceledException>(() => trainer.Fit(data));
        watch.Stop();
        // 3,000 rows: an ensemble, whose members train two at a time; the other member may finish the epoch it is in.
        Assert.IsTrue(epochs.Count is 2 or 3, string.Join("\n", epochs));
        StringAssert.Matches(epochs.First(), new System.Text.RegularExpressions.Regex("^Member [12]/5: Epoch 1/10000: training loss"));
        Assert.IsLessThan(2000, watch.ElapsedMilliseconds, "cancellation must not wait for the end of an epoch");
    }

    [TestMethod]
    public void Streaming_past_MaxRowsInMemory_learns_as_well_and_is_deterministic()
    {
        var split = Ml.Data.TrainTestSplit(State.Featurized, 0.25, seed: 2);
        ITransformer Train(int maxRows, double validation = 0) => Fixture.QuickTrainer(Ml, epochs: 8, change: o =>
        {
            o.MaxRowsInMemory = maxRows;
            o.ShufflePoolSize = 1024;
            o.ValidationFraction = validation;
        }).Fit(split.TrainSet);

        var packed = Train(1_000_000);
        var streamed = Train(500);
        double packedQuality = Fixture.Quality(Ml, packed.Transform(split.TestSet));
        double streamedQuality = Fixture.Quality(Ml, streamed.Transform(split.TestSet));
        Console.WriteLine($"{Fixture.Name}: packed {packedQuality:F4}, streamed {streamedQuality:F4}");
        var p = Fixture.ModelOf(packed);
        var s = Fixture.ModelOf(streamed);
        Assert.AreEqual(p.TrainingHistory.Steps.Count, s.TrainingHistory.Steps.Count);
        Assert.AreEqual(packedQuality, streamedQuality, 0.05);
        // The preprocessing statistics are the same whichever way the rows were read.
        CollectionAssert.AreEqual(p.FeatureCenters.ToArray(), s.FeatureCenters.ToArray());
        CollectionAssert.AreEqual(p.FeatureScales.ToArray(), s.FeatureScales.ToArray());
        // Streaming is deterministic too.
        CollectionAssert.AreEqual(OutputBytes(streamed, split.TestSet), OutputBytes(Train(500), split.TestSet));

        // A validation fraction holds out the same rows whether the data is packed or streamed.
        var packedValidated = Fixture.ModelOf(Train(1_000_000, 0.25)).TrainingHistory;
        var streamedValidated = Fixture.ModelOf(Train(500, 0.25)).TrainingHistory;
        Assert.AreEqual(packedValidated.ValidationRows, streamedValidated.ValidationRows);
        Assert.AreEqual(p.TrainingHistory.TrainingRows, streamedValidated.TrainingRows + streamedValidated.ValidationRows);
        Assert.IsTrue(streamedValidated.ValidationRows is > 400 and < 730, $"{streamedValidated.ValidationRows} of about 2250 rows held out");
        Assert.IsTrue(streamedValidated.Epochs.All(e => double.IsFinite(e.ValidationLoss)));
    }

    [TestMethod]
    [DataRow(AutoClipNetEpochSelection.ValidationLoss)]
    [DataRow(AutoClipNetEpochSelection.ValidationError)]
    public void A_validation_fraction_records_validation_metrics_keeps_the_best_epoch_and_stops_early(AutoClipNetEpochSelection selection)
    {
        var model = Fixture.ModelOf(Fixture.QuickTrainer(Ml, epochs: 60, change: o =>
        {
            o.ValidationFraction = 0.2;
            o.EarlyStoppingPatience = 3;
            o.EpochSelection = selection;
            o.LearningRateSchedule = AutoClipNetLearningRateSchedule.Constant;
            o.LearningRate = 0.05; // fast enough to overfit and stop early
        }).Fit(State.Featurized));
        var history = model.TrainingHistory;
        Assert.AreEqual(3000, history.TrainingRows + history.ValidationRows);
        Assert.IsTrue(history.ValidationRows is > 500 and < 700, $"{history.ValidationRows} rows held out");
        Assert.IsTrue(history.Epochs.All(e => double.IsFinite(e.ValidationLoss) && double.IsFinite(e.ValidationError)));
        Func<AutoClipNetEpoch, double> metric = selection == AutoClipNetEpochSelection.ValidationLoss ? e => e.ValidationLoss : e => e.ValidationError;
        var values = history.Epochs.Select(metric).ToArray();
        double best = values.Min();
        Assert.AreEqual(best, values[history.BestEpoch - 1]);
        // The loss keeps the first best epoch; the error, which often ties, the last one.
        int expected = selection == AutoClipNetEpochSelection.ValidationLoss ? Array.IndexOf(values, best) + 1 : Array.LastIndexOf(values, best) + 1;
        Assert.AreEqual(expected, history.BestEpoch);
        Assert.IsLessThan(60, history.Epochs.Count, "early stopping should end a 60-epoch run at lr 0.05");
        Assert.AreEqual(history.BestEpoch + 3, history.Epochs.Count);
    }

    [TestMethod]
    public void An_explicit_validation_set_is_used_through_Fit_train_validation()
    {
        var split = Ml.Data.TrainTestSplit(State.Featurized, 0.3, seed: 4);
        var model = Fixture.ModelOf(Fixture.Fit(Ml, TestOptions.Quick(Fixture.NewOptions(), epochs: 3), split.TrainSet, split.TestSet));
        long expected = Ml.Data.CreateEnumerable<Label>(split.TestSet, false, true).Count();
        Assert.AreEqual(expected, model.TrainingHistory.ValidationRows);
        Assert.IsTrue(model.TrainingHistory.Epochs.All(e => double.IsFinite(e.ValidationLoss)));
    }

    private sealed class Label
    {
        public float Dummy { get; set; }
    }

    [TestMethod]
    public void Training_leaves_no_TorchSharp_tensor_alive()
    {
        var data = Ml.Data.TakeRows(State.Featurized, 1000);
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var model = Fixture.QuickTrainer(Ml, epochs: 2, change: o => { o.DiagnosticsInterval = 3; o.ValidationFraction = 0.2; }).Fit(data);
        Assert.IsNotEmpty(Fixture.ModelOf(model).TrainingHistory.Diagnostics);
        (model as IDisposable)?.Dispose();
        Assert.AreEqual(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    // ------------------------------------------------------------------ bad input

    private Exception FitFails(IDataView data, Action<AutoClipNetOptionsBase>? change = null)
    {
        var trainer = Fixture.QuickTrainer(Ml, epochs: 1, change: change);
        try
        {
            trainer.Fit(data);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            Console.WriteLine(e.Message);
            return e;
        }
        Assert.Fail("Fit should have failed.");
        return null!;
    }

    [TestMethod]
    public void A_label_of_the_wrong_type_names_the_column_and_the_fix()
    {
        var wrong = Fixture.WithWrongLabelType(Ml, State.Featurized);
        string message = FitFails(wrong).Message;
        foreach (string part in Fixture.WrongLabelMessage)
        {
            StringAssert.Contains(message, part);
        }
        // The estimator's schema check says so before any training, too.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Fixture.QuickTrainer(Ml).GetOutputSchema(Shapes.Of(wrong.Schema)));
        StringAssert.Contains(e.Message, "Label");
    }

    [TestMethod]
    public void Missing_columns_are_named()
    {
        var noFeatures = Ml.Transforms.CopyColumns("Inputs", "Features").Append(Ml.Transforms.DropColumns("Features")).Fit(State.Featurized).Transform(State.Featurized);
        StringAssert.Contains(FitFails(noFeatures).Message, "'Features'");
        var renamed = Fixture.QuickTrainer(Ml, epochs: 1, change: o => o.FeatureColumnName = "Inputs");
        Assert.IsNotNull(renamed.Fit(Ml.Data.TakeRows(noFeatures, 100)));
        var noLabel = Ml.Transforms.DropColumns("Label").Fit(State.Featurized).Transform(State.Featurized);
        StringAssert.Contains(FitFails(noLabel).Message, "'Label'");
    }

    [TestMethod]
    public void NaN_features_are_missing_values_or_under_Error_name_the_row_and_slot_or_are_dropped_and_counted()
    {
        // Rows 17, 117 and 217 of 300 real rows get a NaN in slot 2.
        var data = WithNaN(Ml.Data.TakeRows(State.Featurized, 300), row => row % 100 == 17, slot: 2);
        var filled = Fixture.ModelOf(Fixture.QuickTrainer(Ml, epochs: 2).Fit(data));
        Assert.AreEqual(0, filled.TrainingHistory.DroppedRows);
        Assert.AreEqual(300, filled.TrainingHistory.TrainingRows + filled.TrainingHistory.ValidationRows);
        Assert.AreEqual(AutoClipNetLayerKind.MissingValues, filled.NetworkLayers[0].Kind);
        CollectionAssert.AreEqual(new[] { 2f }, filled.NetworkLayers[0].GetValues("indicated"), "slot 2 gains an indicator");
        Assert.IsTrue(NetworkValues.Of(filled.NetworkLayers).All(float.IsFinite));

        var feature = FitFails(data, o => o.MissingValues = AutoClipNetMissingValues.Error);
        StringAssert.Contains(feature.Message, "Row 17 of the training data");
        StringAssert.Contains(feature.Message, "column 'Features', slot 2, is NaN");
        StringAssert.Contains(feature.Message, "DropNonFiniteRows");

        var model = Fixture.ModelOf(Fixture.QuickTrainer(Ml, epochs: 2, change: o =>
        {
            o.MissingValues = AutoClipNetMissingValues.Error;
            o.DropNonFiniteRows = true;
        }).Fit(data));
        Assert.AreEqual(3, model.TrainingHistory.DroppedRows);
        Assert.AreEqual(297, model.TrainingHistory.TrainingRows + model.TrainingHistory.ValidationRows);
        Assert.IsTrue(NetworkValues.Of(model.NetworkLayers).All(float.IsFinite));
    }

    /// <summary>The Label and Features of <paramref name="data"/>, with NaN in one slot of the chosen rows.</summary>
    private IDataView WithNaN(IDataView data, Func<int, bool> poison, int slot)
    {
        int f = ((VectorDataViewType)data.Schema["Features"].Type).Size;
        var features = data.GetColumn<float[]>("Features").ToArray();
        for (int row = 0; row < features.Length; row++)
        {
            if (poison(row))
            {
                features[row][slot] = float.NaN;
            }
        }
        var labelType = data.Schema["Label"].Type;
        return labelType switch
        {
            _ when labelType == NumberDataViewType.Single => Pair(data.GetColumn<float>("Label").ToArray(), features, f, null),
            _ when labelType == BooleanDataViewType.Instance => Pair(data.GetColumn<bool>("Label").ToArray(), features, f, null),
            KeyDataViewType key => Pair(data.GetColumn<uint>("Label").ToArray(), features, f, key),
            _ => throw new ArgumentException($"label of type {labelType}"),
        };
    }

    private IDataView Pair<T>(T[] labels, float[][] features, int width, DataViewType? labelType)
    {
        var rows = labels.Select((l, i) => new LabeledRow<T> { Label = l, Features = features[i] }).ToArray();
        var definition = SchemaDefinition.Create(typeof(LabeledRow<T>));
        definition["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, width);
        if (labelType is not null)
        {
            definition["Label"].ColumnType = labelType;
        }
        return Ml.Data.LoadFromEnumerable(rows, definition);
    }

    public sealed class LabeledRow<T>
    {
        public T Label { get; set; } = default!;

        public float[] Features { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void Empty_data_is_refused()
    {
        var empty = Ml.Data.SkipRows(State.Featurized, 1_000_000);
        StringAssert.Contains(FitFails(empty).Message, "The training data has no rows");
    }

    [TestMethod]
    public void A_feature_width_different_from_training_is_refused_by_Transform_and_PredictionEngine()
    {
        var wide = Ml.Transforms.Concatenate("Features", "Features", "Features").Fit(State.Featurized).Transform(State.Featurized);
        int width = ((VectorDataViewType)State.Featurized.Schema["Features"].Type).Size;
        var e = Assert.Throws<Exception>(() => State.Model.Transform(wide));
        Console.WriteLine(e.Message);
        StringAssert.Contains(e.Message, $"Vector<Single, {2 * width}>");
        StringAssert.Contains(e.Message, $"Vector<Single, {width}>");
        var definition = SchemaDefinition.Create(typeof(TaskFixture.FeatureRow));
        definition["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3);
        var engine = Assert.Throws<Exception>(() => Ml.Model.CreatePredictionEngine<TaskFixture.FeatureRow, TaskFixture.ScoreRow>(State.Model, inputSchemaDefinition: definition));
        StringAssert.Contains(engine.Message, "Vector<Single, 3>");
    }

    [TestMethod]
    public void A_validation_set_of_another_width_is_refused()
    {
        var wide = Ml.Transforms.Concatenate("Features", "Features", "Features").Fit(State.Featurized).Transform(State.Featurized);
        var e = Assert.Throws<Exception>(() => Fixture.Fit(Ml, TestOptions.Quick(Fixture.NewOptions(), 1), State.Featurized, wide));
        StringAssert.Contains(e.Message, "validation data");
    }

    // ------------------------------------------------------------------ options

    [TestMethod]
    public void Every_invalid_option_is_rejected_with_its_name_and_value()
    {
        void Rejected(Action<AutoClipNetOptionsBase> change, string name, string value)
        {
            var options = Fixture.NewOptions();
            change(options);
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Fixture.Trainer(Ml, options));
            Assert.AreEqual(name, e.ParamName);
            StringAssert.Contains(e.Message, name);
            StringAssert.Contains(e.Message, value);
        }
        Rejected(o => o.Percentile = 101, "Percentile", "101");
        Rejected(o => o.HistoryWindow = 0, "HistoryWindow", "0");
        Rejected(o => o.WarmupSteps = -1, "WarmupSteps", "-1");
        Rejected(o => o.NumberOfEpochs = 0, "NumberOfEpochs", "0");
        Rejected(o => o.BatchSize = 0, "BatchSize", "0");
        Rejected(o => o.LearningRate = -0.1, "LearningRate", "-0.1");
        Rejected(o => o.LearningRate = double.NaN, "LearningRate", "NaN");
        Rejected(o => o.Momentum = 1, "Momentum", "1");
        Rejected(o => o.WeightDecay = -1, "WeightDecay", "-1");
        Rejected(o => o.HiddenLayerSizes = new[] { 8, 0 }, "HiddenLayerSizes", "{8, 0}");
        Rejected(o => o.ValidationFraction = 0.9, "ValidationFraction", "0.9");
        Rejected(o => o.FixedClipNorm = 0, "FixedClipNorm", "0");
        Rejected(o => o.LabelColumnName = " ", "LabelColumnName", " ");
        Rejected(o => o.Optimizer = (AutoClipNetOptimizer)9, "Optimizer", "9");
        Rejected(o => o.Activation = (AutoClipNetActivation)99, "Activation", "99");
    }

    [TestMethod]
    public void Both_catalog_overloads_share_the_defaults()
    {
        object fromArguments = Fixture.DefaultTrainerOptions(Ml);
        object fromOptions = Fixture.NewOptions();
        Assert.AreEqual(fromOptions.GetType(), fromArguments.GetType());
        foreach (var field in fromOptions.GetType().GetFields())
        {
            object? a = field.GetValue(fromArguments), b = field.GetValue(fromOptions);
            if (a is int[] arrayA)
            {
                CollectionAssert.AreEqual(arrayA, (int[])b!, field.Name);
            }
            else
            {
                Assert.AreEqual(b, a, field.Name);
            }
        }
        Assert.AreEqual(10.0, ((AutoClipNetOptionsBase)fromArguments).Percentile);
        Assert.IsNull(((AutoClipNetOptionsBase)fromArguments).HistoryWindow);
    }

    // ------------------------------------------------------------------ corrupt and newer models

    [TestMethod]
    public void A_model_with_a_changed_byte_in_its_network_streams_is_refused_before_anything_is_scored()
    {
        // A sample of the positions here (every byte of ML.NET's header and of the block's ends, 300 evenly spaced inside each
        // stream); the long tests (EveryChangedByteTests) change every byte.
        string good = Save(State.Pipeline, "good.zip");
        byte[] expected = OutputBytes(State.Pipeline, State.Raw);
        Console.WriteLine(ModelZips.AssertEveryChangedBitIsRefused(good, expected, m => OutputBytes(m, State.Raw), samples: 300));
        var entries = NetworkEntries(good, out string directory);
        string modelKey = directory + "/Model.key";
        string bad = Path.Combine(State.Directory, "bad.zip");

        // The error names the stream and says what happened; the good file still loads.
        var model = entries[modelKey];
        var flipped = (byte[])model.Clone();
        flipped[BitConverter.ToInt64(model, 0x10) + 40] ^= 0x10;
        Rewrite(good, bad, modelKey, flipped);
        string message = Flatten(Assert.Throws<Exception>(() => new MLContext().Model.Load(bad, out _)));
        Console.WriteLine(message);
        StringAssert.Contains(message, "corrupt");
        StringAssert.Contains(message, $"the checksum of the stream '{modelKey}' does not match");
        Assert.IsNotNull(new MLContext().Model.Load(good, out _));
    }

    [TestMethod]
    public void A_truncated_or_garbage_zip_fails_with_an_error()
    {
        string good = Save(State.Pipeline, "for-truncation.zip");
        byte[] bytes = File.ReadAllBytes(good);
        string truncated = Path.Combine(State.Directory, "truncated.zip");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.Throws<Exception>(() => new MLContext().Model.Load(truncated, out _));
        string garbage = Path.Combine(State.Directory, "garbage.zip");
        File.WriteAllBytes(garbage, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919)).ToArray());
        Assert.Throws<Exception>(() => new MLContext().Model.Load(garbage, out _));

        // A history stream removed from the zip: the model says it is missing.
        var entries = NetworkEntries(good, out string directory);
        string noHistory = Path.Combine(State.Directory, "no-history.zip");
        File.Copy(good, noHistory, overwrite: true);
        using (var zip = ZipFile.Open(noHistory, ZipArchiveMode.Update))
        {
            zip.GetEntry(directory + "/TrainingHistory.bin")!.Delete();
        }
        StringAssert.Contains(Flatten(Assert.Throws<Exception>(() => new MLContext().Model.Load(noHistory, out _))), $"{directory}/TrainingHistory.bin' is missing");
    }

    [TestMethod]
    public void A_model_written_by_a_newer_format_version_is_refused_naming_both_versions()
    {
        string good = Save(State.Pipeline, "current.zip");
        var entries = NetworkEntries(good, out string directory);
        var copy = (byte[])entries[directory + "/Model.key"].Clone();
        // ModelHeader: ModelVerWritten at 0x48 and ModelVerReadable at 0x4C (dotnet/machinelearning src/Microsoft.ML.Core/Data/ModelHeader.cs).
        BitConverter.GetBytes(0x00090001u).CopyTo(copy, 0x48);
        BitConverter.GetBytes(0x00090001u).CopyTo(copy, 0x4C);
        string newer = Path.Combine(State.Directory, "newer.zip");
        Rewrite(good, newer, directory + "/Model.key", copy);
        string message = Flatten(Assert.Throws<Exception>(() => new MLContext().Model.Load(newer, out _)));
        Console.WriteLine(message);
        StringAssert.Contains(message, "newer version of Microsoft.ML.AutoClipNet");
        StringAssert.Contains(message, "0x00090001");
        StringAssert.Contains(message, $"0x{Model.ModelFormat.Current:X8}"); // the newest format this version reads
    }

    /// <summary>ML.NET's internal SchemaShape.Create, which its own estimator tests use.</summary>
    private static class Shapes
    {
        public static SchemaShape Of(DataViewSchema schema)
            => (SchemaShape)typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static, new[] { typeof(DataViewSchema) })!
                .Invoke(null, new object[] { schema })!;
    }

    private static string Flatten(Exception e) => ModelZips.Flatten(e);

    private static Dictionary<string, byte[]> NetworkEntries(string zipPath, out string directory) => ModelZips.NetworkEntries(zipPath, out directory);

    private static void Rewrite(string source, string target, string entryName, byte[] content) => ModelZips.Rewrite(source, target, entryName, content);
}

[TestClass]
public sealed class RegressionConformanceTests : ConformanceTests
{
    public RegressionConformanceTests()
        : base(new RegressionFixture())
    {
    }
}

[TestClass]
public sealed class BinaryConformanceTests : ConformanceTests
{
    public BinaryConformanceTests()
        : base(new BinaryFixture())
    {
    }
}

[TestClass]
public sealed class MulticlassConformanceTests : ConformanceTests
{
    public MulticlassConformanceTests()
        : base(new MulticlassFixture())
    {
    }
}
