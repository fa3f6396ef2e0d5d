using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;

namespace Microsoft.ML.AutoClip.Studies;

/// <summary>
/// Where the default AutoClipNet stays behind LightGbm (flights-200k and hpc-jobs in bench/RESULTS.md), how much of
/// LightGbm's lead comes from telling feature values apart finely: LightGbm with fewer histogram bins per feature
/// (255 is its default), beside AutoClipNet, each on the held-out rows and on the rows it trained on.
/// </summary>
internal static class Resolution
{
    private static readonly int[] Bins = { 255, 64, 16, 8, 4 };

    /// <summary>Bins of the piecewise-linear encodings measured.</summary>
    private const int EncodingBins = 32;

    /// <summary>Where piecewise-linear encodings are measured: the two sets above and others of every task.</summary>
    private static readonly string[] EncodingSets = { "flights-200k", "hpc-jobs", "cars", "diabetes", "sacramento", "telco-churn", "credit", "pima-diabetes", "attrition", "letter", "satellite" };

    public static void Run(string docs, bool quick)
    {
        var sets = new[] { BundledData.FlightsSet, BundledData.HpcJobsSet };
        var lines = new List<string>();
        foreach (var set in sets)
        {
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 600 : null);
            var cells = new List<string>();
            foreach (int bins in quick ? Bins.Take(2) : Bins)
            {
                IEstimator<ITransformer> trainer = set.Task == DataTask.Regression
                    ? ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options { MaximumBinCountPerFeature = bins })
                    : ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options { MaximumBinCountPerFeature = bins });
                cells.Add(Measure(ml, set, trainer, train, test, $"LightGbm, {bins} bins"));
            }
            var options = AutoClipNetTasks.NewOptions(set.Task);
            options.Seed = 1;
            if (quick)
            {
                options.NumberOfEpochs = 1;
            }
            cells.Add(Measure(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, options), train, test, "AutoClipNet, defaults"));
            lines.Add($"| {set.Name} ({(set.Task == DataTask.Regression ? "R²" : "accuracy")}) | " + string.Join(" | ", cells) + " |");
        }
        var text = new StringBuilder();
        text.AppendLine("# Where LightGbm's lead comes from: telling values apart");
        text.AppendLine();
        text.AppendLine("Command: `dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Studies -- resolution` (five minutes)  ");
        text.AppendLine($"Machine: {StudyTools.MachineLine()}; {DateTime.UtcNow:yyyy-MM-dd} UTC.");
        text.AppendLine();
        text.AppendLine("On two bundled sets the default AutoClipNet stays clearly behind LightGbm (bench/RESULTS.md, section 6). LightGbm sorts");
        text.AppendLine("each feature's values into at most 255 bins and splits between any two of them. Here it is limited to fewer bins per");
        text.AppendLine("feature, beside AutoClipNet (seed 1), on the held-out 20% (TrainTestSplit seed 1) and on the rows each trained on. Cells:");
        text.AppendLine("held-out / training rows.");
        text.AppendLine();
        text.AppendLine("| data | " + string.Join(" | ", (quick ? Bins.Take(2) : Bins).Select(b => $"LightGbm, {b} bins")) + " | AutoClipNet, defaults |");
        text.AppendLine("|---|" + string.Concat((quick ? Bins.Take(2) : Bins).Select(_ => "---|")) + "---|");
        foreach (string line in lines)
        {
            text.AppendLine(line);
        }
        text.AppendLine();
        text.AppendLine("## Piecewise-linear encodings");
        text.AppendLine();
        text.AppendLine("Does giving the network fine value resolution close the gap? `PiecewiseLinearBins = 32` adds, for each numeric");
        text.AppendLine("feature, its position in each of 32 bins between quantiles of the training rows (Gorishniy et al., NeurIPS 2022: −1 below");
        text.AppendLine("a bin, 1 above it), with the periodic embeddings kept, or in their place (`EmbeddingFrequencies = 0`); everything else");
        text.AppendLine("is the default. Seed 1; cells: held-out / training rows, then the difference from the default on the held-out rows.");
        text.AppendLine();
        text.AppendLine("| data | AutoClipNet, defaults | with 32-bin encodings | difference | encodings instead of the embeddings | difference |");
        text.AppendLine("|---|---|---|---|---|---|");
        foreach (string name in quick ? EncodingSets.Take(2) : EncodingSets)
        {
            var set = BundledData.Named(name);
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 600 : null);
            AutoClipNetOptionsBase Options(int bins, int? embeddings)
            {
                var options = AutoClipNetTasks.NewOptions(set.Task);
                options.Seed = 1;
                options.PiecewiseLinearBins = bins;
                options.EmbeddingFrequencies = embeddings;
                if (quick)
                {
                    options.NumberOfEpochs = 1;
                }
                return options;
            }
            var plain = Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, Options(0, null)), train, test, "AutoClipNet, defaults");
            var added = Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, Options(EncodingBins, null)), train, test, "with encodings");
            var instead = Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, Options(EncodingBins, 0)), train, test, "encodings, no embeddings");
            string metric = set.Task == DataTask.Regression ? "R²" : set.Task == DataTask.Binary ? "AUC" : "accuracy";
            text.AppendLine($"| {name} ({metric}) | {plain.HeldOut:F4} / {plain.Trained:F4} | {added.HeldOut:F4} / {added.Trained:F4} | {added.HeldOut - plain.HeldOut:+0.0000;-0.0000} | " +
                $"{instead.HeldOut:F4} / {instead.Trained:F4} | {instead.HeldOut - plain.HeldOut:+0.0000;-0.0000} |");
        }
        string path = Path.Combine(docs, quick ? "resolution-quick.md" : "resolution.md");
        File.WriteAllText(path, text.ToString());
        Console.WriteLine($"Written to {path}");
    }

    private static string Measure(MLContext ml, BundledDataSet set, IEstimator<ITransformer> trainer, IDataView train, IDataView test, string name)
    {
        var (heldOut, trained) = Fit(ml, set, trainer, train, test, name);
        return $"{heldOut:F4} / {trained:F4}";
    }

    private static (double HeldOut, double Trained) Fit(MLContext ml, BundledDataSet set, IEstimator<ITransformer> trainer, IDataView train, IDataView test, string name)
    {
        var watch = Stopwatch.StartNew();
        var model = trainer.Fit(train);
        double seconds = watch.Elapsed.TotalSeconds;
        double heldOut = AutoClipNetTasks.Metric(ml, set.Task, model.Transform(test));
        double trained = AutoClipNetTasks.Metric(ml, set.Task, model.Transform(train));
        Console.WriteLine($"{set.Name,-14} {name,-30} held-out {heldOut:F4}  training rows {trained:F4}  {seconds:F1} s");
        return (heldOut, trained);
    }
}

