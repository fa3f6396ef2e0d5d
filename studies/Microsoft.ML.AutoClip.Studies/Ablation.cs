using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.AutoClipNet.Training;

namespace Microsoft.ML.AutoClip.Studies;

/// <summary>
/// The ingredients of the default recipe, measured: every bundled data set, the default, the default with one
/// ingredient taken out (or changed), with and without AutoClip, the previous network, and LightGbm for scale.
/// Held-out 20% (TrainTestSplit seed 1), the featurizer fitted on the training rows, the headline metric
/// (R², AUC, accuracy) and the fit time; one run per cell, as users would see it.
/// </summary>
internal static class Ablation
{
    /// <summary>A variant of the recipe: its name and how it changes a task's options.</summary>
    internal sealed record Variant(string Name, Action<AutoClipNetOptionsBase> Change);

    private sealed record Result(string Data, DataTask Task, string Variant, double Metric, double Secondary, double Seconds, string? Error, string Members = "");

    /// <summary>
    /// Where an AutoClipNet fit's members kept their best epoch, one "best/epochs/kept3/kept2/stopped" per member (separated by
    /// spaces): epochs are the planned ones (<paramref name="plannedEpochs"/>, which the log's cycle stop names, else the epochs
    /// run), kept3 and kept2 the lowest validation error up to the end of CosLog4's third and second cycles (t = 7/15 and 3/15
    /// of the epochs) over the lowest of the run, i.e. what a stop at that cycle boundary would have kept, and stopped 1 when
    /// the run ended before its planned epochs (results files written before the last field have four).
    /// </summary>
    private static string MemberEpochs(ITransformer model, int? plannedEpochs)
    {
        IAutoClipNetModel parameters;
        try
        {
            parameters = AutoClipNetTasks.ModelOf(model);
        }
        catch (ArgumentException)
        {
            return "";
        }
        return string.Join(' ', parameters.MemberTrainingHistories.Select(h =>
        {
            var errors = h.Epochs.Select(e => e.ValidationError).ToArray();
            int planned = Math.Max(errors.Length, plannedEpochs ?? 0);
            double best = errors.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Min();
            double Kept(int cycle)
            {
                double kept = errors.Take(Math.Max(1, Microsoft.ML.AutoClipNet.Training.Recipe.CosLog4CycleEnd(cycle, planned))).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Min();
                return kept == best ? 1 : kept / best; // a best error of 0 kept is nothing lost, not 0/0
            }
            return string.Create(CultureInfo.InvariantCulture, $"{h.BestEpoch}/{planned}/{Kept(3):R}/{Kept(2):R}/{(errors.Length < planned ? 1 : 0)}");
        }));
    }

    private static Func<Recipe, Recipe> Chain(Func<Recipe, Recipe>? first, Func<Recipe, Recipe> second) => r => second(first?.Invoke(r) ?? r);

    internal static Variant Recipe(string name, Func<Recipe, Recipe> change) => new(name, o => o.RecipeOverride = Chain(o.RecipeOverride, change));

    /// <summary>The variants, each the default with one change.</summary>
    internal static IReadOnlyList<Variant> Variants() => new Variant[]
    {
        new("default", _ => { }),
        // What another seed alone changes (initialisation, hold-out, shuffling): the yardstick for every row below.
        new("default, seed 2", o => o.Seed = 2),
        new("default, seed 3", o => o.Seed = 3),
        new("default, seed 4", o => o.Seed = 4),
        new("no AutoClip", o => o.Clipping = AutoClipNetClipping.None),
        new("fixed clip norm 1", o => { o.Clipping = AutoClipNetClipping.FixedNorm; o.FixedClipNorm = 1; }),
        new("no periodic embeddings", o => o.EmbeddingFrequencies = 0),
        new("standardized, not robust-scaled", o => o.FeatureScaling = AutoClipNetFeatureScaling.Standardize),
        Recipe("no scale layer", r => r with { FeatureScaleLayer = false }),
        Recipe("standard init, not NTK", r => r with { HiddenInit = Microsoft.ML.AutoClipNet.Network.DenseInit.Uniform, OutputInit = Microsoft.ML.AutoClipNet.Network.DenseInit.Uniform, LearningRate = 1e-3 }),
        Recipe("output not zero-initialised", r => r with { OutputInit = Microsoft.ML.AutoClipNet.Network.DenseInit.NtkNormal }),
        new("Mish (RealMLP's for regression)", o => o.Activation = AutoClipNetActivation.Mish),
        new("ReLU", o => o.Activation = AutoClipNetActivation.ReLU),
        new("width 128, not 256", o => o.HiddenLayerSizes = new[] { 128, 128, 128 }),
        Parse("steps=4096") with { Name = "4x the steps (4,096)" },
        new("Adam β2 0.999", o => o.AdamBeta2 = 0.999),
        new("constant learning rate", o => o.LearningRateSchedule = AutoClipNetLearningRateSchedule.Constant),
        new("keep the last partial batch", o => o.DropLastPartialBatch = false),
        new("no hold-out (last epoch)", o => o.ValidationFraction = 0),
        new("best epoch by loss", o => o.EpochSelection = AutoClipNetEpochSelection.ValidationLoss),
        new("label smoothing off/on", o =>
        {
            if (o is AutoClipNetMulticlassTrainer.Options m)
            {
                m.LabelSmoothing = 0;
            }
            else if (o is AutoClipNetBinaryTrainer.Options b)
            {
                b.LabelSmoothing = 0.1;
            }
        }),
        new("no temperature scaling (binary)", o =>
        {
            if (o is AutoClipNetBinaryTrainer.Options b)
            {
                b.CalibrateProbabilities = false;
            }
        }),
        new("previous network (Mlp)", o => o.Architecture = AutoClipNetArchitecture.Mlp),
        new("one network, not an ensemble", o => o.EnsembleSize = 1),
    };

