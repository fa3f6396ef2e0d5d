using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using ScottPlot;

namespace Microsoft.ML.AutoClip.Separation;

/// <summary>
/// The percentile sweep: p in {0, 1, 10, 25, 50, 90, 100} (100 never clips: no clipping), several seeds, one network
/// per run; the SI-SDR improvement table, the paper's four panels for p = 10 against no clipping, docs/separation.md.
/// Every finished run is appended to docs/separation-runs.tsv, and a rerun skips the runs that file holds.
/// </summary>
public static class Study
{
    public static readonly double[] Percentiles = { 0, 1, 10, 25, 50, 90, 100 };

    public static int Run(string corpusDirectory, string docs, bool quick, string? seedsOption, string? percentilesOption, string? stepsOption, string? nameOption = null)
    {
        // The report's name: docs/<name>.md, docs/<name>-runs.tsv, docs/figures/<name>-*.png.
        string name = nameOption ?? (quick ? "separation-quick" : "separation");
        var settings = quick ? SeparationSettings.Quick : SeparationSettings.Full;
        if (stepsOption is not null)
        {
            settings = settings with { Steps = int.Parse(stepsOption, CultureInfo.InvariantCulture) };
        }
        int[] seeds = (seedsOption ?? (quick ? "1" : "1,2")).Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        double[] percentiles = percentilesOption?.Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray() ?? (quick ? new double[] { 10, 100 } : Percentiles);
        var clippings = percentiles.Select(Clipping.AutoClip).ToList();
        if (percentilesOption is null)
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
        if (quick && File.Exists(runsPath))
        {
            File.Delete(runsPath); // the quick mode always runs everything (it is CI's check, not a study to resume)
        }
        var done = File.Exists(runsPath) ? File.ReadLines(runsPath).Skip(1).Select(Parse).ToList() : new List<Row>();
        if (!File.Exists(runsPath))
        {
            File.WriteAllText(runsPath, "key\tclipping\tseed\tsteps\tsi_sdr_improvement_db\tfinal_loss\tclipped_steps\tfinal_threshold\tseconds\n");
        }
        var dynamics = new Dictionary<string, RunResult>();
        foreach (int seed in seeds)
        {
            foreach (var clipping in clippings)
            {
                bool wantDynamics = seed == seeds[0] && clipping.Key is "p10" or "p100";
                if (!wantDynamics && done.Any(r => r.Key == clipping.Key && r.Seed == seed && r.Steps == settings.Steps))
                {
                    Console.WriteLine($"{clipping}, seed {seed}: already in {Path.GetFileName(runsPath)}");
                    continue;
                }
                var result = Separation.Train(train, test, clipping, seed, settings);
                Console.WriteLine($"{clipping,-24} seed {seed}: SI-SDRi {result.SiSdrImprovement,6:F2} dB, loss {result.FinalLoss:F4}, " +
                    $"clipped {result.ClippedSteps} of {result.Steps}, {result.Seconds:F0} s");
                if (!done.Any(r => r.Key == clipping.Key && r.Seed == seed && r.Steps == settings.Steps))
                {
                    var row = new Row(clipping.Key, clipping.Name, seed, settings.Steps, result.SiSdrImprovement, result.FinalLoss, result.ClippedSteps, result.FinalThreshold, result.Seconds);
                    File.AppendAllText(runsPath, Format(row) + "\n");
                    done.Add(row);
                }
                if (wantDynamics)
                {
                    dynamics[clipping.Key == "p100" ? "none" : "autoclip"] = result;
                }
            }
        }
        var keys = clippings.Select(c => c.Key).ToList();
        var rows = done.Where(r => r.Steps == settings.Steps && keys.Contains(r.Key) && seeds.Contains(r.Seed)).OrderBy(r => keys.IndexOf(r.Key)).ToList();
        string figures = Figures(docs, dynamics, name, out string dynamicsTable);
        File.WriteAllText(Path.Combine(docs, name + ".md"), Report(rows, settings, seeds, train, testUtterances, test, dynamicsTable, figures));
        Console.WriteLine($"Wrote {Path.Combine(docs, name + ".md")}");
        return 0;
    }

    private sealed record Row(string Key, string Clipping, int Seed, int Steps, double Improvement, double FinalLoss, int ClippedSteps, double FinalThreshold, double Seconds);

