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
/// rows, every trainer with its defaults (the linear ones after NormalizeMinMax), one run each; XGBoost and
/// HistGradientBoosting on the same featurized rows when a Python with them is installed (<see cref="Anchors"/>).
/// </summary>
internal static class Comparison
{
    /// <summary>
    /// One trainer on one set: the headline metric (R², AUC, micro accuracy), the second one (RMSE, log-loss, log-loss), the fit
    /// time; for the paired bootstrap, every held-out row's label and score (regression: prediction; binary: Score; multiclass:
    /// 1 when the row is classified right, else 0); for AutoClipNet, the floating-point work of its fit.
    /// </summary>
    public sealed record Result(string Data, DataTask Task, int TrainingRows, int Features, string Trainer, double FitSeconds, double Metric, double Secondary,
        double[] Labels, double[] Scores, double FitFlops = double.NaN)
    {
        /// <summary>For a regression model with a prediction interval (AutoClipNet's default 90%): the share of held-out labels inside it; else NaN.</summary>
        public double Coverage { get; init; } = double.NaN;
    }

    /// <summary>The headline metric of rows <paramref name="rows"/> (a resample) of a result's held-out rows.</summary>
    public static double MetricOf(DataTask task, double[] labels, double[] scores, int[] rows)
    {
        switch (task)
        {
            case DataTask.Regression:
                double mean = 0;
                foreach (int i in rows)
                {
                    mean += labels[i];
                }
                mean /= rows.Length;
                double sse = 0, sst = 0;
                foreach (int i in rows)
                {
                    sse += (labels[i] - scores[i]) * (labels[i] - scores[i]);
                    sst += (labels[i] - mean) * (labels[i] - mean);
                }
                return 1 - sse / sst;
            case DataTask.Binary:
                // AUC as the Mann-Whitney statistic, ties counted half.
                var order = rows.OrderBy(i => scores[i]).ToArray();
                double rankSum = 0;
                long positives = 0;
                for (int a = 0; a < order.Length;)
                {
                    int b = a;
                    while (b + 1 < order.Length && scores[order[b + 1]] == scores[order[a]])
                    {
                        b++;
                    }
                    double rank = (a + b) / 2.0 + 1;
                    for (int j = a; j <= b; j++)
                    {
                        if (labels[order[j]] > 0.5)
                        {
                            rankSum += rank;
                            positives++;
                        }
                    }
                    a = b + 1;
                }
                long negatives = order.Length - positives;
                return positives == 0 || negatives == 0 ? double.NaN : (rankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
            default:
                return rows.Average(i => scores[i]);
        }
    }

    /// <summary>
    /// The difference of two trainers' headline metric on the same held-out rows, with the 2.5% and 97.5% points of its
    /// paired bootstrap (the same resampled rows for both, <paramref name="resamples"/> times, seeded): how much of a
    /// difference the test rows alone can make.
    /// </summary>
    public static (double Difference, double Low, double High) PairedBootstrap(Result a, Result b, int resamples = 2000)
    {
        int n = a.Labels.Length;
        var all = Enumerable.Range(0, n).ToArray();
        double difference = MetricOf(a.Task, a.Labels, a.Scores, all) - MetricOf(b.Task, b.Labels, b.Scores, all);
        var random = new Random(12345);
        var differences = new double[resamples];
        var rows = new int[n];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < n; i++)
            {
                rows[i] = random.Next(n);
            }
            differences[r] = MetricOf(a.Task, a.Labels, a.Scores, rows) - MetricOf(b.Task, b.Labels, b.Scores, rows);
        }
        Array.Sort(differences);
        return (difference, differences[(int)(0.025 * resamples)], differences[(int)(0.975 * resamples) - 1]);
    }

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

    /// <summary>The side of the square products <see cref="MatrixMultiplyRate"/> times: 2048, 256 in quick mode.</summary>
    public static int MatrixMultiplySide(bool quick) => quick ? 256 : 2048;

    /// <summary>The machine's fp32 matrix-multiply rate (FLOP/s), as section 3 measures it: the median of five timings of square products (<see cref="MatrixMultiplySide"/>).</summary>
    public static double MatrixMultiplyRate(bool quick)
    {
        int n = MatrixMultiplySide(quick), products = quick ? 2 : 8;
        using var a = TorchSharp.torch.randn(n, n);
        using var b = TorchSharp.torch.randn(n, n);
        var times = new List<double>();
        for (int round = 0; round < (quick ? 1 : 6); round++)
        {
            var watch = Stopwatch.StartNew();
            for (int i = 0; i < products; i++)
            {
                using var c = a.mm(b);
            }
            times.Add(watch.Elapsed.TotalSeconds);
        }
        var measured = times.Skip(quick ? 0 : 1).OrderBy(t => t).ToList(); // the first round warms up
        return 2.0 * n * n * n * products / measured[measured.Count / 2];
    }

    /// <summary>
    /// The floating-point work of a default AutoClipNet fit, counted as section 3 counts it: each member's matrix products,
    /// ×2 for FLOPs, ×3 for every training row of every step (forward and backward), ×1 for every epoch's validation rows.
    /// </summary>
    public static double FitFlops(IAutoClipNetModel model)
    {
        var network = Throughput.NetworkOf(model);
        double perMember = (double)network.MultiplyAddsPerRow / model.EnsembleSize;
        double work = 0;
        foreach (var history in model.MemberTrainingHistories)
        {
            int batch = Microsoft.ML.AutoClipNet.Training.Recipe.DefaultBatchSize(history.TrainingRows);
            work += (3.0 * history.StepCount * batch + (double)history.Epochs.Count * history.ValidationRows) * 2 * perMember;
        }
        return work;
    }

    public static List<Result> Run(bool quick, IEnumerable<BundledDataSet> sets)
    {
        var results = new List<Result>();
        var warmedUp = new HashSet<DataTask>();
        foreach (var set in sets)
        {
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 600 : null);
            // The cached views filled before anything is timed: otherwise the first fit pays for featurizing every row.
            BundledData.ReadEveryRow(train);
            BundledData.ReadEveryRow(test);
            if (warmedUp.Add(set.Task))
            {
                FitTiming.WarmUp(Trainers(ml, set.Task, quick: true), ml.Data.TakeRows(train, 300)); // each task's trainers, on its first set
            }
            int rows = Data.RowCount(train);
            int features = ((VectorDataViewType)train.Schema["Features"].Type).Size;
            foreach (var (name, trainer) in Trainers(ml, set.Task, quick))
            {
                FitTiming.Settle();
                var watch = Stopwatch.StartNew();
                var model = trainer.Fit(train);
                double seconds = watch.Elapsed.TotalSeconds;
                var scored = ml.Data.Cache(model.Transform(test));
                (double metric, double secondary) = set.Task switch
                {
                    DataTask.Regression => Regression(ml, scored),
                    DataTask.Binary => Binary(ml, scored),
                    _ => Multiclass(ml, scored),
                };
                var (labels, scores) = RowScores(set.Task, scored);
                if (set.Task == DataTask.Multiclass)
                {
                    // The anchors' multiclass metrics are computed by Anchors.MulticlassMetrics: it must agree with ML.NET's evaluator.
                    var keys = scored.GetColumn<uint>("Label").ToArray();
                    var vectors = scored.GetColumn<float[]>("Score").SelectMany(v => v).ToArray();
                    var (accuracy, logLoss, _) = Anchors.MulticlassMetrics(keys, vectors, vectors.Length / keys.Length);
                    if (Math.Abs(accuracy - metric) > 1e-9 || Math.Abs(logLoss - secondary) > 1e-6 * Math.Max(1, secondary))
                    {
                        throw new InvalidOperationException($"{set.Name}, {name}: Anchors.MulticlassMetrics gives {accuracy}, {logLoss}; ML.NET's evaluator {metric}, {secondary}.");
                    }
                }
                double flops = name == AutoClipNet ? FitFlops(AutoClipNetTasks.ModelOf(model is TransformerChain<ITransformer> chain ? chain.LastTransformer : model)) : double.NaN;
                (model as IDisposable)?.Dispose();
                results.Add(new Result(set.Name, set.Task, rows, features, name, seconds, metric, secondary, labels, scores, flops) { Coverage = Coverage(scored) });
                Console.WriteLine($"{set.Name,-14} {name,-24} fit {seconds,7:F2} s  {MetricName(set.Task)} {metric,7:F4}  {SecondaryName(set.Task)} {secondary,10:F4}");
            }
            foreach (var anchor in Anchors.Run(ml, set, train, test, rows, features))
            {
                results.Add(anchor);
                Console.WriteLine($"{set.Name,-14} {anchor.Trainer,-24} fit {anchor.FitSeconds,7:F2} s  {MetricName(set.Task)} {anchor.Metric,7:F4}  {SecondaryName(set.Task)} {anchor.Secondary,10:F4}");
            }
        }
        return results;
    }

    /// <summary>The share of held-out labels inside [LowerBound, UpperBound] when the scored view has them (+∞ for an unbounded interval: no hold-out to calibrate it), else NaN.</summary>
    private static double Coverage(IDataView scored)
    {
        if (scored.Schema.GetColumnOrNull("LowerBound") is null)
        {
            return double.NaN;
        }
        var labels = scored.GetColumn<float>("Label").ToArray();
        var lower = scored.GetColumn<float>("LowerBound").ToArray();
        var upper = scored.GetColumn<float>("UpperBound").ToArray();
        if (upper.Length > 0 && float.IsPositiveInfinity(upper[0] - lower[0]))
        {
            return double.PositiveInfinity;
        }
        return Enumerable.Range(0, labels.Length).Count(i => lower[i] <= labels[i] && labels[i] <= upper[i]) / (double)labels.Length;
    }

    /// <summary>Every held-out row's label and score (multiclass: whether the predicted class is the label).</summary>
    private static (double[] Labels, double[] Scores) RowScores(DataTask task, IDataView scored)
    {
        switch (task)
        {
            case DataTask.Regression:
                return (scored.GetColumn<float>("Label").Select(v => (double)v).ToArray(), scored.GetColumn<float>("Score").Select(v => (double)v).ToArray());
            case DataTask.Binary:
                return (scored.GetColumn<bool>("Label").Select(v => v ? 1.0 : 0.0).ToArray(), scored.GetColumn<float>("Score").Select(v => (double)v).ToArray());
            default:
                var labels = scored.GetColumn<uint>("Label").ToArray();
                var predicted = scored.GetColumn<uint>("PredictedLabel").ToArray();
                return (labels.Select(v => (double)v).ToArray(), labels.Select((v, i) => v == predicted[i] ? 1.0 : 0.0).ToArray());
        }
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