    /// <summary>
    /// A variant written as settings, "effort=Fast;epochs=32;width=128;activation=Selu;batch=512;lr=0.05;scaling=Standardize;embeddings=0;
    /// sigma=0.1;ensemble=1;ple=32;clipping=None;beta2=0.999;schedule=Constant;holdout=0.2;smoothing=0": for exploring beyond the listed variants.
    /// </summary>
    internal static Variant Parse(string name) => new(name, o =>
    {
        int? epochCap = null;
        foreach (string setting in name.Split(';'))
        {
            var parts = setting.Split('=', 2);
            if (parts.Length != 2)
            {
                throw new ArgumentException($"'{setting}' is not key=value (variant '{name}').");
            }
            string value = parts[1];
            double number() => double.Parse(value, CultureInfo.InvariantCulture);
            switch (parts[0])
            {
                case "epochs": o.NumberOfEpochs = (int)number(); break;
                case "effort": o.Effort = Enum.Parse<AutoClipNetEffort>(value); break;
                case "seed": o.Seed = (int)number(); break;
                case "scalelayer": o.RecipeOverride = Chain(o.RecipeOverride, r => r with { FeatureScaleLayer = bool.Parse(value) }); break;
                case "steps":
                    int budget = (int)number();
                    o.RecipeOverride = Chain(o.RecipeOverride, r => o.NumberOfEpochs is null
                        ? r with { Epochs = Microsoft.ML.AutoClipNet.Training.Recipe.DefaultEpochs(r.TrainingRows, r.BatchSize, r.DropLastPartialBatch, budget) } // capped at 256 epochs, as when docs/ablation.md ran it: cap= caps lower
                        : r);
                    break;
                case "cap":
                    // The most epochs the step budget may give (the effort's cap otherwise): what small data reaches first. Applied
                    // after every other setting, wherever it stands in the variant.
                    epochCap = (int)number();
                    break;
                case "small":
                    // The members of the ensemble on small data (up to Recipe.DefaultEnsembleMaxRows training rows; one above), as the effort's SmallDataMembers.
                    int members = (int)number();
                    o.RecipeOverride = Chain(o.RecipeOverride, r => o.EnsembleSize is null ? r with { EnsembleSize = Microsoft.ML.AutoClipNet.Training.Recipe.DefaultEnsembleSize(r.TrainingRows, members) } : r);
                    break;
                case "width": o.HiddenLayerSizes = Enumerable.Repeat((int)number(), o.HiddenLayerSizes?.Length ?? 3).ToArray(); break;
                case "depth": o.HiddenLayerSizes = Enumerable.Repeat(o.HiddenLayerSizes?.FirstOrDefault() ?? 256, (int)number()).ToArray(); break;
                case "activation": o.Activation = Enum.Parse<AutoClipNetActivation>(value); break;
                case "batch": o.BatchSize = (int)number(); break;
                case "lr": o.LearningRate = number(); break;
                case "scaling": o.FeatureScaling = Enum.Parse<AutoClipNetFeatureScaling>(value); break;
                case "embeddings": o.EmbeddingFrequencies = (int)number(); break;
                case "sigma": o.RecipeOverride = Chain(o.RecipeOverride, r => r with { EmbeddingSigma = number() }); break;
                case "ensemble": o.EnsembleSize = (int)number(); break;
                case "ple": o.PiecewiseLinearBins = (int)number(); break;
                case "clipping": o.Clipping = Enum.Parse<AutoClipNetClipping>(value); break;
                case "percentile": o.Percentile = number(); break;
                case "beta2": o.AdamBeta2 = number(); break;
                case "schedule": o.LearningRateSchedule = Enum.Parse<AutoClipNetLearningRateSchedule>(value); break;
                case "holdout": o.ValidationFraction = number(); break;
                case "cyclestop": o.CycleEarlyStopping = bool.Parse(value); break;
                case "selection": o.EpochSelection = Enum.Parse<AutoClipNetEpochSelection>(value); break;
                case "weightdecay": o.WeightDecay = number(); o.Optimizer = AutoClipNetOptimizer.AdamW; break;
                case "categorical":
                    // categorical=drop: the data without its categorical columns (Run featurizes it so); no option changes. Its fit
                    // time bounds what a cheaper first layer for the one-hot slots could save (issue 20's lookup lever).
                    if (value != "drop")
                    {
                        throw new ArgumentException($"'{setting}': the only value is drop (variant '{name}').");
                    }
                    break;
                case "architecture": o.Architecture = Enum.Parse<AutoClipNetArchitecture>(value); break;
                case "calibrate": ((AutoClipNetBinaryTrainer.Options)o).CalibrateProbabilities = bool.Parse(value); break;
                case "smoothing":
                    if (o is AutoClipNetMulticlassTrainer.Options m)
                    {
                        m.LabelSmoothing = number();
                    }
                    else if (o is AutoClipNetBinaryTrainer.Options b)
                    {
                        b.LabelSmoothing = number();
                    }
                    break;
                default: throw new ArgumentException($"Unknown setting '{parts[0]}' in variant '{name}'.");
            }
        }
        if (epochCap is int cap)
        {
            o.RecipeOverride = Chain(o.RecipeOverride, r => o.NumberOfEpochs is null ? r with { Epochs = Math.Min(r.Epochs, Math.Max(cap, Microsoft.ML.AutoClipNet.Training.Recipe.MinimumDefaultEpochs)) } : r);
        }
    });

