using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using ScottPlot;

namespace Microsoft.ML.AutoClip.Studies;

/// <summary>
/// The AutoClip paper's training-dynamics figures, reproduced on this product: the same small network
/// trained with AutoClip (p = 10) and without clipping, diagnostics recorded every 20 steps
/// (AutoClipNetTrainer.Options.DiagnosticsInterval): step size over iterations, training loss over
/// iterations, and log local smoothness against log gradient norm with Pearson's r.
/// </summary>
internal static class TrainingDynamics
{
    public static void Run(string docs, bool quick)
    {
        var ml = new MLContext(seed: 0);
        // flights: delay in minutes from distance and time of day; a heavy right tail (up to 1444 minutes)
        // gives the gradient spikes clipping is for.
        var raw = Shared.BundledData.Flights(ml);
        var data = ml.Data.Cache(Shared.BundledData.FlightsFeaturizer(ml)
            .Fit(raw).Transform(ml.Data.TakeRows(ml.Data.ShuffleRows(raw, seed: 7), quick ? 4_000 : 40_000)));

        AutoClipNetTrainer.Options Options(AutoClipNetClipping clipping) => new()
        {
            Clipping = clipping,
            Percentile = 10,
            HiddenLayerSizes = new[] { 64, 64 },
            LearningRate = 1e-3,
            BatchSize = 64,
            NumberOfEpochs = quick ? 2 : 8,
            DiagnosticsInterval = 20,
            HistoryDetail = AutoClipNetHistoryDetail.EveryStep, // every step and the AutoClip state, for the figures
            Seed = 3,
            EnsembleSize = 1, // one network's dynamics
        };
        var withClip = ml.Regression.Trainers.AutoClipNet(Options(AutoClipNetClipping.AutoClip)).Fit(data).Model;
        var without = ml.Regression.Trainers.AutoClipNet(Options(AutoClipNetClipping.None)).Fit(data).Model;
        var runs = new[] { ("AutoClip, p = 10", withClip), ("no clipping", without) };

        string figures = Path.Combine(docs, "figures");
        // One line per run over the iterations.
        void SaveLines(string title, string yLabel, string file, Func<AutoClipNetModelParameters, (double[] X, double[] Y)> series)
            => Shared.StudyTools.SaveLines(Path.Combine(figures, file), title, yLabel, runs.Select(r => { var (x, y) = series(r.Item2); return (r.Item1, x, y); }));

        // Step size ||θ_t − θ_{t−1}|| over iterations.
        SaveLines("Step size", "log10 ||θ_t − θ_t−1||", "dynamics-step-size.png", model =>
        {
            var d = model.TrainingHistory.Diagnostics;
            return (d.Select(x => (double)x.Step).ToArray(), d.Select(x => Math.Log10(x.StepSize)).ToArray());
        });

        // Training loss over iterations (every step, smoothed over 20 steps).
        SaveLines("Training loss (mean of the last 20 minibatches)", "log10 loss (standardized units)", "dynamics-loss.png", model =>
        {
            var steps = model.TrainingHistory.Steps;
            double[] smoothed = steps.Select((s, i) => steps.Skip(Math.Max(0, i - 19)).Take(Math.Min(20, i + 1)).Average(x => (double)x.Loss)).ToArray();
            return (steps.Select(s => (double)s.Step).ToArray(), smoothed.Select(Math.Log10).ToArray());
        });

        // log smoothness against log gradient norm, one figure per run, with the final threshold.
        var report = new StringBuilder();
        double threshold = withClip.AutoClipState!.Threshold;
        foreach (var (name, model) in runs)
        {
            var d = model.TrainingHistory.Diagnostics.Where(x => x.Smoothness > 0 && x.GradientNorm > 0).ToArray();
            double[] logNorm = d.Select(x => Math.Log10(x.GradientNorm)).ToArray();
            double[] logSmooth = d.Select(x => Math.Log10(x.Smoothness)).ToArray();
            double r = Shared.StudyTools.Pearson(logNorm, logSmooth);
            var plot = new Plot();
            var points = plot.Add.ScatterPoints(logNorm, logSmooth);
            points.MarkerSize = 4;
            var line = plot.Add.VerticalLine(Math.Log10(threshold));
            line.LineWidth = 2;
            line.LinePattern = LinePattern.Dashed;
            plot.Title($"{name}: r = {r:F2}");
            plot.Axes.Bottom.Label.Text = "log10 gradient norm (dashed: final AutoClip threshold)";
            plot.Axes.Left.Label.Text = "log10 local smoothness";
            string file = name.StartsWith("AutoClip", StringComparison.Ordinal) ? "dynamics-smoothness-autoclip.png" : "dynamics-smoothness-none.png";
            plot.SavePng(Path.Combine(figures, file), 600, 450);
            report.AppendLine($"| {name} | {r:F3} | {d.Length} | {model.TrainingHistory.Epochs[^1].TrainingLoss:F4} | {model.TrainingHistory.Steps.Count(s => s.Clipped):N0} of {model.TrainingHistory.Steps.Count:N0} |");
            Console.WriteLine($"{name}: Pearson r(log grad norm, log smoothness) = {r:F3} over {d.Length} points");
        }

        var md = new StringBuilder();
        md.AppendLine("# Training dynamics with and without AutoClip");
        md.AppendLine();
        md.AppendLine("Regenerate with `dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Studies -- dynamics`.");
        md.AppendLine();
        md.AppendLine($"The same network (2-64-64-1, ReLU, Adam 0.001, batch 64, {Options(AutoClipNetClipping.None).NumberOfEpochs} epochs, seed 3) trained on");
        md.AppendLine($"{(quick ? 4_000 : 40_000):N0} rows of flights-200k (delay from distance and time; the label is standardized inside the trainer),");
        md.AppendLine("once with AutoClip (p = 10) and once without clipping. Every 20 steps the trainer records the gradient norm,");
        md.AppendLine("the step size ||θ_t − θ_{t−1}|| and the local smoothness ||g_t − g_{t−1}|| / ||θ_t − θ_{t−1}|| (`DiagnosticsInterval = 20`),");
        md.AppendLine("as in the paper's figures. Machine: " + Shared.StudyTools.MachineLine() + ".");
        md.AppendLine();
        md.AppendLine("| run | Pearson r of log smoothness vs log gradient norm | points | last epoch's training loss | steps clipped |");
        md.AppendLine("|---|---|---|---|---|");
        md.Append(report);
        md.AppendLine();
        md.AppendLine($"Final AutoClip threshold: {threshold:F4} (the dashed line).");
        md.AppendLine();
        md.AppendLine("![step size](figures/dynamics-step-size.png)");
        md.AppendLine();
        md.AppendLine("![training loss](figures/dynamics-loss.png)");
        md.AppendLine();
        md.AppendLine("| AutoClip, p = 10 | no clipping |");
        md.AppendLine("|---|---|");
        md.AppendLine("| ![smoothness with AutoClip](figures/dynamics-smoothness-autoclip.png) | ![smoothness without clipping](figures/dynamics-smoothness-none.png) |");
        File.WriteAllText(Path.Combine(docs, "training-dynamics.md"), md.ToString());
        Console.WriteLine($"Wrote {Path.Combine(docs, "training-dynamics.md")}");
    }
}
