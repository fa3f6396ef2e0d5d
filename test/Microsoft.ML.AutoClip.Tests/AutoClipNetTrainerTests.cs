using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClip.Tests;

[TestClass]
public sealed class AutoClipNetTrainerTests
{
    [TestMethod]
    public void Default_options_beat_Sdca_clearly_on_held_out_diamonds()
    {
        var ml = new MLContext(seed: 0);
        var split = ml.Data.TrainTestSplit(TestData.Diamonds(ml), testFraction: 0.2, seed: 1);
        var featurize = TestData.DiamondsFeaturizer(ml);

        var autoClipNet = featurize.Append(ml.Regression.Trainers.AutoClipNet()).Fit(split.TrainSet);
        var sdca = featurize.Append(ml.Transforms.NormalizeMinMax("Features")).Append(ml.Regression.Trainers.Sdca()).Fit(split.TrainSet);

        var ours = ml.Regression.Evaluate(autoClipNet.Transform(split.TestSet));
        var theirs = ml.Regression.Evaluate(sdca.Transform(split.TestSet));
        Console.WriteLine($"held-out R² AutoClipNet {ours.RSquared:F4} (RMSE {ours.RootMeanSquaredError:F0}), Sdca {theirs.RSquared:F4} (RMSE {theirs.RootMeanSquaredError:F0})");
        Assert.IsGreaterThan(0.95, ours.RSquared);
        Assert.IsGreaterThan(theirs.RSquared + 0.04, ours.RSquared, "AutoClipNet must beat Sdca by a clear margin");
        Assert.IsLessThan(0.8 * theirs.RootMeanSquaredError, ours.RootMeanSquaredError);
    }