    public static void Run(string docs, bool quick, string[] args)
    {
        string? setsArgument = args.SkipWhile(a => a != "--sets").Skip(1).FirstOrDefault();
        string? variantsArgument = args.SkipWhile(a => a != "--variants").Skip(1).FirstOrDefault();
        var sets = setsArgument is null ? (quick ? new[] { BundledData.CarsSet, BundledData.BreastCancerSet, BundledData.VehicleSet } : BundledData.All)
            : setsArgument.Split(',').Select(BundledData.Named).ToArray();
        var variants = variantsArgument is null ? Variants().ToList()
            : variantsArgument.Split(variantsArgument.Contains('|') ? '|' : ',').Select(name => Variants().FirstOrDefault(v => v.Name == name) ?? Parse(name)).ToList();
        var columns = variants.Select(v => v.Name).Append("LightGbm").ToArray();
        // --members N: every variant with N networks unless it says otherwise (docs/ablation.md measured single networks: --members 1).
        string? membersArgument = args.SkipWhile(a => a != "--members").Skip(1).FirstOrDefault();
        int? members = membersArgument is null ? null : int.Parse(membersArgument, CultureInfo.InvariantCulture);

        // Every cell is appended to the results file as soon as it is measured; --resume keeps the cells already
        // there (a long run that was interrupted goes on where it stopped), otherwise the file starts afresh.
        // --output name writes name.md and name.tsv instead of ablation.md and ablation.tsv (a follow-up beside the main table).
        string stem = args.SkipWhile(a => a != "--output").Skip(1).FirstOrDefault() ?? "ablation";
        string resultsPath = Path.Combine(docs, quick ? stem + "-quick.tsv" : stem + ".tsv");
        var results = args.Contains("--resume") && File.Exists(resultsPath) ? ReadResults(resultsPath) : new List<Result>();
        WriteResults(resultsPath, results);
        // Untimed, once per task with cells to measure: the default and LightGbm fitted on 300 rows of the task's first such set,
        // so that no timed fit carries the natives' loading and the compilation (the first fit in a process took about 1 s more).
        foreach (var first in sets.Where(s => columns.Any(c => !results.Any(r => r.Data == s.Name && r.Variant == c))).GroupBy(s => s.Task).Select(g => g.First()))
        {
            var ml = new MLContext(seed: 0);
            var (few, _) = BundledData.HeldOutSplit(ml, first, 300);
            var options = AutoClipNetTasks.NewOptions(first.Task);
            options.Seed = 1;
            FitTiming.WarmUp(new[] { ("AutoClipNet", AutoClipNetTasks.Trainer(ml, first.Task, options)), ("LightGbm", LightGbm(ml, first.Task)) }, few);
        }
        foreach (var set in sets)
        {
            var missing = columns.Where(c => !results.Any(r => r.Data == set.Name && r.Variant == c)).ToHashSet();
            if (missing.Count == 0)
            {
                continue;
            }
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 400 : null);
            BundledData.ReadEveryRow(train);
            BundledData.ReadEveryRow(test);
            (IDataView Train, IDataView Test)? numericOnly = null;
            foreach (var variant in variants.Where(v => missing.Contains(v.Name)))
            {
                var (variantTrain, variantTest) = (train, test);
                if (variant.Name.Split(';').Contains("categorical=drop"))
                {
                    // The same rows and split, featurized without the categorical columns.
                    numericOnly ??= BundledData.HeldOutSplit(ml, set with { Categorical = Array.Empty<string>(), Ignore = (set.Ignore ?? Array.Empty<string>()).Concat(set.Categorical).ToArray() }, quick ? 400 : null);
                    BundledData.ReadEveryRow(numericOnly.Value.Train);
                    BundledData.ReadEveryRow(numericOnly.Value.Test);
                    (variantTrain, variantTest) = numericOnly.Value;
                }
                var options = AutoClipNetTasks.NewOptions(set.Task);
                options.Seed = 1;
                options.EnsembleSize = members;
                if (quick)
                {
                    options.NumberOfEpochs = 2;
                }
                variant.Change(options);
                Add(Measure(ml, set, variant.Name, AutoClipNetTasks.Trainer(ml, set.Task, options), variantTrain, variantTest, network: true));
            }
            if (missing.Contains("LightGbm"))
            {
                Add(Measure(ml, set, "LightGbm", LightGbm(ml, set.Task), train, test));
            }
        }
        var names = sets.Select(s => s.Name).ToHashSet();
        Write(docs, stem, results.Where(r => names.Contains(r.Data) && columns.Contains(r.Variant)).ToList(), sets, columns, quick, args);

