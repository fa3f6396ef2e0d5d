using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// AutoClipNet beside the trainers ML.NET users would pick instead, on every bundled data set of every
/// task: the same held-out split (TrainTestSplit 20%, seed 1), the featurizer fitted on the training
/// rows, every trainer with its defaults (the linear ones after NormalizeMinMax), one run each.
/// </summary>
internal static class Comparison
{
    /// <summary>One trainer on one set: the headline metric (R², AUC, micro accuracy), the second one (RMSE, log-loss, log-loss), the fit time.</summary>
    public sealed record Result(string Data, DataTask Task, int TrainingRows, int Features, string Trainer, double FitSeconds, double Metric, double Secondary);

    public static string MetricName(DataTask task) => task switch { DataTask.Regression => "R²", DataTask.Binary => "AUC", _ => "accuracy" };

    public static string SecondaryName(DataTask task) => task == DataTask.Regression ? "RMSE" : "log-loss";

    private static IEnumerable<(string Name, IEstimator<ITransformer> Trainer)> Trainers(MLContext ml, DataTask task, bool quick)
    {
        int epochs = quick ? 1 : AutoClipNetDefaultsForBenchmarks.Epochs;
        switch (task)
        {
            case DataTask.Regression:
                yield return ("AutoClipNet", ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { NumberOfEpochs = epochs, Seed = 1 }));
                yield return ("LightGbm", ml.Regression.Trainers.LightGbm());
                yield return ("FastTree", ml.Regression.Trainers.FastTree());
                yield return ("Sdca", ml.Transforms.NormalizeMinMax("Features").Append(ml.Regression.Trainers.Sdca()));
                yield return ("OnlineGradientDescent", ml.Transforms.NormalizeMinMax("Features").Append(ml.Regression.Trainers.OnlineGradientDescent()));
                break;
            case DataTask.Binary:
                yield return ("AutoClipNet", ml.BinaryClassification.Trainers.AutoClipNet(new AutoClipNetBinaryTrainer.Options { NumberOfEpochs = epochs, Seed = 1 }));
                yield return ("LightGbm", ml.BinaryClassification.Trainers.LightGbm());
                yield return ("FastTree", ml.BinaryClassification.Trainers.FastTree());
                yield return ("LbfgsLogisticRegression", ml.Transforms.NormalizeMinMax("Features").Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression()));
                yield return ("SdcaLogisticRegression", ml.Transforms.NormalizeMinMax("Features").Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression()));
                break;
            default:
                yield return ("AutoClipNet", ml.MulticlassClassification.Trainers.AutoClipNet(new AutoClipNetMulticlassTrainer.Options { NumberOfEpochs = epochs, Seed = 1 }));
                yield return ("LightGbm", ml.MulticlassClassification.Trainers.LightGbm());
                yield return ("LbfgsMaximumEntropy", ml.Transforms.NormalizeMinMax("Features").Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy()));
                yield return ("SdcaMaximumEntropy", ml.Transforms.NormalizeMinMax("Features").Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy()));
                break;
        }
    }

    public static List<Result> Run(bool quick, IEnumerable<BundledDataSet> sets)
    {
        var results = new List<Result>();
        foreach (var set in sets)
        {
            var ml = new MLContext(seed: 0);
            var raw = BundledData.Load(ml, set);
            if (quick)
            {
                raw = ml.Data.TakeRows(ml.Data.ShuffleRows(raw, seed: 1), 600);
            }
            var split = ml.Data.TrainTestSplit(ml.Data.Cache(raw), testFraction: 0.2, seed: 1);
            var featurizer = BundledData.Featurizer(ml, set).Fit(split.TrainSet);
            var train = ml.Data.Cache(featurizer.Transform(split.TrainSet));
            var test = ml.Data.Cache(featurizer.Transform(split.TestSet));
            int rows = Data.RowCount(train);
            int features = ((VectorDataViewType)train.Schema["Features"].Type).Size;
            foreach (var (name, trainer) in Trainers(ml, set.Task, quick))
            {
                var watch = Stopwatch.StartNew();
                var model = trainer.Fit(train);
                double seconds = watch.Elapsed.TotalSeconds;
                var scored = model.Transform(test);
                (double metric, double secondary) = set.Task switch
                {
                    DataTask.Regression => Regression(ml, scored),
                    DataTask.Binary => Binary(ml, scored),
                    _ => Multiclass(ml, scored),
                };
                (model as IDisposable)?.Dispose();
                results.Add(new Result(set.Name, set.Task, rows, features, name, seconds, metric, secondary));
                Console.WriteLine($"{set.Name,-14} {name,-24} fit {seconds,7:F2} s  {MetricName(set.Task)} {metric,7:F4}  {SecondaryName(set.Task)} {secondary,10:F4}");
            }
        }
        return results;
    }

    private static (double, double) Regression(MLContext ml, IDataView scored)
    {
        var m = ml.Regression.Evaluate(scored);
        return (m.RSquared, m.RootMeanSquaredError);
    }

    private static (double, double) Binary(MLContext ml, IDataView scored)
    {
        // Trainers without a probability (none here) would report NaN log-loss.
        var m = ml.BinaryClassification.Evaluate(scored);
        return (m.AreaUnderRocCurve, m.LogLoss);
    }

    private static (double, double) Multiclass(MLContext ml, IDataView scored)
    {
        var m = ml.MulticlassClassification.Evaluate(scored);
        return (m.MicroAccuracy, m.LogLoss);
    }
}

/// <summary>The AutoClipNet defaults the comparison uses, spelled out so that the report can name them.</summary>
internal static class AutoClipNetDefaultsForBenchmarks
{
    public const int Epochs = 30;
}
