using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.AutoClip.Shared;
using ScottPlot;

namespace Microsoft.ML.AutoClip.Separation;

/// <summary>
/// The percentile sweep: for each objective, AutoClip at several percentiles (100 never clips: no clipping) and, for
/// mask inference alone, the other clippers; several seeds, one network per run. Writes the SI-SDR improvement tables,
/// the paper's four training-dynamics panels for p = 10 against no clipping (first seed) and docs/&lt;name&gt;.md.
/// Every finished run is appended to docs/&lt;name&gt;-runs.tsv (and the dynamics of the runs the figures show to
/// docs/&lt;name&gt;-dynamics.tsv); a rerun skips what those files hold, so a sweep can be resumed, or split between processes
/// that each train some objectives or seeds, and a last call with --report-only writes the report from what they hold.
/// </summary>
public static class Study
{
    public static readonly double[] Percentiles = { 0, 1, 10, 25, 50, 90, 100 };

    /// <summary>The percentiles of the sweep over the objectives (the paper's p = 10, its extremes, and the middle).</summary>
    public static readonly double[] ObjectivePercentiles = { 0, 10, 50, 100 };

    /// <summary>A run's key in the runs file: the clipping's key, after the objective's for every objective but mask inference (the first study's keys).</summary>
    public static string RunKey(Objective objective, Clipping clipping) => objective == Objective.MaskInference ? clipping.Key : $"{objective.Key()}-{clipping.Key}";

    private static Objective ObjectiveOf(string key) => key.IndexOf('-') is int i and > 0 && Enum.GetValues<Objective>().Any(o => o.Key() == key[..i])
        ? Objectives.Parse(key[..i]) : Objective.MaskInference;

