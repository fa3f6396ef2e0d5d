using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using ScottPlot;

namespace Microsoft.ML.AutoClip.Studies;

/// <summary>
/// Learning-rate robustness: a grid of learning rates × {no clipping, a fixed threshold, AutoClip p = 1,
/// 10, 50} × seeds on four real data sets; held-out RMSE and the number of runs that diverged. The hard regime
/// (<c>--hard</c>, docs/lr-study-hard.md) is where clipping can matter: SGD with momentum and Adam at high
/// learning rates, the label not standardized (gradients in the label's units).
/// </summary>
internal static class LearningRateStudy
{
    private sealed record DataSet(string Name, IDataView Train, IDataView Test, int Epochs, string Description);

    private sealed record Setting(string Name, AutoClipNetClipping Clipping, double Percentile, double FixedNorm, AutoClipNetOptimizer Optimizer = AutoClipNetOptimizer.Adam);

    private sealed record Result(string Data, string Setting, double LearningRate, int Seed, double Rmse, bool Diverged, string? Error);

    public sealed class CarRow
    {
        public float Label { get; set; }

        [VectorType(8)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private static string DataPath(string file) => Shared.BundledData.PathOf(file);

    private static IEnumerable<DataSet> DataSets(MLContext ml, bool quick, bool hard)
    {
        // The hard regime takes fewer rows of the two large sets (its grid is larger; the recipe's ~1,000 steps either way).
        int diamondRows = quick ? 1_000 : hard ? 3_000 : 10_000, flightRows = quick ? 1_000 : hard ? 5_000 : 20_000;
        var diamondsRaw = Shared.BundledData.Diamonds(ml);
        diamondsRaw = ml.Data.TakeRows(ml.Data.ShuffleRows(diamondsRaw, seed: 11), diamondRows);
        var diamonds = Shared.BundledData.DiamondsFeaturizer(ml);
        yield return Split(ml, "diamonds", diamonds.Fit(diamondsRaw).Transform(diamondsRaw), quick ? 2 : 10, $"price from 26 features, {diamondRows:N0} rows");

        var flightsRaw = Shared.BundledData.Flights(ml);
        flightsRaw = ml.Data.TakeRows(ml.Data.ShuffleRows(flightsRaw, seed: 11), flightRows);
        yield return Split(ml, "flights", Shared.BundledData.FlightsFeaturizer(ml).Fit(flightsRaw).Transform(flightsRaw), quick ? 2 : 5,
            $"delay in minutes (heavy right tail) from 2 features, {flightRows:N0} rows");

        yield return Split(ml, "cars", ml.Data.LoadFromEnumerable(Cars()), quick ? 5 : 100, "miles per gallon from 8 features, 392 complete rows");

        var diabetesColumns = Enumerable.Range(0, 10).Select(i => new TextLoader.Column($"f{i}", DataKind.Single, i)).Append(new TextLoader.Column("Label", DataKind.Single, 10)).ToArray();
        var diabetesRaw = ml.Data.LoadFromTextFile(DataPath("diabetes.csv"), diabetesColumns, separatorChar: ',', hasHeader: true);
        yield return Split(ml, "diabetes", ml.Transforms.Concatenate("Features", Enumerable.Range(0, 10).Select(i => $"f{i}").ToArray()).Fit(diabetesRaw).Transform(diabetesRaw),
            quick ? 5 : 100, "disease progression from 10 features, 442 rows");
    }

    private static DataSet Split(MLContext ml, string name, IDataView data, int epochs, string description)
    {
        var split = ml.Data.TrainTestSplit(data, testFraction: 0.2, seed: 0);
        return new DataSet(name, ml.Data.Cache(split.TrainSet), ml.Data.Cache(split.TestSet), epochs, description);
    }

    /// <summary>cars.csv: MPG from cylinders, displacement, horsepower, weight, acceleration, model year and origin (one-hot); rows with a missing value are left out.</summary>
    private static IEnumerable<CarRow> Cars()
    {
        foreach (string line in File.ReadLines(DataPath("cars.csv")).Skip(1))
        {
            string[] f = line.Split(',');
            if (f.Length != 9 || f[1].Length == 0 || f[4].Length == 0)
            {
                continue;
            }
            float Parse(string s) => float.Parse(s, CultureInfo.InvariantCulture);
            var features = new float[8];
            features[0] = Parse(f[2]);
            features[1] = Parse(f[3]);
            features[2] = Parse(f[4]);
            features[3] = Parse(f[5]);
            features[4] = Parse(f[6]);
            features[5] = int.Parse(f[7][..4], CultureInfo.InvariantCulture);
            features[6] = f[8] == "Europe" ? 1 : 0; // origin, one-hot against USA
            features[7] = f[8] == "Japan" ? 1 : 0;
            yield return new CarRow { Label = Parse(f[1]), Features = features };
        }
    }

    public static void Run(string docs, bool quick, bool hard = false)
    {
        var ml = new MLContext(seed: 0);
        // Around the default recipe's peak rate (0.07 for regression), up to rates far too large for it.
        double[] learningRates = quick ? new[] { 0.01, 0.07, 1.0 } : hard ? new[] { 0.01, 0.1, 1.0 } : new[] { 1e-3, 1e-2, 0.07, 0.3, 1.0 };
        var settings = hard
            ? new[] { AutoClipNetOptimizer.Sgd, AutoClipNetOptimizer.Adam }.SelectMany(o => new[]
            {
                new Setting($"{o}, no clipping", AutoClipNetClipping.None, 0, 0, o),
                new Setting($"{o}, fixed norm 1", AutoClipNetClipping.FixedNorm, 0, 1.0, o),
                new Setting($"{o}, AutoClip p = 10", AutoClipNetClipping.AutoClip, 10, 0, o),
            }).ToArray()
            : new[]
            {
                new Setting("no clipping", AutoClipNetClipping.None, 0, 0),
                new Setting("fixed norm 1", AutoClipNetClipping.FixedNorm, 0, 1.0),
                new Setting("AutoClip p = 1", AutoClipNetClipping.AutoClip, 1, 0),
                new Setting("AutoClip p = 10", AutoClipNetClipping.AutoClip, 10, 0),
                new Setting("AutoClip p = 50", AutoClipNetClipping.AutoClip, 50, 0),
            };
        int[] seeds = quick ? new[] { 1 } : hard ? new[] { 1, 2 } : new[] { 1, 2, 3 };
        var results = new List<Result>();
        var dataSets = DataSets(ml, quick, hard).ToList();
        foreach (var data in dataSets)
        {
            foreach (var setting in settings)
            {
                foreach (double lr in learningRates)
                {
                    foreach (int seed in seeds)
                    {
                        var options = new AutoClipNetTrainer.Options
                        {
                            Clipping = setting.Clipping,
                            Percentile = setting.Clipping == AutoClipNetClipping.AutoClip ? setting.Percentile : 10,
                            FixedClipNorm = setting.FixedNorm > 0 ? setting.FixedNorm : 1,
                            LearningRate = lr,
                            NumberOfEpochs = quick ? data.Epochs : null, // the recipe's, by data size
                            Seed = seed,
                            Optimizer = setting.Optimizer,
                            StandardizeLabel = !hard,
                            EnsembleSize = 1, // how one network trains at each learning rate (the study predates ensembles)
                        };
                        double rmse;
                        bool diverged = false;
                        string? error = null;
                        try
                        {
                            var model = ml.Regression.Trainers.AutoClipNet(options).Fit(data.Train);
                            rmse = ml.Regression.Evaluate(model.Transform(data.Test)).RootMeanSquaredError;
                            diverged = !double.IsFinite(rmse);
                        }
                        catch (InvalidOperationException e) when (e.Message.Contains("diverged", StringComparison.Ordinal))
                        {
                            rmse = double.NaN;
                            diverged = true;
                            error = e.Message;
                        }
                        results.Add(new Result(data.Name, setting.Name, lr, seed, rmse, diverged, error));
                        Console.WriteLine($"{data.Name,-9} {setting.Name,-16} lr {lr,-7} seed {seed}: {(diverged ? "diverged" : $"RMSE {rmse:F3}")}");
                    }
                }
            }
        }
        Write(docs, quick, hard, dataSets, settings, learningRates, seeds, results);
    }

    private static void Write(string docs, bool quick, bool hard, List<DataSet> dataSets, Setting[] settings, double[] learningRates, int[] seeds, List<Result> results)
    {
        string name = hard ? "lr-study-hard" : "lr-study";
        var md = new StringBuilder();
        md.AppendLine(hard ? "# Learning-rate robustness of AutoClip where clipping can matter: SGD and Adam, label not standardized" : "# Learning-rate robustness of AutoClip");
        md.AppendLine();
        md.AppendLine($"Regenerate with `dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Studies -- lr-study{(hard ? " --hard" : "")}`.");
        md.AppendLine();
        if (hard)
        {
            md.AppendLine("The regime where clipping is meant to matter: the optimizer is SGD with momentum 0.9 or Adam, the learning rate goes up");
            md.AppendLine("to 1, and the label is **not** standardized (`StandardizeLabel = false`), so the loss and its gradients are in the label's");
            md.AppendLine("units squared (diamond prices in dollars: gradients of millions). Everything else as below.");
            md.AppendLine();
        }
        md.AppendLine($"AutoClipNet with the default recipe (robust-scaled features with periodic embeddings, three NTK layers of 256 SELU units,");
        md.AppendLine("Adam with β2 0.95 on the CosLog4 schedule, about 1,000 steps of 256 rows, the best epoch on a 20% hold-out, standardized label)");
        md.AppendLine($"except the peak learning rate (default 0.07) and the clipping; {seeds.Length} seeds each; held-out RMSE on a fixed 20% split, in the label's units (mean ± standard");
        md.AppendLine("deviation over the seeds that did not diverge). A run *diverged* when training stopped with AutoClipNet's divergence error or the");
        md.AppendLine("held-out RMSE was not a finite number. Machine: " + Shared.StudyTools.MachineLine() + ".");
        md.AppendLine();
        foreach (var data in dataSets)
        {
            md.AppendLine($"## {data.Name}: {data.Description}");
            md.AppendLine();
            md.AppendLine("| clipping | " + string.Join(" | ", learningRates.Select(lr => $"lr {lr:G}")) + " |");
            md.AppendLine("|---|" + string.Concat(learningRates.Select(_ => "---|")));
            var plot = new Plot();
            foreach (var setting in settings)
            {
                var cells = new List<string>();
                var means = new List<(double Lr, double Mean)>();
                foreach (double lr in learningRates)
                {
                    var runs = results.Where(r => r.Data == data.Name && r.Setting == setting.Name && r.LearningRate == lr).ToList();
                    var ok = runs.Where(r => !r.Diverged).Select(r => r.Rmse).ToList();
                    int diverged = runs.Count - ok.Count;
                    string cell = ok.Count == 0 ? "—" : ok.Count == 1 ? $"{ok[0]:G4}" : $"{ok.Average():G4} ± {Std(ok):G2}";
                    if (diverged > 0)
                    {
                        cell += $" ({diverged} of {runs.Count} diverged)";
                    }
                    cells.Add(cell);
                    if (ok.Count > 0)
                    {
                        means.Add((Math.Log10(lr), ok.Average()));
                    }
                }
                md.AppendLine($"| {setting.Name} | {string.Join(" | ", cells)} |");
                if (means.Count > 0)
                {
                    var line = plot.Add.Scatter(means.Select(m => m.Lr).ToArray(), means.Select(m => m.Mean).ToArray());
                    line.LegendText = setting.Name;
                    line.LineWidth = 2;
                    line.MarkerSize = 6;
                }
            }
            md.AppendLine();
            md.AppendLine($"![{data.Name}](figures/{name}-{data.Name}.png)");
            md.AppendLine();
            plot.Title($"{data.Name}: held-out RMSE against learning rate (mean of {seeds.Length} seeds)");
            plot.Axes.Bottom.Label.Text = "log10 learning rate";
            plot.Axes.Left.Label.Text = "held-out RMSE";
            plot.ShowLegend();
            plot.SavePng(Path.Combine(docs, "figures", $"{name}-{data.Name}.png"), 700, 420);
        }
        int total = results.Count, divergedRuns = results.Count(r => r.Diverged);
        md.AppendLine($"Runs: {total}; diverged: {divergedRuns}.");
        md.AppendLine();
        md.AppendLine("Diverged runs by clipping: " + string.Join("; ", settings.Select(s => $"{s.Name} {results.Count(r => r.Setting == s.Name && r.Diverged)} of {results.Count(r => r.Setting == s.Name)}")) + ".");
        md.AppendLine();
        md.AppendLine("## Raw results");
        md.AppendLine();
        md.AppendLine("| data | clipping | learning rate | seed | held-out RMSE |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var r in results)
        {
            md.AppendLine($"| {r.Data} | {r.Setting} | {r.LearningRate:G} | {r.Seed} | {(r.Diverged ? "diverged" : r.Rmse.ToString("G5", CultureInfo.InvariantCulture))} |");
        }
        File.WriteAllText(Path.Combine(docs, name + ".md"), md.ToString());
        Console.WriteLine($"Wrote {Path.Combine(docs, name + ".md")}");
    }

    private static double Std(List<double> values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
