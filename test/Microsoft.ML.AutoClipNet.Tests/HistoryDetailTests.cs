using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Lean models: the training history keeps every step, a bounded summary (the default) or only counts; what it keeps
/// never changes what is trained, the counts are exact whatever is kept, and a long run's model stays small.
/// </summary>
[TestClass]
public sealed class HistoryDetailTests
{
    [TestMethod]
    [DataRow(1L)]
    [DataRow(3L)]
    [DataRow(1024L)]
    public void A_summary_keeps_between_1024_and_2048_evenly_spaced_records_and_the_last(long every)
    {
        var recorder = new HistoryRecorder<long>(AutoClipNetHistoryDetail.Summary);
        long last = 0;
        for (long step = every; step <= 3_000_000; step += every)
        {
            recorder.Add(step, step);
            last = step;
        }
        var kept = recorder.Records();
        long recorded = last / every;
        Assert.IsTrue(kept.Count >= Math.Min(recorded, HistoryRecorder<long>.SummaryRecords) && kept.Count <= 2 * HistoryRecorder<long>.SummaryRecords,
            $"{kept.Count} records kept of {recorded}");
        Assert.AreEqual(last, kept[^1], "the last step is kept");
        CollectionAssert.AreEqual(kept.OrderBy(s => s).ToList(), kept, "in step order");
        var spaced = kept.Take(kept.Count - 1).ToList();
        Assert.IsTrue(spaced.All(s => s % recorder.Stride == 0), $"every kept record but the last is a multiple of the stride {recorder.Stride}");
        var gaps = spaced.Zip(spaced.Skip(1), (a, b) => b - a).Distinct().ToList();
        Assert.HasCount(1, gaps, "evenly spaced");
    }

    [TestMethod]
    public void EveryStep_keeps_all_and_None_keeps_nothing()
    {
        var all = new HistoryRecorder<int>(AutoClipNetHistoryDetail.EveryStep);
        var none = new HistoryRecorder<int>(AutoClipNetHistoryDetail.None);
        for (int step = 1; step <= 5000; step++)
        {
            all.Add(step, step);
            none.Add(step, step);
        }
        CollectionAssert.AreEqual(Enumerable.Range(1, 5000).ToList(), all.Records());
        Assert.IsEmpty(none.Records());
    }

    [TestMethod]
    public void What_the_history_keeps_changes_neither_the_model_nor_the_counts_and_survives_saving()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 3000);
        var fits = new Dictionary<AutoClipNetHistoryDetail, AutoClipNetPredictionTransformer>();
        foreach (var detail in Enum.GetValues<AutoClipNetHistoryDetail>())
        {
            var options = TestOptions.QuickOptions(epochs: 40);
            options.BatchSize = 32; // 40 epochs × 75 steps: 3,000 steps, more than a summary keeps
            options.CycleEarlyStopping = false; // every epoch run, whatever the hold-out's errors do
            options.HistoryDetail = detail;
            options.DiagnosticsInterval = 1;
            fits[detail] = ml.Regression.Trainers.AutoClipNet(options).Fit(data);
        }
        var every = fits[AutoClipNetHistoryDetail.EveryStep].Model.TrainingHistory;
        Assert.HasCount(3000, every.Steps);
        byte[] expected = Outputs.Bytes(fits[AutoClipNetHistoryDetail.EveryStep].Transform(data), new[] { "Score" });
        foreach (var (detail, model) in fits)
        {
            var history = model.Model.TrainingHistory;
            CollectionAssert.AreEqual(expected, Outputs.Bytes(model.Transform(data), new[] { "Score" }), $"{detail}: the same model");
            Assert.AreEqual(detail, history.Detail);
            Assert.AreEqual(3000L, history.StepCount);
            Assert.AreEqual(every.Steps.LongCount(s => s.Clipped), history.ClippedStepCount, $"{detail}: clipped steps counted exactly");
            Assert.IsGreaterThan(0L, history.ClippedStepCount);
            Assert.AreEqual(every.Steps.LongCount(s => s.Skipped), history.SkippedStepCount);
            Assert.AreEqual(detail == AutoClipNetHistoryDetail.EveryStep, model.Model.AutoClipState is not null, $"{detail}: the AutoClip state is kept with every step only");
            switch (detail)
            {
                case AutoClipNetHistoryDetail.None:
                    Assert.IsEmpty(history.Steps);
                    Assert.IsEmpty(history.Epochs);
                    Assert.IsEmpty(history.Diagnostics);
                    break;
                case AutoClipNetHistoryDetail.Summary:
                    // The kept steps are the very records of those steps.
                    Assert.IsTrue(history.Steps.Count is > 1000 and < 2100, $"{history.Steps.Count} steps kept");
                    var byStep = every.Steps.ToDictionary(s => s.Step);
                    Assert.IsTrue(history.Steps.All(s => byStep[s.Step] == s));
                    Assert.AreEqual(every.Steps[^1], history.Steps[^1]);
                    CollectionAssert.AreEqual(every.Epochs.ToArray(), history.Epochs.ToArray());
                    Assert.IsTrue(history.Diagnostics.Count is > 500 and < 2100, $"{history.Diagnostics.Count} diagnostics kept");
                    break;
            }

            // Saved and loaded, the history is the same.
            string path = Path.Combine(Path.GetTempPath(), $"autoclipnet-history-{detail}-{Environment.ProcessId}.zip");
            try
            {
                ml.Model.Save(model, data.Schema, path);
                var loaded = ((AutoClipNetPredictionTransformer)new MLContext().Model.Load(path, out _)).Model.TrainingHistory;
                Assert.AreEqual(detail, loaded.Detail);
                Assert.AreEqual((history.StepCount, history.ClippedStepCount, history.SkippedStepCount), (loaded.StepCount, loaded.ClippedStepCount, loaded.SkippedStepCount));
                CollectionAssert.AreEqual(history.Steps.ToArray(), loaded.Steps.ToArray());
                CollectionAssert.AreEqual(history.Epochs.ToArray(), loaded.Epochs.ToArray());
                CollectionAssert.AreEqual(history.Diagnostics.ToArray(), loaded.Diagnostics.ToArray());
                Console.WriteLine($"{detail,-9}: {history.Steps.Count,5} steps kept of {history.StepCount:N0}, model {new FileInfo(path).Length / 1024.0,6:F0} KB");
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    [TestMethod]
    public void A_summarized_model_does_not_grow_with_the_number_of_steps()
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, 2000);
        long Size(int epochs)
        {
            var options = TestOptions.QuickOptions(epochs: epochs);
            options.BatchSize = 16;
            options.HiddenLayerSizes = new[] { 4 };
            options.ValidationFraction = 0;
            var model = ml.Regression.Trainers.AutoClipNet(options).Fit(data);
            Assert.AreEqual(epochs * 125L, model.Model.TrainingHistory.StepCount);
            Assert.IsLessThanOrEqualTo(2 * HistoryRecorder<int>.SummaryRecords + 1, model.Model.TrainingHistory.Steps.Count);
            using var stream = new MemoryStream();
            ml.Model.Save(model, data.Schema, stream);
            return stream.Length;
        }
        long short_ = Size(20), long_ = Size(200); // 2,500 and 25,000 steps
        Console.WriteLine($"2,500 steps: {short_ / 1024.0:F0} KB; 25,000 steps: {long_ / 1024.0:F0} KB");
        // Ten times the steps: the summary holds 1,024 to 2,048 of them either way, and the epochs' records grow (36 bytes
        // each); every step kept would be ten times the history.
        Assert.IsLessThan(short_ * 1.6, (double)long_, "ten times the steps, not much larger");
    }
}