    public static int Run(string corpusDirectory, string docs, bool quick, string? seedsOption, string? percentilesOption, string? stepsOption, string? nameOption = null,
        string? objectivesOption = null, string? threadsOption = null, bool reportOnly = false, string? hiddenOption = null, string? layersOption = null)
    {
        // The report's name: docs/<name>.md, docs/<name>-runs.tsv, docs/figures/<name>-*.png.
        string name = nameOption ?? (quick ? "separation-quick" : "separation");
        var settings = quick ? SeparationSettings.Quick : SeparationSettings.Full;
        if (stepsOption is not null)
        {
            settings = settings with { Steps = int.Parse(stepsOption, CultureInfo.InvariantCulture) };
        }
        if (hiddenOption is not null)
        {
            settings = settings with { Hidden = int.Parse(hiddenOption, CultureInfo.InvariantCulture) };
        }
        if (layersOption is not null)
        {
            settings = settings with { Layers = int.Parse(layersOption, CultureInfo.InvariantCulture) };
        }
        if (threadsOption is not null)
        {
            settings = settings with { Threads = int.Parse(threadsOption, CultureInfo.InvariantCulture) };
        }
        var objectives = objectivesOption is not null ? objectivesOption.Split(',').Select(Objectives.Parse).ToArray()
            : quick ? Objectives.All : new[] { Objective.MaskInference };
        bool single = objectives.Length == 1 && objectives[0] == Objective.MaskInference;
        int[] seeds = (seedsOption ?? (quick ? "1" : "1,2")).Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        double[] percentiles = percentilesOption?.Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray()
            ?? (quick ? new double[] { 10, 100 } : single ? Percentiles : ObjectivePercentiles);
        var clippings = percentiles.Select(Clipping.AutoClip).ToList();
        if (percentilesOption is null && single && !quick)
        {
            clippings.AddRange(new[] { Clipping.AutoClipPerParameter(10), Clipping.FixedNorm(0.05), Clipping.ZScore(), Clipping.UnitWise() });
        }

        var corpus = Corpus.Load(corpusDirectory);
        var train = corpus.Where(u => u.Split == "train").ToList();
        var testUtterances = corpus.Where(u => u.Split == "test").ToList();
        var testRandom = new Random(99);
        var test = Enumerable.Range(0, settings.TestMixtures).Select(_ => Separation.RandomMixture(testUtterances, testRandom)).ToList();
        Console.WriteLine($"{train.Count} training and {testUtterances.Count} test utterances ({train.Select(u => u.Sentence).Distinct().Count()} and " +
            $"{testUtterances.Select(u => u.Sentence).Distinct().Count()} sentences, {corpus.Select(u => u.Speaker).Distinct().Count()} speakers); " +
            $"{test.Count} test mixtures, {test.Average(m => m.Mix.Length) / Corpus.SampleRate:F1} s on average");

        Directory.CreateDirectory(Path.Combine(docs, "figures"));
        string runsPath = Path.Combine(docs, name + "-runs.tsv");
        string dynamicsPath = Path.Combine(docs, name + "-dynamics.tsv");
        if (quick)
        {
            // The quick mode always runs everything (it is CI's check, not a study to resume).
            File.Delete(runsPath);
            File.Delete(dynamicsPath);
        }
        var done = File.Exists(runsPath) ? File.ReadLines(runsPath).Skip(1).Select(Parse).ToList() : new List<Row>();
        if (!File.Exists(runsPath))
        {
            File.WriteAllText(runsPath, "key\tclipping\tseed\tsteps\tsi_sdr_improvement_db\tfinal_loss\tclipped_steps\tfinal_threshold\tseconds\tmachine\n");
        }
        var dynamics = Dynamics.Load(dynamicsPath).Where(d => d.Steps == settings.Steps && d.Seed == seeds[0]).ToDictionary(d => d.Key);
        foreach (int seed in seeds)
        {
            foreach (var objective in objectives)
            {
                foreach (var clipping in clippings)
                {
                    string key = RunKey(objective, clipping);
                    bool wantDynamics = seed == seeds[0] && clipping.Key is "p10" or "p100" && !dynamics.ContainsKey(key);
                    bool recorded = done.Any(r => r.Key == key && r.Seed == seed && r.Steps == settings.Steps);
                    if (reportOnly)
                    {
                        if (!recorded)
                        {
                            Console.WriteLine($"{objective.Key()}, {clipping}, seed {seed}: not in {Path.GetFileName(runsPath)} (--report-only: left out)");
                        }
                        continue;
                    }
                    if (!wantDynamics && recorded)
                    {
                        Console.WriteLine($"{objective.Key()}, {clipping}, seed {seed}: already in {Path.GetFileName(runsPath)}");
                        continue;
                    }
                    var result = Separation.Train(train, test, objective, clipping, seed, settings);
                    Console.WriteLine($"{objective.Key(),-8}{clipping,-24} seed {seed}: SI-SDRi {result.SiSdrImprovement,6:F2} dB, loss {result.FinalLoss:F4}, " +
                        $"clipped {result.ClippedSteps} of {result.Steps}, {result.Seconds:F0} s");
                    if (!recorded)
                    {
                        var row = new Row(key, clipping.Name, seed, settings.Steps, result.SiSdrImprovement, result.FinalLoss, result.ClippedSteps, result.FinalThreshold, result.Seconds, StudyTools.CpuModel());
                        File.AppendAllText(runsPath, Format(row) + "\n");
                        done.Add(row);
                    }
                    if (wantDynamics)
                    {
                        var recordedDynamics = Dynamics.Of(key, result);
                        recordedDynamics.Append(dynamicsPath);
                        dynamics[key] = recordedDynamics;
                    }
                }
            }
        }
        var rows = new List<Row>();
        var sections = new List<Section>();
        foreach (var objective in objectives)
        {
            var keys = clippings.Select(c => RunKey(objective, c)).ToList();
            var objectiveRows = done.Where(r => r.Steps == settings.Steps && keys.Contains(r.Key) && seeds.Contains(r.Seed)).OrderBy(r => keys.IndexOf(r.Key)).ThenBy(r => r.Seed).ToList();
            rows.AddRange(objectiveRows);
            string prefix = single ? name : $"{name}-{objective.Key()}";
            dynamics.TryGetValue(RunKey(objective, Clipping.AutoClip(10)), out var withClipping);
            dynamics.TryGetValue(RunKey(objective, Clipping.AutoClip(100)), out var without);
            string figures = Figures(docs, objective, withClipping, without, prefix, out string dynamicsTable);
            sections.Add(new Section(objective, objectiveRows, dynamicsTable, figures));
        }
        var machines = sections.SelectMany(x => x.Rows).GroupBy(r => r.Machine.Length == 0 ? "not recorded" : r.Machine)
            .Select(g => $"{g.Count()} on {g.Key}").ToArray();
        File.WriteAllText(Path.Combine(docs, name + ".md"), Report(sections, single, settings, seeds, train, testUtterances, test, machines));
        Console.WriteLine($"Wrote {Path.Combine(docs, name + ".md")}");
        return 0;
    }

