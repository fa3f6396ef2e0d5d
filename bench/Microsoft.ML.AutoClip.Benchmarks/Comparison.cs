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

    /// <summary>The name of AutoClipNet with its defaults, and of the network of its first release, in the results.</summary>
    public const string AutoClipNet = "AutoClipNet", PreviousNetwork = "AutoClipNet (Mlp)";

    /// <summary>The name of the default with another seed.</summary>
    public static string OtherSeed(int seed) => $"AutoClipNet (seed {seed})";

    /// <summary>Whether a result is the default with another seed (reported as a spread, not as a trainer of its own).</summary>
    public static bool IsOtherSeed(string trainer) => trainer.StartsWith("AutoClipNet (seed ", StringComparison.Ordinal);

    private static IEnumerable<(string Name, IEstimator<ITransformer> Trainer)> Trainers(MLContext ml, DataTask task, bool quick)
    {
        AutoClipNetOptionsBase Options(AutoClipNetArchitecture architecture, int seed = 1)
        {
            var options = AutoClipNetTasks.NewOptions(task);
            options.Seed = seed;
            options.Architecture = architecture;
            if (quick)
            {
                options.NumberOfEpochs = 1;
            }
            return options;
        }
        yield return (AutoClipNet, AutoClipNetTasks.Trainer(ml, task, Options(AutoClipNetArchitecture.RealMlp)));
        yield return (PreviousNetwork, AutoClipNetTasks.Trainer(ml, task, Options(AutoClipNetArchitecture.Mlp)));
        // Two more seeds of the default: on small sets a seed alone moves the metric by hundredths (docs/ablation.md).
        foreach (int seed in quick ? Array.Empty<int>() : new[] { 2, 3 })
        {
            yield return (OtherSeed(seed), AutoClipNetTasks.Trainer(ml, task, Options(AutoClipNetArchitecture.RealMlp, seed)));
        }
        switch (task)
        {
            case DataTask.Regression:
                yield return ("LightGbm", ml.Regression.Trainers.LightGbm());
                yield return ("FastTree", ml.Regression.Trainers.FastTree());
                yield return ("Sdca", ml.Transforms.NormalizeMinMax("Features").Append(ml.Regression.Trainers.Sdca()));
                yield return ("OnlineGradientDescent", ml.Transforms.NormalizeMinMax("Features").Append(ml.Regression.Trainers.OnlineGradientDescent()));
                break;
            case DataTask.Binary:
                yield return ("LightGbm", ml.BinaryClassification.Trainers.LightGbm());
                yield return ("FastTree", ml.BinaryClassification.Trainers.FastTree());
                yield return ("LbfgsLogisticRegression", ml.Transforms.NormalizeMinMax("Features").Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression()));
                yield return ("SdcaLogisticRegression", ml.Transforms.NormalizeMinMax("Features").Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression()));
                break;
            default:
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
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 600 : null);
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
