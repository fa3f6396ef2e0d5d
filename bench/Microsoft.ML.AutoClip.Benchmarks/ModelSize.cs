using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.AutoClipNet;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// The size of a saved model under each <see cref="AutoClipNetHistoryDetail"/>: the quick start's model (diamonds, the
/// default network and recipe) and a run of 1,000,000 steps (a small network on flights, batches of 16, no hold-out).
/// The history's detail changes only what is stored, not what is trained.
/// </summary>
public static class ModelSize
{
    public sealed record Size(string Run, long Steps, AutoClipNetHistoryDetail Detail, long Bytes, int StepsKept, double FitSeconds);

    public static IReadOnlyList<Size> Measure(bool quick)
    {
        var sizes = new List<Size>();
        var ml = new MLContext(seed: 0);

        // The quick start: the same data, split and pipeline as examples/QuickStart (all defaults; one seed for the three).
        var diamonds = Shared.BundledData.Diamonds(ml);
        var split = ml.Data.TrainTestSplit(quick ? ml.Data.TakeRows(diamonds, 3000) : diamonds, testFraction: 0.2, seed: 1);
        var featurizer = Shared.BundledData.DiamondsFeaturizer(ml);
        foreach (var detail in Enum.GetValues<AutoClipNetHistoryDetail>())
        {
            var options = new AutoClipNetTrainer.Options { HistoryDetail = detail, NumberOfEpochs = quick ? 2 : null, Seed = 1 };
            sizes.Add(Fit("quick start (diamonds, defaults)", featurizer.Append(ml.Regression.Trainers.AutoClipNet(options)), split.TrainSet, detail, ml));
        }

        // A long run: 1,000,000 steps of a 2-16-1 network on the flights rows, batches of 16.
        var flights = Data.Flights(ml, quick ? 1_600 : 160_000);
        int epochs = quick ? 10 : 100; // 10,000 steps an epoch
        foreach (var detail in Enum.GetValues<AutoClipNetHistoryDetail>())
        {
            var options = new AutoClipNetTrainer.Options
            {
                Architecture = AutoClipNetArchitecture.Mlp, HiddenLayerSizes = new[] { 16 }, BatchSize = 16, NumberOfEpochs = epochs,
                ValidationFraction = 0, Seed = 1, HistoryDetail = detail,
            };
            sizes.Add(Fit($"{epochs * (quick ? 100 : 10_000):N0} steps (flights, 2-16-1, batch 16)", ml.Regression.Trainers.AutoClipNet(options), flights, detail, ml));
        }
        return sizes;
    }

    private static Size Fit(string name, IEstimator<ITransformer> estimator, IDataView train, AutoClipNetHistoryDetail detail, MLContext ml)
    {
        var watch = Stopwatch.StartNew();
        var model = estimator.Fit(train);
        double seconds = watch.Elapsed.TotalSeconds;
        var last = model is IEnumerable<ITransformer> chain ? System.Linq.Enumerable.Last(chain) : model;
        var parameters = ((AutoClipNetPredictionTransformer)last).Model;
        using var stream = new MemoryStream();
        ml.Model.Save(model, train.Schema, stream);
        var history = parameters.TrainingHistory;
        Console.WriteLine($"{name}, {detail}: {stream.Length / 1024.0:N0} KB, {history.Steps.Count:N0} of {history.StepCount:N0} steps kept, fit {seconds:F1} s");
        return new Size(name, history.StepCount, detail, stream.Length, history.Steps.Count, seconds);
    }
}