    private sealed record Row(string Key, string Clipping, int Seed, int Steps, double Improvement, double FinalLoss, int ClippedSteps, double FinalThreshold, double Seconds, string Machine = "")
    {
        public Objective Objective => ObjectiveOf(Key);

        /// <summary>The clipping's own key (without the objective's).</summary>
        public string ClippingKey => Objective == Objective.MaskInference ? Key : Key[(Key.IndexOf('-') + 1)..];
    }

    private sealed record Section(Objective Objective, List<Row> Rows, string DynamicsTable, string Figures);

    private static string Format(Row r) => string.Join('\t', r.Key, r.Clipping, r.Seed, r.Steps,
        r.Improvement.ToString("R", CultureInfo.InvariantCulture), r.FinalLoss.ToString("R", CultureInfo.InvariantCulture), r.ClippedSteps,
        r.FinalThreshold.ToString("R", CultureInfo.InvariantCulture), r.Seconds.ToString("F1", CultureInfo.InvariantCulture), r.Machine);

    private static Row Parse(string line)
    {
        var f = line.Split('\t');
        double D(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
        return new Row(f[0], f[1], int.Parse(f[2], CultureInfo.InvariantCulture), int.Parse(f[3], CultureInfo.InvariantCulture), D(4), D(5), int.Parse(f[6], CultureInfo.InvariantCulture), D(7), D(8), f.Length > 9 ? f[9] : "");
    }

    /// <summary>
    /// A run's recorded training dynamics, every <see cref="Separation.DiagnosticsInterval"/> steps: the mean loss of the last
    /// 20 minibatches, the gradient norm, the step size and the local smoothness; and the final AutoClip threshold.
    /// </summary>
    private sealed record Dynamics(string Key, int Seed, int Steps, double FinalThreshold, List<(int Step, double Loss, double GradientNorm, double StepSize, double Smoothness)> Points)
    {
        private const string Header = "key\tseed\tsteps\tstep\tloss_mean_last_20\tgradient_norm\tstep_size\tsmoothness\tfinal_threshold";

        public static Dynamics Of(string key, RunResult run)
        {
            var losses = run.Losses;
            var points = run.Diagnostics.Select(d =>
            {
                var window = losses.Where(l => l.Step > d.Step - 20 && l.Step <= d.Step).ToList();
                return (d.Step, window.Average(l => l.Loss), d.GradientNorm, d.StepSize, d.Smoothness);
            }).ToList();
            return new Dynamics(key, run.Seed, run.Steps, run.FinalThreshold, points);
        }

        public void Append(string path)
        {
            var text = new StringBuilder();
            if (!File.Exists(path))
            {
                text.AppendLine(Header);
            }
            foreach (var p in Points)
            {
                text.AppendLine(string.Join('\t', Key, Seed, Steps, p.Step, R(p.Loss), R(p.GradientNorm), R(p.StepSize), R(p.Smoothness), R(FinalThreshold)));
            }
            File.AppendAllText(path, text.ToString()); // one write: processes that share the file do not interleave lines
        }

        public static IEnumerable<Dynamics> Load(string path)
        {
            if (!File.Exists(path))
            {
                return Enumerable.Empty<Dynamics>();
            }
            return File.ReadLines(path).Skip(1).Select(l => l.Split('\t'))
                .GroupBy(f => (Key: f[0], Seed: int.Parse(f[1], CultureInfo.InvariantCulture), Steps: int.Parse(f[2], CultureInfo.InvariantCulture)))
                .Select(g => new Dynamics(g.Key.Key, g.Key.Seed, g.Key.Steps, D(g.First()[8]),
                    g.Select(f => (int.Parse(f[3], CultureInfo.InvariantCulture), D(f[4]), D(f[5]), D(f[6]), D(f[7]))).ToList()));
        }

        private static string R(double x) => x.ToString("R", CultureInfo.InvariantCulture);

        private static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);
    }

