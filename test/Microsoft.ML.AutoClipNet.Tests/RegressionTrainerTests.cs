using System;
using System.Linq;
using Microsoft.ML.AutoClip;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>What only the regression trainer does (its quality against Sdca: the long tests' QualityTests): every optimizer and clipping mode, the batched Transform, the diagnostics.</summary>
[TestClass]
public sealed class RegressionTrainerTests
{
    [TestMethod]
    public void The_cycle_stop_ends_a_stalled_run_at_the_third_cycle_with_the_full_runs_first_epochs()
    {
        // Noise for labels: the validation error stops improving early, so CosLog4's third cycle finds nothing better than the
        // first two. With 30 epochs the second cycle ends with epoch ceil(30·3/15) = 6 and the third with ceil(30·7/15) = 14.
        var ml = new MLContext(seed: 0);
        var random = new Random(5);
        var noise = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(600, seed: 5)
            .Select(r => new TestData.Row { Features = r.Features, Label = (float)random.NextDouble() }).ToArray());
        AutoClipNetPredictionTransformer Fit(bool? stop) => ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options
        {
            Seed = 1, NumberOfEpochs = 30, EnsembleSize = 1, CycleEarlyStopping = stop, HiddenLayerSizes = new[] { 16, 16 },
        }).Fit(noise);
        var stopped = Fit(null); // on by default
        var full = Fit(false);
        var stoppedHistory = stopped.Model.TrainingHistory;
        var fullHistory = full.Model.TrainingHistory;
        Assert.HasCount(30, fullHistory.Epochs);
        var errors = fullHistory.Epochs.Select(e => e.ValidationError).ToArray();
        Assert.IsFalse(errors.Take(14).Min() < errors.Take(6).Min(), "the full run's third cycle found no better validation error: the data is as intended");
        Assert.HasCount(14, stoppedHistory.Epochs, "the run stops at the end of the third cycle");
        CollectionAssert.AreEqual(fullHistory.Epochs.Take(14).ToArray(), stoppedHistory.Epochs.ToArray(), "the same epochs up to the stop");
        Assert.AreEqual(Array.LastIndexOf(errors, errors.Take(14).Min(), 13) + 1, stoppedHistory.BestEpoch, "the best of the epochs run (ties: the last)");
        Assert.IsLessThanOrEqualTo(14, fullHistory.BestEpoch, "the full run's best epoch came before the stop (the data is as intended)");
        CollectionAssert.AreEqual(Outputs.Bytes(full.Transform(noise), new[] { "Score" }), Outputs.Bytes(stopped.Transform(noise), new[] { "Score" }),
            "the full run's best epoch came before the stop and nothing matched it later: the same model");

        // Data with a signal keeps improving in the third cycle and runs to its end; so do runs with fewer than 15 epochs.
        var signal = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(600, seed: 6));
        var learned = ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options
        {
            Seed = 1, NumberOfEpochs = 30, EnsembleSize = 1, HiddenLayerSizes = new[] { 16, 16 },
        }).Fit(signal);
        Assert.HasCount(30, learned.Model.TrainingHistory.Epochs);
        // Where the stop applies: the recipe names its epochs for CosLog4 runs of 15 epochs or more, with the option on.
        Training.Recipe Resolve(Action<AutoClipNetTrainer.Options> change)
        {
            var options = new AutoClipNetTrainer.Options { NumberOfEpochs = 30 };
            change(options);
            return Training.Recipe.Resolve(options, Tasks.RegressionTask.Instance, 1000);
        }
        Assert.AreEqual((6, 14), Resolve(_ => { }).CycleStopEpochs);
        Assert.AreEqual((3, 7), Resolve(o => o.NumberOfEpochs = 15).CycleStopEpochs);
        Assert.IsNull(Resolve(o => o.NumberOfEpochs = 14).CycleStopEpochs, "a cycle shorter than an epoch");
        Assert.IsNull(Resolve(o => o.LearningRateSchedule = AutoClipNetLearningRateSchedule.Cosine).CycleStopEpochs);
        Assert.IsNull(Resolve(o => o.CycleEarlyStopping = false).CycleStopEpochs);
        Assert.IsNull(Resolve(o => o.Architecture = AutoClipNetArchitecture.Mlp).CycleStopEpochs, "off for Mlp");
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
                options.LearningRate = optimizer == AutoClipNetOptimizer.Sgd ? 0.05 : null; // SGD below the recipe's Adam rate
                options.WeightDecay = optimizer == AutoClipNetOptimizer.AdamW ? 0.01 : 0;
                options.HistoryDetail = AutoClipNetHistoryDetail.EveryStep; // every step and the AutoClip state, checked below
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
        options.Architecture = AutoClipNetArchitecture.Mlp; // its constant learning rate bounds the step size below
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

    [TestMethod]
    public void A_tiny_data_set_trains_without_dividing_by_zero()
    {
        // One row, constant features: the standard deviations are zero and must not produce NaN.
        var ml = new MLContext(seed: 0);
        var rows = new[] { new TestData.Row { Label = 3, Features = new float[] { 1, 1, 1 } } };
        var model = ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 5)).Fit(ml.Data.LoadFromEnumerable(rows));
        float score = ml.Data.CreateEnumerable<FixtureFiles.Score>(model.Transform(ml.Data.LoadFromEnumerable(rows)), false).Single().Value;
        Assert.IsTrue(float.IsFinite(score));
    }

    [TestMethod]
    public void Transform_reads_ahead_in_batches_and_keeps_rows_columns_and_ids_in_step()
    {
        var ml = new MLContext(seed: 0);
        // 9000 rows = two full batches of 4096 and one partial batch.
        var featurized = TestData.FeaturizedDiamonds(ml, 9000);
        var model = ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 1)).Fit(ml.Data.TakeRows(featurized, 2000));
        var scored = model.Transform(featurized);
        using var cursor = scored.GetRowCursor(scored.Schema);
        using var source = featurized.GetRowCursor(featurized.Schema);
        var id = cursor.GetIdGetter();
        var sourceId = source.GetIdGetter();
        var label = cursor.GetGetter<float>(scored.Schema["Label"]);
        var sourceLabel = source.GetGetter<float>(featurized.Schema["Label"]);
        var score = cursor.GetGetter<float>(scored.Schema["Score"]);
        var features = cursor.GetGetter<VBuffer<float>>(scored.Schema["Features"]);
        var sourceFeatures = source.GetGetter<VBuffer<float>>(featurized.Schema["Features"]);
        DataViewRowId a = default, b = default;
        float la = 0, lb = 0, s = 0;
        VBuffer<float> fa = default, fb = default;
        long rows = 0;
        while (cursor.MoveNext())
        {
            Assert.IsTrue(source.MoveNext());
            Assert.AreEqual(rows, cursor.Position);
            id(ref a);
            sourceId(ref b);
            Assert.AreEqual(b, a);
            label(ref la);
            sourceLabel(ref lb);
            Assert.AreEqual(lb, la);
            features(ref fa);
            sourceFeatures(ref fb);
            CollectionAssert.AreEqual(fb.DenseValues().ToArray(), fa.DenseValues().ToArray());
            score(ref s);
            float single = model.Model.ScoreRow(fb);
            Assert.AreEqual(single, s, 1e-5f * (Math.Abs(single) + model.Model.LabelStandardization.Scale));
            rows++;
        }
        Assert.AreEqual(9000, rows);
        Assert.IsFalse(source.MoveNext());

        // Only the score, or no score at all, also works.
        Assert.HasCount(9000, scored.GetColumn<float>("Score").ToArray());
        Assert.HasCount(9000, scored.GetColumn<float>("Label").ToArray());
        Assert.AreEqual(scored.GetRowCount(), featurized.GetRowCount());
        // A cursor that is asked for a column it was not opened with says so.
        using var onlyScore = scored.GetRowCursor(new[] { scored.Schema["Score"] });
        Assert.IsFalse(onlyScore.IsColumnActive(scored.Schema["Label"]));
        Assert.ThrowsExactly<InvalidOperationException>(() => onlyScore.GetGetter<float>(scored.Schema["Label"]));
    }

    [TestMethod]
    public void PermutationFeatureImportance_finds_that_size_matters_most_and_works_on_a_pipeline()
    {
        var ml = new MLContext(seed: 0);
        var raw = ml.Data.Cache(ml.Data.TakeRows(ml.Data.ShuffleRows(TestData.Diamonds(ml), seed: 5), 3000));
        var pipeline = TestData.DiamondsFeaturizer(ml).Append(ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 5))).Fit(raw);
        var featurized = pipeline.Take(pipeline.Count() - 1).Aggregate(raw, (d, t) => t.Transform(d));
        var importance = ml.Regression.PermutationFeatureImportance(pipeline.LastTransformer, featurized, permutationCount: 1);
        Assert.HasCount(26, importance);
        // Slot 0 is carat, slots 23-25 are x, y, z: the size of a diamond drives its price.
        double[] rmseIncrease = importance.Select(m => m.RootMeanSquaredError.Mean).ToArray();
        int top = Array.IndexOf(rmseIncrease, rmseIncrease.Max());
        CollectionAssert.Contains(new[] { 0, 23, 24, 25 }, top);
        Assert.IsGreaterThan(100.0, rmseIncrease[top]);

        // The overload that finds the prediction transformer at the end of a pipeline (on featurized data, as PFI requires).
        var byName = ml.Regression.PermutationFeatureImportance(pipeline, featurized, permutationCount: 1);
        Assert.HasCount(26, byName);
        Assert.IsGreaterThan(100.0, byName["carat"].RootMeanSquaredError.Mean, "permuting carat must hurt (the permutation itself is random)");
    }

    [TestMethod]
    public void A_PredictionEngine_over_raw_rows_scores_as_Transform_does()
    {
        var ml = new MLContext(seed: 0);
        var raw = ml.Data.Cache(ml.Data.TakeRows(ml.Data.ShuffleRows(TestData.Diamonds(ml), seed: 5), 2000));
        var pipeline = TestData.DiamondsFeaturizer(ml).Append(ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 3))).Fit(raw);
        float[] batched = raw.Schema.Count > 0 ? ml.Data.CreateEnumerable<FixtureFiles.Score>(pipeline.Transform(raw), false).Select(s => s.Value).ToArray() : Array.Empty<float>();
        var engine = ml.Model.CreatePredictionEngine<FixtureFiles.DiamondRow, FixtureFiles.Score>(pipeline);
        var rows = ml.Data.CreateEnumerable<FixtureFiles.DiamondRow>(raw, reuseRowObject: false).ToArray();
        float scale = pipeline.LastTransformer.Model.LabelStandardization.Scale;
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.AreEqual(batched[i], engine.Predict(rows[i]).Value, 1e-5f * (Math.Abs(batched[i]) + scale), $"row {i}");
        }
    }
}