    [TestMethod]
    public void The_model_exposes_its_architecture_training_record_and_AutoClip_state()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 2000);
        var options = TestOptions.QuickOptions(epochs: 3);
        options.HiddenLayerSizes = new[] { 8, 4 };
        options.BatchSize = 100;
        var model = ml.Regression.Trainers.AutoClipNet(options).Fit(data).Model;

        Assert.AreEqual(26, model.FeatureCount);
        CollectionAssert.AreEqual(new[] { 8, 4 }, model.HiddenLayerSizes.ToArray());
        Assert.AreEqual(AutoClipNetActivation.ReLU, model.Activation);
        Assert.AreEqual(26 * 8 + 8 + 8 * 4 + 4 + 4 + 1, model.ParameterCount);
        Assert.HasCount(26 * 8, model.GetWeights(0));

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
        // The state is the paper's percentile of the recorded norms.
        Assert.AreEqual(NumPyReference.Percentile(history.Steps.Select(s => s.GradientNorm), 10), state.Threshold, 0.0);
    }

    [TestMethod]
    public void Same_data_options_and_seed_give_bit_identical_weights_and_predictions()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 1500);
        float[] first = AutoClipNetFingerprint.Of(ml, ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(seed: 7)).Fit(data), data);
        float[] second = AutoClipNetFingerprint.Of(ml, ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(seed: 7)).Fit(data), data);
        float[] other = AutoClipNetFingerprint.Of(ml, ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(seed: 8)).Fit(data), data);
        CollectionAssert.AreEqual(first, second);
        CollectionAssert.AreNotEqual(first, other);
    }

    [TestMethod]
    public void Without_a_seed_the_MLContext_seed_decides()
    {
        static float[] Train(int contextSeed)
        {
            var ml = new MLContext(seed: contextSeed);
            var data = TestData.FeaturizedDiamonds(ml, 800);
            var options = TestOptions.QuickOptions(epochs: 1);
            options.Seed = null;
            return ml.Regression.Trainers.AutoClipNet(options).Fit(data).Model.GetWeights(0);
        }
        CollectionAssert.AreEqual(Train(5), Train(5));
        CollectionAssert.AreNotEqual(Train(5), Train(6));
    }

    [TestMethod]
    public void Streaming_training_with_bounded_memory_learns_as_well_as_packed_training()
    {
        var ml = new MLContext(seed: 0);
        var split = ml.Data.TrainTestSplit(TestData.FeaturizedDiamonds(ml, 6000), 0.25, seed: 2);
        var packedOptions = TestOptions.QuickOptions(epochs: 8);
        var streamedOptions = TestOptions.QuickOptions(epochs: 8);
        streamedOptions.MaxRowsInMemory = 500;
        streamedOptions.ShufflePoolSize = 256;

        var packed = ml.Regression.Trainers.AutoClipNet(packedOptions).Fit(split.TrainSet);
        var streamed = ml.Regression.Trainers.AutoClipNet(streamedOptions).Fit(split.TrainSet);
        double packedR2 = ml.Regression.Evaluate(packed.Transform(split.TestSet)).RSquared;
        double streamedR2 = ml.Regression.Evaluate(streamed.Transform(split.TestSet)).RSquared;
        Console.WriteLine($"R² packed {packedR2:F4}, streamed {streamedR2:F4}");

        Assert.AreEqual(packed.Model.TrainingHistory.Steps.Count, streamed.Model.TrainingHistory.Steps.Count);
        Assert.IsGreaterThan(0.9, streamedR2);
        Assert.AreEqual(packedR2, streamedR2, 0.03);
        // The standardization statistics are the same whichever way the rows were read.
        CollectionAssert.AreEqual(packed.Model.FeatureMeans.ToArray(), streamed.Model.FeatureMeans.ToArray());
        // Streaming is deterministic too.
        var again = ml.Regression.Trainers.AutoClipNet(streamedOptions).Fit(split.TrainSet);
        CollectionAssert.AreEqual(streamed.Model.GetWeights(0), again.Model.GetWeights(0));

        // A validation fraction while streaming holds out a seeded share of the rows, the same at every epoch.
        streamedOptions.ValidationFraction = 0.25;
        streamedOptions.NumberOfEpochs = 2;
        var validated = ml.Regression.Trainers.AutoClipNet(streamedOptions).Fit(split.TrainSet).Model.TrainingHistory;
        Assert.AreEqual(packed.Model.TrainingHistory.TrainingRows, validated.TrainingRows + validated.ValidationRows);
        Assert.IsTrue(validated.ValidationRows is > 900 and < 1350, $"{validated.ValidationRows} of about 4500 rows held out");
        Assert.IsTrue(validated.Epochs.All(e => double.IsFinite(e.ValidationLoss)));
    }

    [TestMethod]
    public void A_validation_fraction_records_validation_loss_and_keeps_the_best_epoch()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 3000);
        var options = TestOptions.QuickOptions(epochs: 40);
        options.ValidationFraction = 0.2;
        options.EarlyStoppingPatience = 3;
        options.LearningRate = 0.02; // fast enough to stop early
        var history = ml.Regression.Trainers.AutoClipNet(options).Fit(data).Model.TrainingHistory;

        Assert.AreEqual(600, history.ValidationRows);
        Assert.AreEqual(2400, history.TrainingRows);
        Assert.IsTrue(history.Epochs.All(e => double.IsFinite(e.ValidationLoss)));
        double best = history.Epochs.Min(e => e.ValidationLoss);
        Assert.AreEqual(best, history.Epochs[history.BestEpoch - 1].ValidationLoss);
        Assert.IsLessThan(40, history.Epochs.Count, "early stopping should end a 40-epoch run at lr 0.02");
        Assert.AreEqual(history.BestEpoch + 3, history.Epochs.Count);
    }

    [TestMethod]
    public void An_explicit_validation_set_is_used_through_Fit_train_validation()
    {
        var ml = new MLContext(seed: 0);
        var split = ml.Data.TrainTestSplit(TestData.FeaturizedDiamonds(ml, 2000), 0.3, seed: 4);
        var trainer = ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 4));
        var model = trainer.Fit(split.TrainSet, split.TestSet);
        var history = model.Model.TrainingHistory;
        Assert.AreEqual(split.TestSet.GetRowCount() ?? ml.Data.CreateEnumerable<ChildProcess.Score>(split.TestSet, false, true).Count(), history.ValidationRows);
        Assert.IsTrue(history.Epochs.All(e => double.IsFinite(e.ValidationLoss)));
    }

    [TestMethod]
    public void Progress_is_logged_per_epoch_and_CancelExecution_stops_training_promptly()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 20000);
        var epochs = new ConcurrentQueue<string>();
        var watch = new Stopwatch();
        ml.Log += (_, e) =>
        {
            if (e.Message.Contains("Epoch ", StringComparison.Ordinal) && e.Source.Contains("AutoClipNet", StringComparison.Ordinal))
            {
                epochs.Enqueue(e.Message);
                if (epochs.Count == 2)
                {
                    watch.Start();
                    ml.CancelExecution();
                }
            }
        };
        var options = TestOptions.QuickOptions(epochs: 1000);
        Assert.ThrowsExactly<OperationCanceledException>(() => ml.Regression.Trainers.AutoClipNet(options).Fit(data));
        watch.Stop();
        Assert.HasCount(2, epochs);
        StringAssert.Contains(epochs.First(), "Epoch 1/1000: training loss");
        Assert.IsLessThan(2000, watch.ElapsedMilliseconds, "cancellation must not wait for the end of an epoch");
    }

    [TestMethod]
    public void Every_invalid_option_is_rejected_with_its_name_and_value()
    {
        var ml = new MLContext();
        void Rejected(Action<AutoClipNetTrainer.Options> change, string name, string value)
        {
            var options = new AutoClipNetTrainer.Options();
            change(options);
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(options));
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
        // The named-argument overload goes through the same checks.
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.AutoClipNet(percentile: -5));
        Assert.AreEqual("Percentile", e.ParamName);
    }

    [TestMethod]
    public void Both_catalog_overloads_share_the_defaults()
    {
        var ml = new MLContext();
        var fromArguments = ml.Regression.Trainers.AutoClipNet().TrainerOptions;
        var fromOptions = ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options()).TrainerOptions;
        foreach (var field in typeof(AutoClipNetTrainer.Options).GetFields())
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
        Assert.AreEqual(10.0, fromArguments.Percentile);
        Assert.IsNull(fromArguments.HistoryWindow);
    }

    [TestMethod]
    public void Every_optimizer_and_clipping_mode_trains()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 1500);
        foreach (var optimizer in Enum.GetValues<AutoClipNetOptimizer>())
        {
            foreach (var clipping in Enum.GetValues<AutoClipNetClipping>())
            {
                var options = TestOptions.QuickOptions(epochs: 4);
                options.Optimizer = optimizer;
                options.Clipping = clipping;
                options.LearningRate = optimizer == AutoClipNetOptimizer.Sgd ? 0.01 : 0.003;
                options.WeightDecay = optimizer == AutoClipNetOptimizer.AdamW ? 0.01 : 0;
                var model = ml.Regression.Trainers.AutoClipNet(options).Fit(data);
                double r2 = ml.Regression.Evaluate(model.Transform(data)).RSquared;
                Assert.IsGreaterThan(0.8, r2, $"{optimizer}, {clipping}: R² {r2}");
                var steps = model.Model.TrainingHistory.Steps;
                switch (clipping)
                {
                    case AutoClipNetClipping.AutoClip:
                        Assert.IsNotNull(model.Model.AutoClipState);
                        break;
                    case AutoClipNetClipping.FixedNorm:
                        Assert.IsTrue(steps.All(s => s.Threshold == 1.0));
                        Assert.IsTrue(steps.All(s => s.Scale == AutoClipper.ClipScale(s.GradientNorm, 1.0) && !s.Skipped), $"{optimizer}: every step scaled to the fixed norm");
                        Assert.IsTrue(steps.Any(s => s.Scale < 1) && steps.Any(s => s.Scale == 1), $"{optimizer}: some steps above the fixed norm, some within it");
                        Assert.IsNull(model.Model.AutoClipState);
                        break;
                    default:
                        Assert.IsTrue(steps.All(s => double.IsNaN(s.GradientNorm) && s.Scale == 1));
                        break;
                }
            }
        }
    }

    [TestMethod]
    public void Diagnostics_record_step_size_and_smoothness_every_k_steps()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 1280);
        var options = TestOptions.QuickOptions(epochs: 2);
        options.DiagnosticsInterval = 5;
        var history = ml.Regression.Trainers.AutoClipNet(options).Fit(data).Model.TrainingHistory;
        // 40 steps: measured at steps 5, 10, ..., 40.
        CollectionAssert.AreEqual(Enumerable.Range(1, 8).Select(i => 5L * i).ToArray(), history.Diagnostics.Select(d => d.Step).ToArray());
        foreach (var d in history.Diagnostics)
        {
            var step = history.Steps[(int)d.Step - 1];
            Assert.AreEqual(step.GradientNorm, d.GradientNorm, 1e-4 * step.GradientNorm);
            Assert.IsGreaterThan(0.0, d.StepSize);
            Assert.IsGreaterThan(0.0, d.Smoothness);
            // The previous update moved the weights by at most lr × sqrt(#params) per Adam step.
            Assert.IsLessThan(1e-3 * Math.Sqrt(26 * 16 + 16 + 16 * 16 + 16 + 17) * 1.01, d.StepSize);
        }
    }

    [TestMethod]
    public void Training_leaves_no_TorchSharp_tensor_alive()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 1000);
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var options = TestOptions.QuickOptions(epochs: 2);
        options.DiagnosticsInterval = 3;
        options.ValidationFraction = 0.2;
        using (var model = ml.Regression.Trainers.AutoClipNet(options).Fit(data))
        {
            Assert.IsNotEmpty(model.Model.TrainingHistory.Diagnostics);
        }
        Assert.AreEqual(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [TestMethod]
    public void Training_that_diverges_despite_clipping_fails_with_advice()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 1000);
        var options = TestOptions.QuickOptions(epochs: 3);
        options.Optimizer = AutoClipNetOptimizer.Sgd;
        options.LearningRate = 1e12;
        options.StandardizeLabel = false;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Regression.Trainers.AutoClipNet(options).Fit(data));
        StringAssert.Contains(e.Message, "diverged");
        StringAssert.Contains(e.Message, "LearningRate (now 1000000000000)");
    }
}
