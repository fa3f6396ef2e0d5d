using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Studies;

/// <summary>
/// What a user moving from LightGbm meets, measured on the bundled sets (held-out 20%, TrainTestSplit seed 1, the featurizer
/// fitted on the training rows): missing values inside the model against replacing them first and against LightGbm on the raw
/// NaN; multiclass log-loss before and after temperature scaling, with and without label smoothing, beside LightGbm; the
/// prediction intervals' coverage on every regression set; a model trained N + N epochs in two fits (warm start) against 2N in
/// one; and what an explanation costs.
/// </summary>
internal static class DropIn
{
    private static readonly int[] Seeds = { 1, 2, 3 };

    public static void Run(string docs, bool quick)
    {
        var text = new StringBuilder();
        var tsv = new List<string> { "section\tdata\tvariant\tseed\tmetric\tsecondary\tseconds" };
        text.AppendLine("# From LightGbm to AutoClipNet: missing values, probabilities, intervals, warm starts, explanations");
        text.AppendLine();
        text.AppendLine("Command: `dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Studies -- dropin` (about 25 minutes; `--quick` for a smoke run)  ");
        text.AppendLine($"Machine: {StudyTools.MachineLine()}; {DateTime.UtcNow:yyyy-MM-dd} UTC.");
        text.AppendLine();
        text.AppendLine("Every number: the held-out 20% of the set (TrainTestSplit seed 1), the featurizer fitted on the other 80%, default");
        text.AppendLine($"options unless said, AutoClipNet seeds {string.Join(", ", Seeds)} (mean, and the seeds' range in brackets); LightGbm is deterministic.");
        text.AppendLine("The raw rows are in `dropin.tsv`.");
        text.AppendLine();
        string name = quick ? "dropin-quick" : "dropin";
        void Save()
        {
            File.WriteAllText(Path.Combine(docs, name + ".md"), text.ToString());
            File.WriteAllLines(Path.Combine(docs, name + ".tsv"), tsv);
        }
        // Written after every section, so that a failure keeps what was measured.
        foreach (var section in new Action[] { () => MissingValues(text, tsv, quick), () => Probabilities(text, tsv, quick), () => Intervals(text, tsv, quick),
            () => WarmStart(text, tsv, quick), () => Explanations(text, quick) })
        {
            section();
            Save();
        }
        Console.WriteLine($"Written to {Path.Combine(docs, name + ".md")}");
    }

    private static int[] SeedsFor(bool quick) => quick ? new[] { 1 } : Seeds;

    private static AutoClipNetOptionsBase Options(DataTask task, int seed, bool quick, Action<AutoClipNetOptionsBase>? change = null)
    {
        var options = AutoClipNetTasks.NewOptions(task);
        options.Seed = seed;
        if (quick)
        {
            options.NumberOfEpochs = 1;
        }
        change?.Invoke(options);
        return options;
    }

    private sealed record Cell(double Metric, double Secondary, double Seconds);

    private static Cell Fit(MLContext ml, BundledDataSet set, IEstimator<ITransformer> trainer, IDataView train, IDataView test, string variant, int seed,
        string section, List<string> tsv, Func<ITransformer, double>? secondary = null)
    {
        var watch = Stopwatch.StartNew();
        var model = trainer.Fit(train);
        double seconds = watch.Elapsed.TotalSeconds;
        var (metric, second) = AutoClipNetTasks.Metrics(ml, set.Task, model.Transform(test));
        if (secondary is not null)
        {
            second = secondary(model);
        }
        Console.WriteLine($"{section,-13} {set.Name,-14} {variant,-46} seed {seed}: {metric,8:F4} {second,10:G5} {seconds,7:F1} s");
        tsv.Add(string.Join('\t', section, set.Name, variant, seed, metric.ToString("R", CultureInfo.InvariantCulture), second.ToString("R", CultureInfo.InvariantCulture),
            seconds.ToString("F2", CultureInfo.InvariantCulture)));
        return new Cell(metric, second, seconds);
    }