    /// <summary>The paper's four panels for p = 10 against no clipping (first seed); returns the markdown that shows them.</summary>
    private static string Figures(string docs, Objective objective, Dynamics? autoClip, Dynamics? none, string prefix, out string table)
    {
        table = "";
        if (autoClip is null || none is null)
        {
            return "";
        }
        var pairs = new[] { ("AutoClip, p = 10", autoClip), ("no clipping", none) };
        void Lines(string title, string yLabel, string file, Func<Dynamics, (double[] X, double[] Y)> series)
            => Shared.StudyTools.SaveLines(Path.Combine(docs, "figures", file), title, yLabel, pairs.Select(p => { var (x, y) = series(p.Item2); return (p.Item1, x, y); }));
        Lines($"Step size, {objective.Title()}", "log10 ||θ_t − θ_t−1||", $"{prefix}-step-size.png",
            r => (r.Points.Select(d => (double)d.Step).ToArray(), r.Points.Select(d => Math.Log10(d.StepSize)).ToArray()));
        // The SNR loss is a negative number of dB: drawn as it is; the others on a log scale.
        bool logLoss = objective != Objective.Snr;
        Lines($"Training loss (mean of the last 20 minibatches), {objective.Title()}", logLoss ? "log10 loss" : "loss (−SNR, dB)", $"{prefix}-loss.png",
            r => (r.Points.Select(d => (double)d.Step).ToArray(), r.Points.Select(d => logLoss ? Math.Log10(d.Loss) : d.Loss).ToArray()));
        var text = new StringBuilder();
        text.AppendLine("| run | Pearson r (log gradient norm, log smoothness) | points | final AutoClip threshold |");
        text.AppendLine("|---|---|---|---|");
        foreach (var (name, run) in pairs)
        {
            var d = run.Points.Where(x => x.Smoothness > 0 && x.GradientNorm > 0).ToArray();
            var logNorm = d.Select(x => Math.Log10(x.GradientNorm)).ToArray();
            var logSmooth = d.Select(x => Math.Log10(x.Smoothness)).ToArray();
            double r = d.Length > 2 ? Shared.StudyTools.Pearson(logNorm, logSmooth) : double.NaN;
            var plot = new Plot();
            plot.Add.ScatterPoints(logNorm, logSmooth).MarkerSize = 4;
            if (double.IsFinite(autoClip.FinalThreshold) && autoClip.FinalThreshold > 0)
            {
                var line = plot.Add.VerticalLine(Math.Log10(autoClip.FinalThreshold));
                line.LineWidth = 2;
                line.LinePattern = LinePattern.Dashed;
            }
            plot.Title($"{objective.Key().ToUpperInvariant()}, {name}: r = {r:F2}");
            plot.Axes.Bottom.Label.Text = "log10 gradient norm (dashed: final AutoClip threshold, p = 10)";
            plot.Axes.Left.Label.Text = "log10 local smoothness";
            plot.SavePng(Path.Combine(docs, "figures", $"{prefix}-smoothness-{(run == autoClip ? "autoclip" : "none")}.png"), 600, 450);
            text.AppendLine($"| {name} | {r:F2} | {d.Length} | {(run == autoClip ? run.FinalThreshold.ToString("F3", CultureInfo.InvariantCulture) : "")} |");
        }
        table = text.ToString();
        return $"![step size](figures/{prefix}-step-size.png)\n![training loss](figures/{prefix}-loss.png)\n\n" +
            $"![smoothness against gradient norm, AutoClip](figures/{prefix}-smoothness-autoclip.png) ![smoothness against gradient norm, no clipping](figures/{prefix}-smoothness-none.png)\n";
    }

    /// <summary>The paper's SI-SDR (dB, WSJ0-2mix, 4 × 600 BLSTM) at p = 0, 10, 50 and 100 (none), by objective (autoclip-reference notes, Table 1).</summary>
    private static readonly Dictionary<Objective, (double P0, double P10, double P50, double None)> Paper = new()
    {
        [Objective.DeepClustering] = (10.7, 10.8, 10.7, 10.2),
        [Objective.WhitenedKMeans] = (11.1, 11.0, 11.0, 10.8),
        [Objective.MaskInference] = (10.0, 10.2, 9.2, 8.5),
        [Objective.Chimera] = (11.2, 11.3, 11.2, 10.9),
        [Objective.Snr] = (9.9, 10.4, 9.9, 8.3),
    };

    /// <summary>The shortest training time among the runs whose time is recorded (a run paused from outside has NaN in the runs file).</summary>
    private static string FastestRun(IEnumerable<Row> runs)
        => runs.Where(r => double.IsFinite(r.Seconds)).Select(r => r.Seconds).DefaultIfEmpty(double.NaN).Min() is var s && double.IsFinite(s) ? $"{s:F0} s" : "not recorded";