        void Add(Result result)
        {
            results.Add(result);
            File.AppendAllText(resultsPath, Line(result) + "\n");
        }
    }

    private const string Header = "data\ttask\tvariant\tmetric\tsecondary\tseconds\terror\tmembers";

    private static string Line(Result r) => string.Join('\t', r.Data, r.Task, r.Variant,
        r.Metric.ToString("R", CultureInfo.InvariantCulture), r.Secondary.ToString("R", CultureInfo.InvariantCulture),
        r.Seconds.ToString("F3", CultureInfo.InvariantCulture), r.Error?.ReplaceLineEndings(" ").Replace('\t', ' ') ?? "", r.Members);

    private static void WriteResults(string path, List<Result> results) =>
        File.WriteAllLines(path, results.Select(Line).Prepend(Header));

    private static List<Result> ReadResults(string path) => File.ReadLines(path).Skip(1)
        .Where(line => line.Length > 0)
        .Select(line => line.Split('\t'))
        .Select(f => new Result(f[0], Enum.Parse<DataTask>(f[1]), f[2],
            double.Parse(f[3], CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture),
            double.Parse(f[5], CultureInfo.InvariantCulture), f.Length > 6 && f[6].Length > 0 ? f[6] : null, f.Length > 7 ? f[7] : ""))
        .ToList();

    /// <summary>The log line of a network that <c>CycleEarlyStopping</c> stopped, with the run's planned epochs.</summary>
    private static readonly System.Text.RegularExpressions.Regex CycleStopLine = new(@"Stopping at the end of the schedule's third cycle \(epoch \d+ of (\d+)\)");

    private static Result Measure(MLContext ml, BundledDataSet set, string name, IEstimator<ITransformer> trainer, IDataView train, IDataView test,
        bool network = false)
    {
        try
        {
            FitTiming.Settle();
            int? plannedEpochs = null; // every member of a fit plans the same epochs: any stopped one's log line names them
            void OnLog(object? sender, LoggingEventArgs e)
            {
                var match = CycleStopLine.Match(e.Message);
                if (match.Success)
                {
                    lock (CycleStopLine)
                    {
                        plannedEpochs = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
                    }
                }
            }
            ml.Log += OnLog;
            var watch = Stopwatch.StartNew();
            ITransformer model;
            try
            {
                model = trainer.Fit(train);
            }
            finally
            {
                ml.Log -= OnLog;
            }
            double seconds = Math.Round(watch.Elapsed.TotalSeconds, 3); // as the results file keeps it: the report reads the same from memory and from the file
            var (metric, secondary) = AutoClipNetTasks.Metrics(ml, set.Task, model.Transform(test));
            string members = network ? MemberEpochs(model, plannedEpochs) : "";
            (model as IDisposable)?.Dispose();
            Console.WriteLine($"{set.Name,-14} {name,-32} {metric,8:F4} {secondary,10:G5} {seconds,8:F2} s");
            return new Result(set.Name, set.Task, name, metric, secondary, seconds, null, members);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            Console.WriteLine($"{set.Name,-14} {name,-32} failed: {e.Message}");
            return new Result(set.Name, set.Task, name, double.NaN, double.NaN, double.NaN, e.Message);
        }
    }

    private static void Write(string docs, string stem, List<Result> results, IReadOnlyList<BundledDataSet> sets, string[] variants, bool quick, string[] args)
    {
        var text = new StringBuilder();
        text.AppendLine($"# {args.SkipWhile(a => a != "--title").Skip(1).FirstOrDefault() ?? "Ablation of the default recipe"}");
        text.AppendLine();
        string command = string.Join(' ', args.Where(a => a != "--resume").Select(a => a.Contains(' ') || a.Contains('|') ? $"\"{a}\"" : a));
        text.AppendLine($"Command: `dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Studies -- {command}`");
        double hours = results.Where(r => r.Error is null).Sum(r => r.Seconds) / 3600;
        text.AppendLine($"(its fits took {(hours < 1 ? Math.Round(hours * 60) switch { 0 => "under a minute", 1 => "1 minute", var m => $"{m:F0} minutes" } : $"{hours:F1} hours")} on the machine below; add `--resume` to go on after an interruption: every cell is appended to");
        string tsv = quick ? stem + "-quick.tsv" : stem + ".tsv";
        text.AppendLine($"[`{tsv}`]({tsv}) as it is measured).  ");
        text.AppendLine($"Machine: {Shared.StudyTools.MachineLine()}; {DateTime.UtcNow:yyyy-MM-dd} UTC.");
        text.AppendLine();
        text.AppendLine((args.Contains("--sets") ? "The data sets named in the command" : "Every bundled data set") + " (data/SOURCES.md), held-out 20% (TrainTestSplit seed 1), the featurizer fitted on the");
        text.AppendLine("training rows. Each variant is AutoClipNet's default with one ingredient taken out or changed, seed 1, one run;");
        text.AppendLine("LightGbm with its defaults for scale. The metric is R² (regression), AUC (binary) or micro accuracy (multiclass).");
        text.AppendLine("One run per cell. The rows \"default, seed k\" are the default with another seed (initialisation, hold-out,");
        text.AppendLine("shuffling): on the small sets a seed alone moves the metric by several hundredths, so only changes that hold");
        text.AppendLine("across many sets, or that lie outside the seeds' spread, say something.");
        text.AppendLine();
        text.AppendLine("## Summary");
        text.AppendLine();
        // --baseline X: the yardstick is X and its seeds ("X;seed=2", ...) instead of the default and "default, seed k".
        string baselineName = args.SkipWhile(a => a != "--baseline").Skip(1).FirstOrDefault() ?? "default";
        bool IsBaseline(string v) => v == baselineName || v.StartsWith(baselineName + ", seed", StringComparison.Ordinal) || v.StartsWith(baselineName + ";seed=", StringComparison.Ordinal);
        if (baselineName != "default")
        {
            text.AppendLine($"Here the yardstick in place of the default is `{baselineName}` with its seeds: \"the default\" below means it.");
            text.AppendLine();
        }
        int seedCount = variants.Count(IsBaseline);
        text.AppendLine($"The default is run with {seedCount} seeds (1, the variants' seed, and more). A variant's change is its metric minus the mean of");
        text.AppendLine($"the default's {seedCount} runs on the set, averaged over each task's sets; \"beyond the seeds\" counts the sets where the");
        text.AppendLine($"variant lies above the best (or below the worst) of the default's {seedCount} runs; the fit time is over the default's");
        text.AppendLine("(seed 1), the mean of the ratios. The seed rows themselves show how much one draw moves by chance.");
        text.AppendLine();
        var tasks = sets.Select(s => s.Task).Distinct().ToArray();
        var seedRows = variants.Where(IsBaseline).ToArray();
        // Each set's yardstick: the default's runs over the seeds (their mean, lowest and highest metric).
        var baseline = new Dictionary<string, (double Mean, double Low, double High, double Seconds)>();
        foreach (var set in sets)
        {
            var runs = seedRows.Select(v => Find(results, set.Name, v)).Where(r => r is { Error: null }).Select(r => r!).ToList();
            if (runs.Count > 0 && Find(results, set.Name, baselineName) is { Error: null } first)
            {
                baseline[set.Name] = (runs.Average(r => r.Metric), runs.Min(r => r.Metric), runs.Max(r => r.Metric), first.Seconds);
            }
        }
        text.AppendLine("| variant | " + string.Join(" | ", tasks.Select(t => $"{Lower(t)}: mean change")) + " | beyond the seeds: better / worse on | fit time / default's | fit time / LightGbm's: median, highest |");
        text.AppendLine("|---|" + string.Concat(tasks.Select(_ => "---:|")) + "---:|---:|---:|");
        var curve = new List<(string Variant, DataTask Task, double Change, double TimeVsLightGbm)>();
        foreach (string variant in variants)
        {
            var pairs = sets.Where(s => baseline.ContainsKey(s.Name))
                .Select(s => (Set: s, Base: baseline[s.Name], Other: Find(results, s.Name, variant)))
                .Where(p => p.Other is { Error: null }).ToList();
            var perTask = tasks.Select(t => pairs.Where(p => p.Set.Task == t).ToList())
                .Select(g => g.Count == 0 ? "" : g.Average(p => p.Other!.Metric - p.Base.Mean).ToString("+0.0000;-0.0000;0", CultureInfo.InvariantCulture));
            double time = pairs.Count == 0 ? double.NaN : pairs.Average(p => p.Other!.Seconds / p.Base.Seconds);
            int above = pairs.Count(p => p.Other!.Metric > p.Base.High);
            int below = pairs.Count(p => p.Other!.Metric < p.Base.Low);
            string beyond = seedRows.Contains(variant) ? "" : $"{above} / {below} of {pairs.Count}";
            // Against LightGbm in the same run, set by set: what issue 20's targets are written in (median at most 10x, none above 30x).
            var againstLightGbm = AgainstLightGbm(results, pairs.Select(p => (p.Set, p.Other!.Seconds)));
            string lightGbm = DescribeRatios(againstLightGbm);
            text.AppendLine($"| {variant} | " + string.Join(" | ", perTask) + $" | {beyond} | {time.ToString("F2", CultureInfo.InvariantCulture)} | {lightGbm} |");
            if (variant != "LightGbm" && (variant == baselineName || !IsBaseline(variant)))
            {
                foreach (var task in tasks)
                {
                    var taskPairs = pairs.Where(p => p.Set.Task == task).ToList();
                    var taskRatios = againstLightGbm.Where(p => p.Set.Task == task).Select(p => p.Ratio).ToList();
                    if (taskPairs.Count > 0 && taskRatios.Count > 0)
                    {
                        curve.Add((variant, task, taskPairs.Average(p => p.Other!.Metric - p.Base.Mean), Median(taskRatios)));
                    }
                }
            }
        }
        if (args.Contains("--figure") && curve.Count > 0)
        {
            // Each task's variants, from the cheapest to the dearest: the curve a user picks a point on (the default's other seeds stay in the table above).
            string figure = Path.Combine(docs, "figures", stem + "-curve.png");
            Directory.CreateDirectory(Path.GetDirectoryName(figure)!);
            Shared.StudyTools.SaveLines(figure, "Fit time against accuracy, by task (each point one variant)", "metric − the default's seed mean",
                tasks.Select(t => curve.Where(c => c.Task == t).OrderBy(c => c.TimeVsLightGbm).ToArray())
                    .Where(points => points.Length > 0)
                    .Select(points => (Lower(points[0].Task), points.Select(c => Math.Log10(c.TimeVsLightGbm)).ToArray(), points.Select(c => c.Change).ToArray())),
                xLabel: "log10 of the median fit time over LightGbm's", markerSize: 7);
            text.AppendLine();
            text.AppendLine($"![Fit time against accuracy](figures/{stem}-curve.png)");
            text.AppendLine();
            text.AppendLine("| variant | task | mean change | median fit time / LightGbm's |");
            text.AppendLine("|---|---|---:|---:|");
            foreach (var c in curve.OrderBy(c => c.Task).ThenBy(c => c.TimeVsLightGbm))
            {
                text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {c.Variant} | {Lower(c.Task)} | {c.Change:+0.0000;-0.0000;0} | {c.TimeVsLightGbm:F1}x |"));
            }
        }
        SeedMeans(text, results, variants.Where(v => !IsBaseline(v)).ToArray(), sets, tasks, baseline);
        BestEpochs(text, results, variants);
        foreach (var task in tasks)
        {
            var taskSets = sets.Where(s => s.Task == task).ToArray();
            text.AppendLine();
            text.AppendLine($"## {char.ToUpperInvariant(Lower(task)[0])}{Lower(task)[1..]}: {Headline(task)} on each set");
            text.AppendLine();
            text.AppendLine($"Cells: {Headline(task)} / {Secondary(task)}; the default's fit time in its row, the others' in the summary.");
            text.AppendLine();
            text.AppendLine("| variant | " + string.Join(" | ", taskSets.Select(s => s.Name)) + " |");
            text.AppendLine("|---|" + string.Concat(taskSets.Select(_ => "---:|")));
            foreach (string variant in variants)
            {
                var cells = taskSets.Select(s => Find(results, s.Name, variant) is { } r
                    ? r.Error is null
                        ? $"{r.Metric:F4} / {r.Secondary:G4}" + (variant == baselineName || variant == "LightGbm" ? $" ({r.Seconds:F1} s)" : "")
                        : "failed"
                    : "");
                text.AppendLine($"| {variant} | " + string.Join(" | ", cells) + " |");
            }
        }
        string path = Path.Combine(docs, quick ? stem + "-quick.md" : stem + ".md");
        File.WriteAllText(path, text.ToString());
        Console.WriteLine($"Written to {path}");
    }

    /// <summary>
    /// The variants run with several seeds ("X", "X;seed=2", "X;seed=3"), each as the mean of its seeds against the default's
    /// seed mean: the comparison a change of default is decided on (one seed of a variant against three of the default
    /// favours the default's mean by chance on half the sets).
    /// </summary>
    private static void SeedMeans(StringBuilder text, List<Result> results, string[] variants, IReadOnlyList<BundledDataSet> sets, DataTask[] tasks,
        Dictionary<string, (double Mean, double Low, double High, double Seconds)> baseline)
    {
        static string Stem(string variant) => System.Text.RegularExpressions.Regex.Replace(variant, ";seed=[0-9]+", "");
        var groups = variants.Where(v => v != "LightGbm")
            .GroupBy(Stem).Where(g => g.Count() > 1 && g.Contains(g.Key)).ToList();
        if (groups.Count == 0)
        {
            return;
        }
        text.AppendLine();
        text.AppendLine("## Variants over several seeds");
        text.AppendLine();
        text.AppendLine("Each variant run with several seeds (the seeds column): on each set the mean over its seeds minus the default's seed mean,");
        text.AppendLine("averaged over each task's sets; \"beyond the seeds\" counts the sets where the variant's seed mean lies above the");
        text.AppendLine("default's best or below its worst run; the sets listed are the ones below, with the difference of the means.");
        text.AppendLine();
        text.AppendLine("| variant | seeds | " + string.Join(" | ", tasks.Select(t => $"{Lower(t)}: mean change")) + " | beyond the seeds: better / worse on | worse on | fit time / default's | fit time / LightGbm's: median, highest |");
        text.AppendLine("|---|---:|" + string.Concat(tasks.Select(_ => "---:|")) + "---|---|---:|---:|");
        foreach (var group in groups)
        {
            var cells = sets.Where(s => baseline.ContainsKey(s.Name)).Select(s =>
            {
                var runs = group.Select(v => Find(results, s.Name, v)).ToList();
                return (Set: s, Base: baseline[s.Name], Runs: runs.All(r => r is { Error: null }) ? runs.Select(r => r!).ToList() : null);
            }).Where(c => c.Runs is not null).ToList();
            if (cells.Count == 0)
            {
                continue;
            }
            double MeanOf(List<Result> runs) => runs.Average(r => r.Metric);
            var perTask = tasks.Select(t => cells.Where(c => c.Set.Task == t).ToList())
                .Select(g => g.Count == 0 ? "" : g.Average(c => MeanOf(c.Runs!) - c.Base.Mean).ToString("+0.0000;-0.0000;0", CultureInfo.InvariantCulture));
            var worse = cells.Where(c => MeanOf(c.Runs!) < c.Base.Low).ToList();
            int better = cells.Count(c => MeanOf(c.Runs!) > c.Base.High);
            double time = cells.Average(c => c.Runs!.Average(r => r.Seconds) / c.Base.Seconds);
            string lightGbm = DescribeRatios(AgainstLightGbm(results, cells.Select(c => (c.Set, c.Runs!.Average(r => r.Seconds)))));
            string worseOn = worse.Count == 0 ? "" : string.Join(", ", worse.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Set.Name} {MeanOf(c.Runs!) - c.Base.Mean:+0.0000;-0.0000}")));
            text.AppendLine($"| {group.Key} | {group.Count()} | " + string.Join(" | ", perTask) +
                string.Create(CultureInfo.InvariantCulture, $" | {better} / {worse.Count} of {cells.Count} | {worseOn} | {time:F2} | {lightGbm} |"));
        }
    }

    /// <summary>Each set's fit time over LightGbm's in the same run (sets without a LightGbm time left out).</summary>
    private static List<(BundledDataSet Set, double Ratio)> AgainstLightGbm(List<Result> results, IEnumerable<(BundledDataSet Set, double Seconds)> fits)
        => fits.Select(f => (f.Set, Ratio: Find(results, f.Set.Name, "LightGbm") is { Error: null } l && l.Seconds > 0 ? f.Seconds / l.Seconds : double.NaN))
            .Where(f => !double.IsNaN(f.Ratio)).ToList();

    /// <summary>"median x, highest x (set)": how the summaries write those ratios (empty without any).</summary>
    private static string DescribeRatios(List<(BundledDataSet Set, double Ratio)> ratios) => ratios.Count == 0 ? "" : string.Create(CultureInfo.InvariantCulture,
        $"{Median(ratios.Select(r => r.Ratio).ToList()):F1}x, {ratios.Max(r => r.Ratio):F0}x ({ratios.MaxBy(r => r.Ratio).Set.Name})");

    /// <summary>
    /// Where each variant's members kept their best epoch, by CosLog4's cycles (the learning rate returns to zero at t = 1/15,
    /// 3/15, 7/15 and 1 of the epochs), and what a stop at the end of the third or second cycle would have kept: the lowest
    /// validation error up to there over the run's lowest (1 when the best epoch came before the stop).
    /// </summary>
    private static void BestEpochs(StringBuilder text, List<Result> results, string[] variants)
    {
        var rows = new List<string>();
        foreach (string variant in variants)
        {
            var members = results.Where(r => r.Variant == variant && r.Members.Length > 0)
                .SelectMany(r => r.Members.Split(' ')).Select(m => m.Split('/'))
                .Select(f => (Best: int.Parse(f[0], CultureInfo.InvariantCulture), Epochs: int.Parse(f[1], CultureInfo.InvariantCulture),
                    Kept3: double.Parse(f[2], CultureInfo.InvariantCulture), Kept2: double.Parse(f[3], CultureInfo.InvariantCulture), Stopped: f.Length > 4 && f[4] == "1"))
                .Where(m => m.Epochs > 0).ToList();
            // Stalled: the third cycle found nothing lower than the first two, in a run long enough for the stop to apply.
            // (Kept3 and Kept2 share the run's lowest error as denominator, so they order as the errors do. The trainer also needs a
            // finite error by the second cycle's end; results files written before the 0/0 mend hold a zero error's ratio as NaN,
            // which this counts as stalled, as such a network was.)
            double stalled = members.Count(m => m.Epochs >= Microsoft.ML.AutoClipNet.Training.Recipe.MinimumCycleStopEpochs
                && Microsoft.ML.AutoClipNet.Training.Recipe.ThirdCycleStalled(m.Kept2, m.Kept3)) / (double)Math.Max(1, members.Count);
            double stopped = members.Count(m => m.Stopped) / (double)Math.Max(1, members.Count);
            int networks = members.Count;
            members = members.Where(m => double.IsFinite(m.Kept3) && double.IsFinite(m.Kept2)).ToList();
            if (members.Count == 0)
            {
                continue;
            }
            // In cycle c: after the epoch that ends cycle c - 1 and up to the one that ends cycle c, as the cycle stop counts them.
            double Share(int cycle) => members.Count(m => m.Best > (cycle == 1 ? 0 : Microsoft.ML.AutoClipNet.Training.Recipe.CosLog4CycleEnd(cycle - 1, m.Epochs))
                && m.Best <= Microsoft.ML.AutoClipNet.Training.Recipe.CosLog4CycleEnd(cycle, m.Epochs)) / (double)members.Count;
            double Quantile(IEnumerable<double> values, double q)
            {
                var sorted = values.OrderBy(v => v).ToArray();
                return sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(q * sorted.Length))];
            }
            rows.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {variant} | {networks} | {Share(1):P0} | {Share(2):P0} | {Share(3):P0} | {Share(4):P0} | " +
                $"{Quantile(members.Select(m => m.Kept3), 0.5):F3}, {Quantile(members.Select(m => m.Kept3), 0.9):F3} | {Quantile(members.Select(m => m.Kept2), 0.5):F3}, {Quantile(members.Select(m => m.Kept2), 0.9):F3} | " +
                $"{stalled:P0} | {stopped:P0} |"));
        }
        if (rows.Count == 0)
        {
            return;
        }
        text.AppendLine();
        text.AppendLine("## Where the members kept their best epoch");
        text.AppendLine();
        text.AppendLine("Every network of every fit (each ensemble member on its own hold-out), by the cycle of the CosLog4 schedule its best");
        text.AppendLine("epoch fell in (the learning rate returns to zero at t = 1/15, 3/15, 7/15 and 1 of the epochs; a cycle ends with the epoch in");
        text.AppendLine("which it does, as the cycle stop counts it; a variant with another");
        text.AppendLine("schedule is counted the same way). The two \"stop after\" columns say what stopping at the end of the third or the second");
        text.AppendLine("cycle would have kept: the lowest validation error up to there over the run's lowest (median, 90th percentile; 1 = nothing");
        text.AppendLine($"lost; the cycle shares and these columns leave out the few networks without a finite error). \"Third cycle stalled\" counts the networks of at least");
        text.AppendLine($"{Microsoft.ML.AutoClipNet.Training.Recipe.MinimumCycleStopEpochs} planned epochs whose third cycle found no lower validation error than the first two, where `CycleEarlyStopping`");
        text.AppendLine("stops a run, and \"stopped\" those that ended before their planned epochs (the cycles are counted in planned epochs, and a");
        text.AppendLine("stopped run's lowest error is the lowest of the epochs it ran).");
        text.AppendLine();
        text.AppendLine("| variant | networks | best in cycle 1 | cycle 2 | cycle 3 | cycle 4 | stop after cycle 3: error kept / best (median, 90%) | stop after cycle 2 (median, 90%) | third cycle stalled | stopped |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string row in rows)
        {
            text.AppendLine(row);
        }
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        int n = values.Count;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    private static Result? Find(List<Result> results, string data, string variant) =>
        results.LastOrDefault(r => r.Data == data && r.Variant == variant);

    private static string Lower(DataTask task) => task.ToString().ToLowerInvariant();

    private static string Headline(DataTask task) => task switch { DataTask.Regression => "R²", DataTask.Binary => "AUC", _ => "micro accuracy" };

    /// <summary>The task's LightGbm trainer with its defaults, the studies' yardstick.</summary>
    internal static IEstimator<ITransformer> LightGbm(MLContext ml, DataTask task) => task switch
    {
        DataTask.Regression => ml.Regression.Trainers.LightGbm(),
        DataTask.Binary => ml.BinaryClassification.Trainers.LightGbm(),
        _ => ml.MulticlassClassification.Trainers.LightGbm(),
    };

    private static string Secondary(DataTask task) => task switch { DataTask.Regression => "RMSE", _ => "log-loss" };
}