    private static string Format(Row r) => string.Join('\t', r.Key, r.Clipping, r.Seed, r.Steps,
        r.Improvement.ToString("R", CultureInfo.InvariantCulture), r.FinalLoss.ToString("R", CultureInfo.InvariantCulture), r.ClippedSteps,
        r.FinalThreshold.ToString("R", CultureInfo.InvariantCulture), r.Seconds.ToString("F1", CultureInfo.InvariantCulture));

    private static Row Parse(string line)
    {
        var f = line.Split('\t');
        double D(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
        return new Row(f[0], f[1], int.Parse(f[2], CultureInfo.InvariantCulture), int.Parse(f[3], CultureInfo.InvariantCulture), D(4), D(5), int.Parse(f[6], CultureInfo.InvariantCulture), D(7), D(8));
    }

    /// <summary>The paper's four panels for p = 10 against no clipping (first seed); returns the markdown that shows them.</summary>
    private static string Figures(string docs, Dictionary<string, RunResult> runs, string prefix, out string table)
    {
        table = "";
        if (!runs.TryGetValue("autoclip", out var autoClip) || !runs.TryGetValue("none", out var none))
        {
            return "";
        }
        var pairs = new[] { ("AutoClip, p = 10", autoClip), ("no clipping", none) };
        void Lines(string title, string yLabel, string file, Func<RunResult, (double[] X, double[] Y)> series)
            => Shared.StudyTools.SaveLines(Path.Combine(docs, "figures", file), title, yLabel, pairs.Select(p => { var (x, y) = series(p.Item2); return (p.Item1, x, y); }));
        Lines("Step size", "log10 ||θ_t − θ_t−1||", $"{prefix}-step-size.png",
            r => (r.Diagnostics.Select(d => (double)d.Step).ToArray(), r.Diagnostics.Select(d => Math.Log10(d.StepSize)).ToArray()));
        Lines("Training loss (mean of the last 20 minibatches)", "log10 PSA loss", $"{prefix}-loss.png", r =>
        {
            var losses = r.Losses;
            var smoothed = losses.Select((l, i) => losses.Skip(Math.Max(0, i - 19)).Take(Math.Min(20, i + 1)).Average(x => x.Loss)).ToArray();
            return (losses.Select(l => (double)l.Step).ToArray(), smoothed.Select(Math.Log10).ToArray());
        });
        var text = new StringBuilder();
        text.AppendLine("| run | Pearson r (log gradient norm, log smoothness) | points | final AutoClip threshold |");
        text.AppendLine("|---|---|---|---|");
        foreach (var (name, run) in pairs)
        {
            var d = run.Diagnostics.Where(x => x.Smoothness > 0 && x.GradientNorm > 0).ToArray();
            var logNorm = d.Select(x => Math.Log10(x.GradientNorm)).ToArray();
            var logSmooth = d.Select(x => Math.Log10(x.Smoothness)).ToArray();
            double r = d.Length > 2 ? Shared.StudyTools.Pearson(logNorm, logSmooth) : double.NaN;
            var plot = new Plot();
            plot.Add.ScatterPoints(logNorm, logSmooth).MarkerSize = 4;
            if (double.IsFinite(autoClip.FinalThreshold))
            {
                var line = plot.Add.VerticalLine(Math.Log10(autoClip.FinalThreshold));
                line.LineWidth = 2;
                line.LinePattern = LinePattern.Dashed;
            }
            plot.Title($"{name}: r = {r:F2}");
            plot.Axes.Bottom.Label.Text = "log10 gradient norm (dashed: final AutoClip threshold, p = 10)";
            plot.Axes.Left.Label.Text = "log10 local smoothness";
            plot.SavePng(Path.Combine(docs, "figures", $"{prefix}-smoothness-{(run == autoClip ? "autoclip" : "none")}.png"), 600, 450);
            text.AppendLine($"| {name} | {r:F2} | {d.Length} | {(run == autoClip ? run.FinalThreshold.ToString("F3", CultureInfo.InvariantCulture) : "")} |");
        }
        table = text.ToString();
        return $"![step size](figures/{prefix}-step-size.png)\n![training loss](figures/{prefix}-loss.png)\n\n" +
            $"![smoothness against gradient norm, AutoClip](figures/{prefix}-smoothness-autoclip.png) ![smoothness against gradient norm, no clipping](figures/{prefix}-smoothness-none.png)\n";
    }

    private static string Report(List<Row> rows, SeparationSettings s, int[] seeds, List<Utterance> train, List<Utterance> testUtterances, List<Mixture> test, string dynamicsTable, string figures)
    {
        var md = new StringBuilder();
        md.AppendLine("# AutoClip in the paper's setting: two-speaker speech separation");
        md.AppendLine();
        string arguments = string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
        md.AppendLine($"Generated by `dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Separation -- {arguments}` (the corpus first: `-- corpus`, which needs");
        md.AppendLine($"Debian's `espeak-ng`; {Corpus.Version()}). Plain TorchSharp, no ML.NET; clipping through `AutoClipOptimizer` (`WithAutoClip`).");
        md.AppendLine();
        md.AppendLine($"Data: {train.Count} training utterances of {train.Select(u => u.Sentence).Distinct().Count()} sentences and {testUtterances.Count} test utterances of " +
            $"{testUtterances.Select(u => u.Sentence).Distinct().Count()} other sentences, {Corpus.Speakers.Length} synthetic speakers (espeak-ng voice variants, pitches and speeds), 8 kHz.");
        md.AppendLine($"Training mixtures are drawn on the fly (two different speakers, the second 0 to 5 dB below the first); the test set is {test.Count} fixed mixtures of");
        md.AppendLine($"unseen sentences ({test.Average(m => m.Mix.Length) / Corpus.SampleRate:F1} s on average). Network: BLSTM, {s.Layers} × {s.Hidden} units each way, two sigmoid masks over");
        md.AppendLine($"{Separation.Bins} bins (STFT: 256-sample √Hann window, hop 64); L1 phase-sensitive approximation loss, permutation-invariant; Adam, learning rate {s.LearningRate},");
        md.AppendLine($"{s.Steps:N0} steps of {s.BatchSize} excerpts of {s.Frames} frames. Metric: SI-SDR improvement over the mixture, best permutation, on the whole test mixtures.");
        md.AppendLine();
        md.AppendLine($"## SI-SDR improvement (dB) by clipping, {seeds.Length} seed(s)");
        md.AppendLine();
        md.AppendLine("A seed fixes the initial weights and the training mixtures, the same for every clipping, so the last column compares each");
        md.AppendLine("clipping with no clipping seed by seed (the spread between seeds is larger than most differences between clippings).");
        md.AppendLine();
        md.AppendLine("| clipping | mean | min | max | seeds | steps clipped (mean) | fastest run (training) | against no clipping, same seed: mean (min to max) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        var none = rows.Where(r => r.Key == "p100").ToDictionary(r => r.Seed, r => r.Improvement);
        foreach (var group in rows.GroupBy(r => r.Key))
        {
            var v = group.Select(r => r.Improvement).ToArray();
            var paired = group.Where(r => none.ContainsKey(r.Seed)).Select(r => r.Improvement - none[r.Seed]).ToArray();
            static string Signed(double x) => Math.Round(x, 2) == 0 ? "0.00" : x.ToString("+0.00;-0.00", CultureInfo.InvariantCulture);
            string against = group.Key == "p100" || paired.Length == 0 ? "" : $"{Signed(paired.Average())} ({Signed(paired.Min())} to {Signed(paired.Max())})";
            md.AppendLine($"| {group.First().Clipping} | {v.Average():F2} | {v.Min():F2} | {v.Max():F2} | {v.Length} | {group.Average(r => r.ClippedSteps):F0} of {s.Steps:N0} | {group.Min(r => r.Seconds):F0} s | {against} |");
        }
        md.AppendLine();
        md.AppendLine("The paper (WSJ0-2mix, 4 × 600 BLSTM, 100 epochs, L_MI): p = 0: 10.0, 1: 10.3, 10: 10.2, 25: 9.9, 50: 9.2, 90: 8.7, 100 (none): 8.5 dB;");
        md.AppendLine("its small network (2 × 300): 9.2 dB with p = 10 against 8.1 without.");
        md.AppendLine();
        if (dynamicsTable.Length > 0)
        {
            md.AppendLine($"## Training dynamics, p = 10 against no clipping (seed {seeds[0]}), every {Separation.DiagnosticsInterval} iterations");
            md.AppendLine();
            md.Append(dynamicsTable);
            md.AppendLine();
            md.AppendLine("The paper: r = 0.86 with AutoClip, 0.62 without.");
            md.AppendLine();
            md.Append(figures);
        }
        return md.ToString();
    }
}