    private static string Summary(IReadOnlyList<double> values, string format)
        => values.Count == 1 ? values[0].ToString(format, CultureInfo.InvariantCulture)
            : $"{values.Average().ToString(format, CultureInfo.InvariantCulture)} ({values.Min().ToString(format, CultureInfo.InvariantCulture)}–{values.Max().ToString(format, CultureInfo.InvariantCulture)})";

    // ---------------------------------------------------------------------------------------------

    private static void MissingValues(StringBuilder text, List<string> tsv, bool quick)
    {
        text.AppendLine("## Missing values");
        text.AppendLine();
        text.AppendLine("The bundled sets with empty numeric fields. *In the model*: the featurizer keeps them as NaN and AutoClipNet's");
        text.AppendLine("missing-values layer fills each from the training center and adds an indicator per feature that had missing values");
        text.AppendLine("(the default, `FillAndIndicate`), or fills only (`Fill`). *Replaced first*: ML.NET's `ReplaceMissingValues` (the column's");
        text.AppendLine("mean) before the trainer, as every AutoClipNet pipeline had to before. LightGbm on the raw NaN (its own missing-value");
        text.AppendLine("handling) and on the replaced values.");
        text.AppendLine();
        text.AppendLine("| data (missing) | metric | AutoClipNet, in the model (default) | AutoClipNet, fill only | AutoClipNet, replaced first | LightGbm, raw NaN | LightGbm, replaced first |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (string name in quick ? new[] { "pima-diabetes" } : new[] { "credit", "pima-diabetes", "cars", "telco-churn" })
        {
            var set = BundledData.Named(name);
            var ml = new MLContext(seed: 0);
            var rows = quick ? 400 : (int?)null;
            var (nanTrain, nanTest) = BundledData.HeldOutSplit(ml, set, rows, keepMissing: true);
            var (meanTrain, meanTest) = BundledData.HeldOutSplit(ml, set, rows);
            long missing = CountMissing(nanTrain) + CountMissing(nanTest);
            var cells = new List<string>();
            foreach (var (variant, nan, change) in new (string, bool, Action<AutoClipNetOptionsBase>?)[]
            {
                ("in the model (FillAndIndicate)", true, null),
                ("fill only", true, o => o.MissingValues = AutoClipNetMissingValues.Fill),
                ("replaced first", false, null),
            })
            {
                var results = SeedsFor(quick).Select(seed => Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, Options(set.Task, seed, quick, change)),
                    nan ? nanTrain : meanTrain, nan ? nanTest : meanTest, "AutoClipNet, " + variant, seed, "missing", tsv)).ToList();
                cells.Add(Summary(results.Select(r => r.Metric).ToList(), "F4"));
            }
            cells.Add(Fit(ml, set, Ablation.LightGbm(ml, set.Task), nanTrain, nanTest, "LightGbm, raw NaN", 0, "missing", tsv).Metric.ToString("F4", CultureInfo.InvariantCulture));
            cells.Add(Fit(ml, set, Ablation.LightGbm(ml, set.Task), meanTrain, meanTest, "LightGbm, replaced first", 0, "missing", tsv).Metric.ToString("F4", CultureInfo.InvariantCulture));
            text.AppendLine($"| {name} ({missing} values) | {Metric(set.Task)} | " + string.Join(" | ", cells) + " |");
        }
        text.AppendLine();
    }

    private static long CountMissing(IDataView data)
    {
        long count = 0;
        foreach (var row in data.GetColumn<float[]>("Features"))
        {
            count += row.Count(float.IsNaN);
        }
        return count;
    }

    private static string Metric(DataTask task) => task switch { DataTask.Regression => "R²", DataTask.Binary => "AUC", _ => "accuracy" };

    // ---------------------------------------------------------------------------------------------

    private static void Probabilities(StringBuilder text, List<string> tsv, bool quick)
    {
        text.AppendLine("## Multiclass probabilities");
        text.AppendLine();
        text.AppendLine("Accuracy / log-loss on the held-out rows. *Before*: label smoothing 0.1 and no calibration (the default until now).");
        text.AppendLine("*Temperature-scaled*: the same network, its logits multiplied by one slope fitted on the hold-out (the default now).");
        text.AppendLine("*No smoothing*: label smoothing 0, temperature-scaled.");
        text.AppendLine();
        text.AppendLine("| data | before | temperature-scaled (default) | no smoothing, temperature-scaled | LightGbm |");
        text.AppendLine("|---|---|---|---|---|");
        foreach (string name in quick ? new[] { "vehicle" } : new[] { "vehicle", "satellite", "digits", "letter", "hpc-jobs" })
        {
            var set = BundledData.Named(name);
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 500 : null);
            var cells = new List<string>();
            foreach (var (variant, change) in new (string, Action<AutoClipNetOptionsBase>)[]
            {
                ("before: smoothing 0.1, uncalibrated", o => ((AutoClipNetMulticlassTrainer.Options)o).CalibrateProbabilities = false),
                ("temperature-scaled (default)", _ => { }),
                ("no smoothing, temperature-scaled", o => ((AutoClipNetMulticlassTrainer.Options)o).LabelSmoothing = 0),
            })
            {
                var results = SeedsFor(quick).Select(seed => Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, Options(set.Task, seed, quick, change)),
                    train, test, variant, seed, "probabilities", tsv)).ToList();
                cells.Add($"{Summary(results.Select(r => r.Metric).ToList(), "F4")} / {Summary(results.Select(r => r.Secondary).ToList(), "F4")}");
            }
            var lightGbm = Fit(ml, set, Ablation.LightGbm(ml, set.Task), train, test, "LightGbm", 0, "probabilities", tsv);
            cells.Add($"{lightGbm.Metric:F4} / {lightGbm.Secondary:F4}");
            text.AppendLine($"| {name} | " + string.Join(" | ", cells) + " |");
        }
        text.AppendLine();
    }

    // ---------------------------------------------------------------------------------------------

    private static void Intervals(StringBuilder text, List<string> tsv, bool quick)
    {
        text.AppendLine("## Prediction intervals");
        text.AppendLine();
        text.AppendLine("The default 90% interval (`PredictionIntervalCoverage = 0.9`): the share of held-out labels inside");
        text.AppendLine("[LowerBound, UpperBound], and the interval's width against the held-out labels' standard deviation.");
        text.AppendLine();
        text.AppendLine("| data | held-out rows | coverage | width / label SD | R² |");
        text.AppendLine("|---|---|---|---|---|");
        foreach (var set in BundledData.All.Where(s => s.Task == DataTask.Regression).Take(quick ? 1 : int.MaxValue))
        {
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 500 : null);
            var labels = test.GetColumn<float>("Label").ToArray();
            double mean = labels.Average(x => (double)x);
            double sd = Math.Sqrt(labels.Select(l => ((double)l - mean) * ((double)l - mean)).Average());
            var coverage = new List<double>();
            var widths = new List<double>();
            var r2 = new List<double>();
            foreach (int seed in SeedsFor(quick))
            {
                double width = 0;
                var cell = Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, Options(set.Task, seed, quick)), train, test, "default, 90% interval", seed, "intervals", tsv, model =>
                {
                    var scored = model.Transform(test);
                    var lower = scored.GetColumn<float>("LowerBound").ToArray();
                    var upper = scored.GetColumn<float>("UpperBound").ToArray();
                    width = upper[0] - lower[0];
                    return Enumerable.Range(0, labels.Length).Count(i => lower[i] <= labels[i] && labels[i] <= upper[i]) / (double)labels.Length;
                });
                coverage.Add(cell.Secondary);
                widths.Add(width / sd);
                r2.Add(cell.Metric);
            }
            text.AppendLine($"| {set.Name} | {labels.Length} | {Summary(coverage, "P1")} | {Summary(widths, "F2")} | {Summary(r2, "F4")} |");
        }
        text.AppendLine();
    }

    // ---------------------------------------------------------------------------------------------

    private static void WarmStart(StringBuilder text, List<string> tsv, bool quick)
    {
        int n = quick ? 1 : 16;
        text.AppendLine("## Warm start: N + N epochs in two fits against 2N in one");
        text.AppendLine();
        text.AppendLine($"N = {n} epochs. *N*: one fit. *N + N*: `Fit(train, model.Model)` continues it for N more (the network and AutoClip's");
        text.AppendLine("history carry over; Adam's moments and the learning-rate schedule start anew, and the second fit keeps its best epoch,");
        text.AppendLine("the first model being epoch 0). *2N*: one fit of 2N epochs. `HistoryDetail = EveryStep` so that AutoClip's history is kept.");
        text.AppendLine();
        text.AppendLine("| data | metric | N | N + N (two fits) | 2N (one fit) |");
        text.AppendLine("|---|---|---|---|---|");
        foreach (string name in quick ? new[] { "cars" } : new[] { "cars", "pima-diabetes", "vehicle", "sacramento" })
        {
            var set = BundledData.Named(name);
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 300 : null);
            var once = new List<double>();
            var twice = new List<double>();
            var double_ = new List<double>();
            foreach (int seed in SeedsFor(quick))
            {
                AutoClipNetOptionsBase O(int epochs) => Options(set.Task, seed, false, o => { o.NumberOfEpochs = epochs; o.HistoryDetail = AutoClipNetHistoryDetail.EveryStep; });
                var watch = Stopwatch.StartNew();
                var first = AutoClipNetTasks.Trainer(ml, set.Task, O(n)).Fit(train);
                double seconds = watch.Elapsed.TotalSeconds;
                once.Add(AutoClipNetTasks.Metric(ml, set.Task, first.Transform(test)));
                tsv.Add(string.Join('\t', "warmstart", set.Name, "N", seed, once[^1].ToString("R", CultureInfo.InvariantCulture), "NaN", seconds.ToString("F2", CultureInfo.InvariantCulture)));
                watch.Restart();
                ITransformer continued = set.Task switch
                {
                    DataTask.Regression => ml.Regression.Trainers.AutoClipNet((AutoClipNetTrainer.Options)O(n)).Fit(train, ((AutoClipNetPredictionTransformer)first).Model),
                    DataTask.Binary => ml.BinaryClassification.Trainers.AutoClipNet((AutoClipNetBinaryTrainer.Options)O(n))
                        .Fit(train, ((BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>>)first).Model),
                    _ => ml.MulticlassClassification.Trainers.AutoClipNet((AutoClipNetMulticlassTrainer.Options)O(n))
                        .Fit(train, ((MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters>)first).Model),
                };
                seconds = watch.Elapsed.TotalSeconds;
                twice.Add(AutoClipNetTasks.Metric(ml, set.Task, continued.Transform(test)));
                tsv.Add(string.Join('\t', "warmstart", set.Name, "N + N", seed, twice[^1].ToString("R", CultureInfo.InvariantCulture), "NaN", seconds.ToString("F2", CultureInfo.InvariantCulture)));
                double_.Add(Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, O(2 * n)), train, test, "2N", seed, "warmstart", tsv).Metric);
            }
            text.AppendLine($"| {name} | {Metric(set.Task)} | {Summary(once, "F4")} | {Summary(twice, "F4")} | {Summary(double_, "F4")} |");
        }
        text.AppendLine();
    }

    // ---------------------------------------------------------------------------------------------

    private static void Explanations(StringBuilder text, bool quick)
    {
        text.AppendLine("## What an explanation costs");
        text.AppendLine();
        text.AppendLine("`mlContext.Transforms.CalculateFeatureContribution(model)` on the default model (an ensemble of five on these sets),");
        text.AppendLine("every feature kept (no top-k), not normalized: time per explained row (after the first), and how far the contributions'");
        text.AppendLine("sum is from the score minus the baseline's score, relative to the score's scale (the largest over the rows).");
        text.AppendLine();
        text.AppendLine("| data | features | rows explained | ms per row | scoring, ms per row | largest completeness gap |");
        text.AppendLine("|---|---|---|---|---|---|");
        foreach (string name in quick ? new[] { "cars", "vehicle" } : new[] { "cars", "credit", "vehicle" })
        {
            var set = BundledData.Named(name);
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 300 : null);
            var trained = AutoClipNetTasks.Trainer(ml, set.Task, Options(set.Task, 1, quick)).Fit(train);
            var rows = ml.Data.Cache(ml.Data.TakeRows(test, quick ? 10 : 100));
            var (explainer, scale, baseline, scores, explained) = set.Task switch
            {
                DataTask.Regression => Explain(ml, (AutoClipNetPredictionTransformer)trained, rows),
                DataTask.Binary => Explain(ml, (BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>>)trained, rows),
                _ => Explain(ml, (MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters>)trained, rows),
            };
            explainer.Transform(ml.Data.TakeRows(rows, 1)).GetColumn<float[]>("FeatureContributions").ToArray(); // warm-up
            var watch = Stopwatch.StartNew();
            var contributions = explainer.Transform(rows).GetColumn<float[]>("FeatureContributions").ToArray();
            double perRow = watch.Elapsed.TotalMilliseconds / contributions.Length;
            watch.Restart();
            _ = set.Task == DataTask.Multiclass ? trained.Transform(rows).GetColumn<uint>("PredictedLabel").Count() : trained.Transform(rows).GetColumn<float>("Score").Count();
            double scoring = watch.Elapsed.TotalMilliseconds / contributions.Length;
            double gap = 0;
            for (int i = 0; i < contributions.Length; i++)
            {
                gap = Math.Max(gap, Math.Abs(contributions[i].Sum(c => (double)c) - (scores[i] - baseline[i])) / Math.Max(Math.Abs(scale), Math.Abs(scores[i] - baseline[i])));
            }
            int features = contributions[0].Length;
            text.AppendLine($"| {name} | {features} | {contributions.Length} | {perRow:F1} | {scoring:F2} | {gap:E1} |");
            Console.WriteLine($"explanations  {name}: {perRow:F1} ms per row, gap {gap:E1}, {explained}");
        }
        text.AppendLine();
    }

    private static (ITransformer Explainer, float Scale, double[] Baseline, double[] Scores, string What) Explain<T>(MLContext ml, ISingleFeaturePredictionTransformer<T> model, IDataView rows)
        where T : class
    {
        var parameters = model.Model switch
        {
            AutoClipNetModelParametersBase<float> single => (object)single,
            CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator> calibrated => calibrated.SubModel,
            AutoClipNetMulticlassModelParameters multiclass => multiclass,
            _ => throw new ArgumentException(model.Model.GetType().Name),
        };
        var features = rows.GetColumn<float[]>("Features").ToArray();
        ITransformer explainer;
        float scale;
        double[] baseline, scores;
        switch (parameters)
        {
            case AutoClipNetModelParameters regression:
                explainer = ml.Transforms.CalculateFeatureContribution((AutoClipNetPredictionTransformer)(object)model, 10_000, 10_000, normalize: false).Fit(rows);
                scale = regression.LabelStandardization.Scale;
                double regressionBaseline = regression.ContributionBaselineScore()[0];
                baseline = features.Select(_ => regressionBaseline).ToArray();
                scores = features.Select(f => (double)regression.ContributionScores(f)[0]).ToArray();
                return (explainer, scale, baseline, scores, "regression score");
            case AutoClipNetBinaryModelParameters binary:
                explainer = ml.Transforms.CalculateFeatureContribution(
                    (BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>>)(object)model, 10_000, 10_000, normalize: false).Fit(rows);
                double binaryBaseline = binary.ContributionBaselineScore()[0];
                baseline = features.Select(_ => binaryBaseline).ToArray();
                scores = features.Select(f => (double)binary.ContributionScores(f)[0]).ToArray();
                return (explainer, 1, baseline, scores, "logit");
            default:
                var multiclass = (AutoClipNetMulticlassModelParameters)parameters;
                explainer = ml.Transforms.CalculateFeatureContribution((MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters>)(object)model, 10_000, 10_000, normalize: false).Fit(rows);
                var all = features.Select(f => multiclass.ContributionScores(f)).ToArray();
                var classes = all.Select(s => Array.IndexOf(s, s.Max())).ToArray();
                var b = multiclass.ContributionBaselineScore();
                baseline = classes.Select(c => (double)b[c]).ToArray();
                scores = all.Select((s, i) => (double)s[classes[i]]).ToArray();
                return (explainer, multiclass.ProbabilitySlope, baseline, scores, "predicted class's logit");
        }
    }
}