    private static string Signed(double x) => Math.Round(x, 2) == 0 ? "0.00" : x.ToString("+0.00;-0.00", CultureInfo.InvariantCulture);

    /// <summary>Each run minus no clipping with the same seed (and objective): mean (min to max), or empty.</summary>
    private static string Against(IEnumerable<Row> runs, IReadOnlyDictionary<int, double> none)
    {
        var paired = runs.Where(r => none.ContainsKey(r.Seed)).Select(r => r.Improvement - none[r.Seed]).ToArray();
        return paired.Length == 0 ? "" : $"{Signed(paired.Average())} ({Signed(paired.Min())} to {Signed(paired.Max())})";
    }

    private static string Report(List<Section> sections, bool single, SeparationSettings s, int[] seeds, List<Utterance> train, List<Utterance> testUtterances, List<Mixture> test, string[] machines)
    {
        var md = new StringBuilder();
        md.AppendLine(single ? "# AutoClip in the paper's setting: two-speaker speech separation" : "# AutoClip in the paper's setting: the five separation objectives");
        md.AppendLine();
        string arguments = string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
        md.AppendLine($"Generated by `dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Separation -- {arguments}` (the corpus first: `-- corpus`, which needs");
        md.AppendLine($"Debian's `espeak-ng`; {Corpus.Version()}). Plain TorchSharp, no ML.NET; clipping through `AutoClipOptimizer` (`WithAutoClip`).");
        md.AppendLine($"Runs (each with {(s.Threads is int t ? $"{t} LibTorch thread{(t == 1 ? "" : "s")}" : "every core")}; the runs file names each run's CPU): {string.Join(", ", machines)}.");
        md.AppendLine();
        md.AppendLine($"Data: {train.Count} training utterances of {train.Select(u => u.Sentence).Distinct().Count()} sentences and {testUtterances.Count} test utterances of " +
            $"{testUtterances.Select(u => u.Sentence).Distinct().Count()} other sentences, {Corpus.Speakers.Length} synthetic speakers (espeak-ng voice variants, pitches and speeds), 8 kHz.");
        md.AppendLine($"Training mixtures are drawn on the fly (two different speakers, the second 0 to 5 dB below the first); the test set is {test.Count} fixed mixtures of");
        md.AppendLine($"unseen sentences ({test.Average(m => m.Mix.Length) / Corpus.SampleRate:F1} s on average). Network: BLSTM, {s.Layers} × {s.Hidden} units each way (STFT: 256-sample √Hann window, hop 64, {Separation.Bins} bins);");
        md.AppendLine($"Adam, learning rate {s.LearningRate}, {s.Steps:N0} steps of {s.BatchSize} excerpts of {s.Frames} frames. Metric: SI-SDR improvement over the mixture, best permutation, on the whole test mixtures.");
        md.AppendLine();
        if (single)
        {
            md.AppendLine($"Objective: {Objective.MaskInference.Title()}: two sigmoid masks over the bins, L1 phase-sensitive approximation loss, permutation-invariant.");
        }
        else
        {
            md.AppendLine("Objectives (`Objectives.cs`; each loss is tested against a direct computation on a tiny batch):");
            md.AppendLine($"- {Objective.MaskInference.Title()}: two sigmoid masks, the L1 phase-sensitive approximation loss, permutation-invariant; separates with its masks.");
            md.AppendLine($"- {Objective.DeepClustering.Title()}: a {Objectives.EmbeddingDimension}-dimensional unit-norm embedding (tanh, then normalized) of every bin, ||VVᵀ − YYᵀ||²_F in its low-rank form,");
            md.AppendLine($"  Y the dominant speaker of each bin, bins more than {Objectives.SilenceDb} dB below the excerpt's loudest weighted 0, divided by (Σw)².");
            md.AppendLine("  Separates by two-means clustering of each test mixture's embeddings (the non-silent bins; 5 seeded starts), the clusters as binary masks.");
            md.AppendLine($"- {Objective.WhitenedKMeans.Title()}: the same embeddings and weights, D − tr((VᵀV)⁻¹ VᵀY (YᵀY)⁻¹ YᵀV); separates as deep clustering does.");
            md.AppendLine($"- {Objective.Chimera.Title()}: both heads on one trunk, ½ (1 − tr/2) + ½ L_MI (the whitened k-means loss mapped to [0, 1]); separates with its mask head, as chimera++ does.");
            md.AppendLine($"- {Objective.Snr.Title()}: the masked mixture brought back to the time domain (inverse STFT, the mixture's phase), −SNR in dB, permutation-invariant; separates with its masks.");
            md.AppendLine();
            md.AppendLine("## AutoClip against no clipping, by objective, beside the paper");
            md.AppendLine();
            md.AppendLine("SI-SDR improvement in dB here (mean over the seeds), the paper's SI-SDR on WSJ0-2mix (4 × 600 BLSTM, 100 epochs) beside it;");
            md.AppendLine("\"p = 10 − none\" compares seed by seed: mean (min to max).");
            md.AppendLine();
            md.AppendLine("| objective | seeds | p = 0 | p = 10 | p = 50 | none | p = 10 − none | p = 0 − none | p = 50 − none | paper: p = 10, none | paper: p = 10 − none |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var section in sections)
            {
                var none = section.Rows.Where(r => r.ClippingKey == "p100").ToDictionary(r => r.Seed, r => r.Improvement);
                string Mean(string key) => section.Rows.Where(r => r.ClippingKey == key).Select(r => r.Improvement).DefaultIfEmpty(double.NaN).Average() is var m && double.IsFinite(m) ? m.ToString("F2", CultureInfo.InvariantCulture) : "";
                string Diff(string key) => Against(section.Rows.Where(r => r.ClippingKey == key), none);
                var paper = Paper[section.Objective];
                md.AppendLine($"| {section.Objective.Title()} | {section.Rows.Select(r => r.Seed).Distinct().Count()} | {Mean("p0")} | {Mean("p10")} | {Mean("p50")} | {Mean("p100")} | {Diff("p10")} | {Diff("p0")} | {Diff("p50")} | " +
                    $"{paper.P10:F1}, {paper.None:F1} | {Signed(paper.P10 - paper.None)} |");
            }
            md.AppendLine();
        }
        foreach (var section in sections)
        {
            md.AppendLine(single ? $"## SI-SDR improvement (dB) by clipping, {seeds.Length} seed(s)" : $"## {section.Objective.Title()}: SI-SDR improvement (dB) by clipping");
            md.AppendLine();
            if (single)
            {
                md.AppendLine("A seed fixes the initial weights and the training mixtures, the same for every clipping, so the last column compares each");
                md.AppendLine("clipping with no clipping seed by seed (the spread between seeds is larger than most differences between clippings).");
                md.AppendLine();
            }
            md.AppendLine($"| clipping | mean | min | max | seeds | steps clipped (mean) | fastest run (training) | against no clipping, same seed: mean (min to max) |");
            md.AppendLine("|---|---|---|---|---|---|---|---|");
            var none = section.Rows.Where(r => r.ClippingKey == "p100").ToDictionary(r => r.Seed, r => r.Improvement);
            foreach (var group in section.Rows.GroupBy(r => r.Key))
            {
                var v = group.Select(r => r.Improvement).ToArray();
                string against = group.First().ClippingKey == "p100" ? "" : Against(group, none);
                md.AppendLine($"| {group.First().Clipping} | {v.Average():F2} | {v.Min():F2} | {v.Max():F2} | {v.Length} | {group.Average(r => r.ClippedSteps):F0} of {s.Steps:N0} | {FastestRun(group)} | {against} |");
            }
            md.AppendLine();
            if (single)
            {
                md.AppendLine("The paper (WSJ0-2mix, 4 × 600 BLSTM, 100 epochs, L_MI): p = 0: 10.0, 1: 10.3, 10: 10.2, 25: 9.9, 50: 9.2, 90: 8.7, 100 (none): 8.5 dB;");
                md.AppendLine("its small network (2 × 300): 9.2 dB with p = 10 against 8.1 without.");
                md.AppendLine();
            }
            if (section.DynamicsTable.Length > 0)
            {
                md.AppendLine(single
                    ? $"## Training dynamics, p = 10 against no clipping (seed {seeds[0]}), every {Separation.DiagnosticsInterval} iterations"
                    : $"### {section.Objective.Title()}: training dynamics, p = 10 against no clipping (seed {seeds[0]}), every {Separation.DiagnosticsInterval} iterations");
                md.AppendLine();
                md.Append(section.DynamicsTable);
                md.AppendLine();
                md.AppendLine("The paper (mask inference): r = 0.86 with AutoClip, 0.62 without.");
                md.AppendLine();
                md.Append(section.Figures);
                md.AppendLine();
            }
        }
        return md.ToString();
    }
}
