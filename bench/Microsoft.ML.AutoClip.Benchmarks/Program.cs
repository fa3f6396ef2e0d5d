// Benchmarks of Microsoft.ML.AutoClip and AutoClipNet. See bench/README.md.
//
//   dotnet run -c Release --project bench/Microsoft.ML.AutoClip.Benchmarks            full run, writes bench/RESULTS.md
//   dotnet run -c Release --project bench/Microsoft.ML.AutoClip.Benchmarks -- --quick tiny sizes, one iteration (CI)
//
// Every comparison is a ratio of two things measured side by side in this one process.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Microsoft.ML.AutoClip.Benchmarks;
using Microsoft.ML.AutoClip.Shared;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
Run.Quick = args.Contains("--quick");
string? only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault();
string resultsPath = args.SkipWhile(a => a != "--results").Skip(1).FirstOrDefault()
    ?? (Run.Quick ? Path.Combine(Path.GetTempPath(), "autoclip-bench-quick", "RESULTS.md") : Path.Combine(Run.RepoRoot(), "bench", "RESULTS.md"));
string? setNames = args.SkipWhile(a => a != "--sets").Skip(1).FirstOrDefault();
bool Wanted(string name) => only is null || only.Split(',').Contains(name);

var report = new Report(Run.Quick);
if (Wanted("threshold"))
{
    var unbounded = Run.Benchmark<ThresholdBenchmarks>(iterations: 15);
    var windowed = Run.Benchmark<WindowedThresholdBenchmarks>(iterations: 15);
    report.Threshold(unbounded, windowed);
}
if (Wanted("clip"))
{
    report.Clip(Measurements.ClipSpeed(Run.Quick));
}
if (Wanted("training"))
{
    report.Training(Throughput.Measure(Run.Quick));
}
if (Wanted("inference"))
{
    report.Inference(Measurements.InferenceSpeed(Run.Quick));
}
if (Wanted("memory"))
{
    report.Memory(Measurements.MemoryUse(Run.Quick));
}
if (Wanted("trainers"))
{
    double before = Comparison.MatrixMultiplyRate(Run.Quick);
    var compared = Comparison.Run(Run.Quick, setNames is not null ? setNames.Split(',').Select(BundledData.Named).ToArray()
        : Run.Quick ? new[] { BundledData.DiamondsSet, BundledData.TelcoChurnSet, BundledData.SatelliteSet } : BundledData.All);
    double after = Comparison.MatrixMultiplyRate(Run.Quick);
    report.Trainers(compared, Math.Max(before, after));
}
if (Wanted("size"))
{
    report.ModelSizes(ModelSize.Measure(Run.Quick));
}
if (Wanted("scaling"))
{
    report.Scaling(Scaling.Measure(Run.Quick));
}
if (Wanted("threads"))
{
    report.Threads(Scaling.Threads(Run.Quick));
}
if (Wanted("packing"))
{
    var (packing, oneThreadRate) = Packing.Measure(Run.Quick);
    report.Packing(packing, oneThreadRate);
}

Directory.CreateDirectory(Path.GetDirectoryName(resultsPath)!);
File.WriteAllText(resultsPath, report.ToMarkdown(string.Join(' ', args)));
Console.WriteLine($"Results written to {resultsPath}");
return 0;

namespace Microsoft.ML.AutoClip.Benchmarks
{
    /// <summary>Run-wide settings and the BenchmarkDotNet configuration.</summary>
    public static class Run
    {
        /// <summary>Quick mode: the smallest sizes and a single iteration, so that CI keeps the benchmarks working.</summary>
        public static bool Quick { get; set; }

        public static string RepoRoot()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Microsoft.ML.AutoClip.sln")))
            {
                dir = dir.Parent;
            }
            return dir?.FullName ?? Environment.CurrentDirectory;
        }

        /// <summary>
        /// Runs one benchmark class in this process (the in-process toolchain: no generated project, no
        /// second copy of the TorchSharp natives). Each iteration is one invocation after an iteration set-up.
        /// </summary>
        public static Summary Benchmark<T>(int iterations)
        {
            var job = (Quick ? Job.Dry : Job.Default.WithWarmupCount(3).WithIterationCount(iterations))
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithLaunchCount(1)
                .WithInvocationCount(1)
                .WithUnrollFactor(1);
            var config = ManualConfig.CreateMinimumViable()
                .AddJob(job)
                .AddLogger(ConsoleLogger.Default)
                .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "autoclip-bdn"))
                .WithOptions(ConfigOptions.DisableOptimizationsValidator);
            return BenchmarkRunner.Run<T>(config);
        }
    }

    /// <summary>Collects the figures and writes bench/RESULTS.md.</summary>
    public sealed class Report
    {
        private readonly bool _quick;
        private readonly StringBuilder _body = new();

        public Report(bool quick) => _quick = quick;

        /// <summary>The side of the square products whose rate the report names (smaller in quick mode).</summary>
        private int Side => Comparison.MatrixMultiplySide(_quick);

        private static double MedianNs(Summary summary, string method, string? parameter = null, object? value = null)
        {
            var report = summary.Reports.Single(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method
                && (parameter is null || Equals(r.BenchmarkCase.Parameters[parameter]?.ToString(), value?.ToString())));
            return report.ResultStatistics?.Median ?? double.NaN;
        }

        private static string Verdict(bool met) => met ? "met" : "**missed**";

        /// <summary>A speed ratio: the median over the rounds, and the middle half of the rounds in brackets.</summary>
        private static string Ratio((double Median, double Low, double High) r) => $"{r.Median:F2}x ({r.Low:F2}–{r.High:F2})";

        private string Rounds(int rounds) => _quick
            ? "One round (quick mode)."
            : $"{rounds} interleaved rounds: times are medians; a ratio is the median of the ratios within each round, with the middle half of the rounds in brackets.";

        private static string Time(double ns) => ns switch
        {
            < 1_000 => $"{ns:F0} ns",
            < 1_000_000 => $"{ns / 1_000:F1} µs",
            < 1_000_000_000 => $"{ns / 1_000_000:F1} ms",
            _ => $"{ns / 1_000_000_000:F2} s",
        };

        public void Threshold(Summary unbounded, Summary windowed)
        {
            _body.AppendLine("## 1. Threshold bookkeeping (AutoClipper.Observe)");
            _body.AppendLine();
            _body.AppendLine("One step: record the norm, return the threshold. Reference: the autoclip.py algorithm written faithfully in C#");
            _body.AppendLine("(copy the history, select the two order statistics, interpolate as NumPy). Median time per step.");
            _body.AppendLine();
            _body.AppendLine("| history | AutoClip | reference | speed-up | target | verdict |");
            _body.AppendLine("|---|---|---|---|---|---|");
            foreach (int size in ThresholdBenchmarks.Sizes)
            {
                double ours = MedianNs(unbounded, nameof(ThresholdBenchmarks.AutoClip), nameof(ThresholdBenchmarks.HistorySize), size);
                double reference = MedianNs(unbounded, nameof(ThresholdBenchmarks.Reference), nameof(ThresholdBenchmarks.HistorySize), size);
                bool target = size == 1_000_000;
                _body.AppendLine($"| {size:N0} norms, unbounded | {Time(ours)} | {Time(reference)} | {reference / ours:N0}x | {(target ? "< 1 µs and ≥ 1000x" : "")} | {(target ? Verdict(ours < 1000 && reference / ours >= 1000) : "")} |");
            }
            foreach (int window in WindowedThresholdBenchmarks.Windows)
            {
                double ours = MedianNs(windowed, nameof(WindowedThresholdBenchmarks.AutoClip), nameof(WindowedThresholdBenchmarks.Window), window);
                double reference = MedianNs(windowed, nameof(WindowedThresholdBenchmarks.Reference), nameof(WindowedThresholdBenchmarks.Window), window);
                _body.AppendLine($"| window {window:N0}, after {WindowedThresholdBenchmarks.TrainingSteps:N0} steps | {Time(ours)} | {Time(reference)} | {reference / ours:N0}x | < 1 µs | {Verdict(ours < 1000)} |");
            }
            _body.AppendLine();
        }

        public void Clip(List<Measurements.Clip> results)
        {
            _body.AppendLine("## 2. Clip step on real gradients");
            _body.AppendLine();
            _body.AppendLine("AutoClip's clip (norm, record, threshold, scale) against TorchSharp's `clip_grad_norm_` with a fixed threshold,");
            _body.AppendLine("on the same gradients of an MLP after one backward pass; all scale the gradients by one half. `ClipGradients`");
            _body.AppendLine("takes one norm per parameter tensor; `ClipGradient` clips the contiguous buffer that every gradient is a view of");
            _body.AppendLine("(`AutoClipper.CreateContiguousGradients`, the path AutoClipNet trains with). Gradients are restored before each");
            _body.AppendLine($"call, outside the timing. {Rounds(Measurements.ClipRounds)} Times per call.");
            _body.AppendLine();
            _body.AppendLine("| model | clip_grad_norm_ | AutoClip `ClipGradients` (per tensor) | time ratio | AutoClip `ClipGradient` (contiguous) | time ratio | target | verdict |");
            _body.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (var c in results)
            {
                string size = c.Model == "100k" ? $"256-256-128-1 ({c.Parameters:N0} parameters)" : $"2048-2048-2048-512-1 ({c.Parameters:N0} parameters)";
                _body.AppendLine($"| {size} | {Time(c.ClipGradNormMicroseconds * 1e3)} | {Time(c.PerTensorMicroseconds * 1e3)} | {Ratio(c.PerTensorRatio)} | " +
                    $"{Time(c.ContiguousMicroseconds * 1e3)} | {Ratio(c.ContiguousRatio)} | ≤ 1.05x | " +
                    $"per tensor {Verdict(c.PerTensorRatio.Median <= 1.05)}, contiguous {Verdict(c.ContiguousRatio.Median <= 1.05)} |");
            }
            _body.AppendLine();
        }

        public void Training(List<Throughput.Result> results)
        {
            _body.AppendLine("## 3. Training throughput against the machine's matrix-multiply rate");
            _body.AppendLine();
            _body.AppendLine($"The limit: LibTorch's fp32 rate on one {Throughput.RateSide(_quick)}×{Throughput.RateSide(_quick)} matrix product, measured in every round beside the training. The work");
            _body.AppendLine("of training: the multiply-adds of the default network's matrix products per row (dense layers and embeddings), ×2 for");
            _body.AppendLine("FLOPs, ×3 for a training step (forward, and two products backward), times the rows trained; a fit also counts its");
            _body.AppendLine("validation rows' forward passes. Elementwise work (activations, the embeddings' cosines, Adam, the clip) is not");
            _body.AppendLine("counted: it is overhead against the limit. Rates are medians over the rounds; a fraction is the median of the");
            _body.AppendLine($"per-round ratios (quartiles in brackets). {Rounds(Throughput.Rounds)} Each fit is the default AutoClipNet of section 6.");
            _body.AppendLine();
            _body.AppendLine("| data | MACs/row | batch × steps | fit | fit rate | of the limit | step loop | of the limit | TorchSharp nn loop (dense only) | of the limit | the dense layers' products alone | of the limit | AutoClip's share of the fit |");
            _body.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in results)
            {
                _body.AppendLine($"| {r.Data} ({r.TrainingRows:N0} rows) | {r.MultiplyAddsPerRow:N0} | {r.BatchSize} × {r.Steps:N0} ({r.Epochs} epochs) | {r.FitSeconds:F2} s | " +
                    $"{r.FitGflops:F1} GFLOP/s | {Percent(r.FitFraction)} | {r.StepGflops:F1} GFLOP/s ({r.StepMilliseconds:F2} ms/step) | {Percent(r.StepFraction)} | " +
                    $"{r.HandWrittenGflops:F1} GFLOP/s | {Percent(r.HandWrittenFraction)} | {r.ProductsGflops:F1} GFLOP/s | {Percent(r.ProductsFraction)} | " +
                    $"{r.AutoClipShare.Median * 100:+0.0;-0.0}% ({r.AutoClipShare.Low * 100:+0.0;-0.0} to {r.AutoClipShare.High * 100:+0.0;-0.0}) |");
            }
            _body.AppendLine();
            _body.AppendLine("The default networks: " + string.Join("; ", results.Select(r => $"{r.Data}: {r.Network}")) + ".");
            _body.AppendLine();
            _body.AppendLine($"Matrix-multiply rate (the limit), median per set: {string.Join(", ", results.Select(r => $"{r.Data} {r.GemmGflops:F0} GFLOP/s"))}. Target: the step loop at ≥ 50% of it.");
            _body.AppendLine();
            _body.AppendLine("\"The dense layers' products alone\" runs only the step's matrix products (per dense layer: the forward product, the input's");
            _body.AppendLine("gradient and the weights' gradient, at the step's batch size, into buffers allocated once): the most a step of these shapes");
            _body.AppendLine("could reach with everything else (activations, embeddings, loss, clip, Adam) taking no time at all.");
            _body.AppendLine();
            _body.AppendLine("Where a step's time goes (mean ms over 100 steps, timed in the step loop):");
            _body.AppendLine();
            _body.AppendLine("| data | " + string.Join(" | ", results[0].StepParts.Select(p => p.Part)) + " |");
            _body.AppendLine("|---|" + string.Concat(results[0].StepParts.Select(_ => "---|")));
            foreach (var r in results)
            {
                _body.AppendLine($"| {r.Data} | " + string.Join(" | ", r.StepParts.Select(p => $"{p.Milliseconds:F3}")) + " |");
            }
            _body.AppendLine();
        }

        private static string Percent((double Median, double Low, double High) r) => $"{r.Median * 100:F0}% ({r.Low * 100:F0}–{r.High * 100:F0})";

        public void Inference(Measurements.Inference i)
        {
            _body.AppendLine("## 4. Inference");
            _body.AppendLine();
            _body.AppendLine($"flights, {i.Rows:N0} rows, the previous network (`Architecture = Mlp`, 2-64-64-1: standardization, two ReLU layers), which a");
            _body.AppendLine("raw TorchSharp forward computes with the same weights. `Transform` reads the cached IDataView and the Score column is");
            _body.AppendLine("consumed through a cursor; the raw forward runs over a pre-built, standardized tensor");
            _body.AppendLine("(`linear` and `relu` per layer, as a TorchSharp user would write it).");
            _body.AppendLine($"{Rounds(Measurements.InferenceRounds)}");
            _body.AppendLine();
            _body.AppendLine("| run | time | rows/s | Transform's speed against it | target | verdict |");
            _body.AppendLine("|---|---|---|---|---|---|");
            _body.AppendLine($"| AutoClipNet `Transform` | {Time(i.TransformSeconds * 1e9)} | {i.Rows / i.TransformSeconds:N0} | | | |");
            _body.AppendLine($"| raw TorchSharp forward, batches of {Measurements.TransformBatchSize} (as Transform) | {Time(i.RawBatchedSeconds * 1e9)} | {i.Rows / i.RawBatchedSeconds:N0} | {Ratio(i.TransformSpeed)} | ≥ 0.8x | {Verdict(i.TransformSpeed.Median >= 0.8)} |");
            _body.AppendLine($"| raw TorchSharp forward, one call | {Time(i.RawOneShotSeconds * 1e9)} | {i.Rows / i.RawOneShotSeconds:N0} | | | |");
            _body.AppendLine($"| where Transform's time goes: reading the rows' features through an ML.NET cursor, nothing else | {Time(i.CursorOnlySeconds * 1e9)} | {i.Rows / i.CursorOnlySeconds:N0} | | | |");
            _body.AppendLine($"| where Transform's time goes: AutoClipNet's batch scorer over the same rows already in memory (no IDataView) | {Time(i.ScorerOnlySeconds * 1e9)} | {i.Rows / i.ScorerOnlySeconds:N0} | | | |");
            _body.AppendLine($"| PredictionEngine, one row | {i.PredictionEngineMicroseconds:F1} µs | {1e6 / i.PredictionEngineMicroseconds:N0} | | reported | |");
            _body.AppendLine($"| ONNX Runtime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString(3)} (model exported with `ConvertToOnnx`), batches of {Measurements.TransformBatchSize}, rows in memory | {Time(i.OnnxBatchedSeconds * 1e9)} | {i.Rows / i.OnnxBatchedSeconds:N0} | | reported | |");
            _body.AppendLine($"| ONNX Runtime, one call | {Time(i.OnnxOneShotSeconds * 1e9)} | {i.Rows / i.OnnxOneShotSeconds:N0} | | reported | |");
            _body.AppendLine($"| ONNX Runtime, one row | {i.OnnxRowMicroseconds:F1} µs | {1e6 / i.OnnxRowMicroseconds:N0} | | reported | |");
            _body.AppendLine();
            _body.AppendLine($"ONNX Runtime's scores differ from Transform's by at most {i.OnnxLargestDifference:E1} (relative, 1 as the floor) on these rows.");
            _body.AppendLine();
        }

        public void ModelSizes(IReadOnlyList<ModelSize.Size> sizes)
        {
            _body.AppendLine("## 7. Model size and the training history");
            _body.AppendLine();
            _body.AppendLine("The saved `.zip` (the whole pipeline) under each `HistoryDetail`. `Summary`, the default, keeps every epoch, exact");
            _body.AppendLine("step counts and 1,024 to 2,048 evenly spaced steps; `EveryStep` keeps every step and the AutoClip state (8 bytes of");
            _body.AppendLine("norm history a step); `None` only the counts. What is kept does not change what is trained.");
            _body.AppendLine();
            _body.AppendLine("| run | steps | HistoryDetail | model | steps kept | fit |");
            _body.AppendLine("|---|---|---|---|---|---|");
            foreach (var s in sizes)
            {
                string size = s.Bytes >= 1 << 20 ? $"{s.Bytes / 1048576.0:F1} MB" : $"{s.Bytes / 1024.0:F0} KB";
                _body.AppendLine($"| {s.Run} | {s.Steps:N0} | {s.Detail} | {size} | {s.StepsKept:N0} | {s.FitSeconds:F0} s |");
            }
            _body.AppendLine();
        }

        public void Memory(Measurements.Memory m)
        {
            double second = m.WorkingSetMBPerEpoch.Length > 1 ? m.WorkingSetMBPerEpoch[1] : double.NaN;
            double last = m.WorkingSetMBPerEpoch[^1];
            double growth = last / second - 1;
            _body.AppendLine("## 5. Memory");
            _body.AppendLine();
            _body.AppendLine($"AutoClipNet (defaults) on flights, {m.Rows:N0} rows, {m.Epochs} epochs; working set and managed heap read after each");
            _body.AppendLine("epoch, after a full garbage collection (so that they show what training keeps, not garbage awaiting collection).");
            _body.AppendLine();
            _body.AppendLine("| measure | value | target | verdict |");
            _body.AppendLine("|---|---|---|---|");
            _body.AppendLine($"| working set after epoch 2 | {second:N0} MB | | |");
            _body.AppendLine($"| working set after epoch {m.Epochs} | {last:N0} MB | | |");
            _body.AppendLine($"| growth from epoch 2 to epoch {m.Epochs} | {growth:P1} | ≤ 5% | {Verdict(growth <= 0.05)} |");
            _body.AppendLine($"| managed heap after epoch 2 / epoch {m.Epochs} | {(m.ManagedMBPerEpoch.Length > 1 ? m.ManagedMBPerEpoch[1] : double.NaN):F1} / {m.ManagedMBPerEpoch[^1]:F1} MB | reported | |");
            _body.AppendLine(m.PeakIsTrainingOnly
                ? $"| peak working set during training (the kernel's peak RSS, reset just before `Fit`) | {m.PeakWorkingSetMB:N0} MB | reported | |"
                : $"| peak working set of the whole benchmark process so far | {m.PeakWorkingSetMB:N0} MB | reported | |");
            _body.AppendLine($"| live TorchSharp tensors on the training thread after epoch 2 / epoch {m.Epochs} | {m.LiveTensorsPerEpoch[Math.Min(1, m.LiveTensorsPerEpoch.Length - 1)]} / {m.LiveTensorsPerEpoch[^1]} | equal (no leak) | {Verdict(m.LiveTensorsPerEpoch[^1] == m.LiveTensorsPerEpoch[Math.Min(1, m.LiveTensorsPerEpoch.Length - 1)])} |");
            _body.AppendLine($"| TorchSharp tensors left alive once training is over | {m.LiveTensorsAfter} | 0 | {Verdict(m.LiveTensorsAfter == 0)} |");
            _body.AppendLine($"| AutoClipper, window 1,000: managed memory after 10,000 / {(_quick ? 20_000 : 1_000_000):N0} steps | {m.WindowedBytesAfter10k:N0} / {m.WindowedBytesAfter1M:N0} bytes | constant | {Verdict(m.WindowedBytesAfter1M <= m.WindowedBytesAfter10k + 1024)} |");
            _body.AppendLine($"| AutoClipper, unbounded: managed memory after 10,000 / {(_quick ? 20_000 : 1_000_000):N0} steps | {m.UnboundedBytesAfter10k:N0} / {m.UnboundedBytesAfter1M:N0} bytes | grows with the history | |");
            _body.AppendLine();
            _body.AppendLine("Working set after each epoch (MB): " + string.Join(", ", m.WorkingSetMBPerEpoch.Select(v => v.ToString("F0"))) + ".");
            _body.AppendLine();
            _body.AppendLine("Managed heap after each epoch (MB): " + string.Join(", ", m.ManagedMBPerEpoch.Select(v => v.ToString("F1"))) + ".");
            _body.AppendLine();
        }

        internal void Scaling(List<Scaling.Result> results)
        {
            _body.AppendLine("## 8. Fit time and memory against the data's size");
            _body.AppendLine();
            _body.AppendLine("Synthetic regression rows (bench/Microsoft.ML.AutoClip.Benchmarks/Scaling.cs: standard normal features, the label a nonlinear");
            _body.AppendLine("function of the first ten plus noise, the other features noise), cached in memory; the default AutoClipNet (regression's");
            _body.AppendLine("default effort, `Fast`: 3 x 128, about 512 steps), its most accurate effort (`Effort = Best`: 3 x 256, about 1,024 steps,");
            _body.AppendLine("the default before issue 20) and LightGbm with its defaults, each fit once untimed on 300 rows first, then one after the other");
            _body.AppendLine("in this process, seed 1, one run each. Fit time is `Fit` alone; \"peak\" is the process's peak working set during the fit");
            _body.AppendLine("(the kernel's peak RSS, reset just before it) and \"+\" its rise over the working set just before the fit (after a full");
            _body.AppendLine("collection; the cached rows and the natives already loaded are in both, so the rise is what the fit itself took); R² on 20,000");
            _body.AppendLine("fresh rows (the noise is about 8% of the label's variance, so about 0.92 is the best R² possible).");
            _body.AppendLine();
            var trainers = results.Select(r => r.Trainer).Distinct().ToArray();
            var sizes = results.Select(r => (r.Rows, r.Features)).Distinct().ToArray();
            _body.AppendLine("| rows × features | " + string.Join(" | ", trainers.Select(t => $"{t}: fit, peak, R²")) + " | " + string.Join(" | ", trainers.Where(t => t != "LightGbm").Select(t => $"{t} / LightGbm")) + " |");
            _body.AppendLine("|---|" + string.Concat(trainers.Select(_ => "---|")) + string.Concat(trainers.Where(t => t != "LightGbm").Select(_ => "---|")));
            foreach (var (rows, features) in sizes)
            {
                Scaling.Result? Cell(string trainer) => results.FirstOrDefault(r => r.Rows == rows && r.Features == features && r.Trainer == trainer);
                var lightGbm = Cell("LightGbm");
                var cells = trainers.Select(t => Cell(t) is { } r ? $"{r.Seconds:F1} s, {r.PeakMB:N0} MB{(r.PeakIsFitOnly ? $" (+{Math.Max(0, r.PeakMB - r.BeforeMB):N0})" : " (process)")}, {r.RSquared:F3}" : "");
                var ratios = trainers.Where(t => t != "LightGbm").Select(t => Cell(t) is { } r && lightGbm is not null ? $"{r.Seconds / lightGbm.Seconds:F1}x" : "");
                _body.AppendLine($"| {rows:N0} × {features:N0} | " + string.Join(" | ", cells) + " | " + string.Join(" | ", ratios) + " |");
            }
            _body.AppendLine();
        }

        internal void Packing(List<Packing.Result> results, double oneThreadRate)
        {
            _body.AppendLine("## 10. Packed members: the matrix products alone");
            _body.AppendLine();
            _body.AppendLine($"A hidden layer's product for an ensemble of {Benchmarks.Packing.Members} members on one LibTorch thread (each member trains on one): as the trainer runs it,");
            _body.AppendLine($"{Benchmarks.Packing.Members} products of batch × width by width × width into preallocated outputs (\"separate\"), against the same arithmetic packed as");
            _body.AppendLine($"TabM packs it: one product of {Benchmarks.Packing.Members}·batch rows (\"stacked\": shared weights) and one batched product (\"bmm\": a weight");
            _body.AppendLine("per member; it allocates its output, TorchSharp having no in-place batched product). Interleaved rounds after one");
            _body.AppendLine("unmeasured round; GFLOP/s are medians, the speed-ups the median of the per-round ratios over the separate products (lower");
            _body.AppendLine($"and upper quartiles in brackets). The same thread's {Side} × {Side} rate: {oneThreadRate / 1e9:F0} GFLOP/s.");
            _body.AppendLine();
            _body.AppendLine($"| width | batch | separate | of the {Side}² rate | stacked | speed-up | bmm | speed-up |");
            _body.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in results)
            {
                _body.AppendLine($"| {r.Width} | {r.Batch} | {r.Separate:F0} GFLOP/s | {r.Separate * 1e9 / oneThreadRate:P0} | {r.Stacked:F0} GFLOP/s | {r.StackedSpeed.Median:F2}x ({r.StackedSpeed.Low:F2}–{r.StackedSpeed.High:F2}) | " +
                    $"{r.Batched:F0} GFLOP/s | {r.BatchedSpeed.Median:F2}x ({r.BatchedSpeed.Low:F2}–{r.BatchedSpeed.High:F2}) |");
            }
            _body.AppendLine();
        }

        internal void Threads(List<Scaling.ThreadResult> results)
        {
            _body.AppendLine("## 9. One thread against two");
            _body.AppendLine();
            _body.AppendLine("Fit time with each trainer's `NumberOfThreads` at 1 and at 2, in interleaved rounds after one unmeasured round (median;");
            _body.AppendLine("the speed-up is the median of the per-round ratios, lower and upper quartiles in brackets). diamonds trains one AutoClipNet network (more than");
            _body.AppendLine("4,000 rows), whose products get the LibTorch threads; credit trains the default ensemble of five, two members side by");
            _body.AppendLine("side at two threads (each on one LibTorch thread), so at most 5/3 = 1.67x (one worker trains three).");
            _body.AppendLine();
            _body.AppendLine("| data | trainer | 1 thread | 2 threads | speed-up |");
            _body.AppendLine("|---|---|---|---|---|");
            foreach (var r in results)
            {
                _body.AppendLine($"| {r.Data} | {r.Trainer} | {r.OneThread:F2} s | {r.TwoThreads:F2} s | {r.Speed.Median:F2}x ({r.Speed.Low:F2}–{r.Speed.High:F2}) |");
            }
            _body.AppendLine();
        }

        internal void Trainers(List<Comparison.Result> results, double matrixMultiplyRate)
        {
            _body.AppendLine("## 6. Against the trainers ML.NET users would pick instead");
            _body.AppendLine();
            _body.AppendLine("Every bundled data set (data/SOURCES.md): held-out 20% (TrainTestSplit seed 1), the featurizer (missing numbers replaced by");
            _body.AppendLine("the mean, categories one-hot encoded) fitted on the training rows. AutoClipNet with its default options (seed 1; the task's");
            _body.AppendLine("effort, `Fast` for regression and binary, `Best` for multiclass; an ensemble of 5 networks up to 4,000 training rows, one");
            _body.AppendLine("network above), and the network of its first release (`Architecture = Mlp`); LightGbm and FastTree with their defaults;");
            _body.AppendLine($"the linear trainers after NormalizeMinMax. One run each; fit time is `Fit` alone, each fit after a pause of {FitTiming.SettleMilliseconds / 1000.0:0.#} s");
            _body.AppendLine("(eng/Shared/FitTiming.cs: without it LightGbm's fit right after a network's ran up to ten times slower); each task's trainers");
            _body.AppendLine("fit once, untimed, on 300 rows of its first set before anything is timed (native libraries loaded, code compiled), and");
            _body.AppendLine("each set's featurized rows are read into memory before its first fit.");
            _body.AppendLine("The default AutoClipNet also runs with seeds 2 and 3: its mean over the three seeds (lowest and highest in brackets)");
            _body.AppendLine("is in its own column, and the targets are checked on it, since a seed alone moves the small sets by hundredths. The best");
            _body.AppendLine("headline metric of each set is in bold (seed 1 or the mean); \"vs best\" is the three-seed mean's distance to the best");
            _body.AppendLine("other trainer, \"time\" the default's fit time over LightGbm's, and \"at the limit\" the time the default's fit would take");
            _body.AppendLine($"if all its work ran at the machine's fp32 matrix-multiply rate, measured in this run ({matrixMultiplyRate / 1e9:F0} GFLOP/s on {Side}×{Side}");
            _body.AppendLine("products; the work counted as in section 3: the matrix products of every step, forward and backward, and of every epoch's");
            _body.AppendLine("validation rows), over LightGbm's time.");
            _body.AppendLine();
            _body.AppendLine($"Outside anchors: {Anchors.Status}. They run with their defaults on exactly the featurized rows the ML.NET trainers saw");
            _body.AppendLine("(HistGradientBoosting with random_state=0, so its early stopping holds out the same rows each run), their fit timed inside");
            _body.AppendLine("Python (without the interpreter's start or the rows' dump), their predictions scored by ML.NET's evaluators; like LightGbm they use every core.");
            var summaries = new List<(string Data, double Mean, double Best, double LightGbm, double Seconds, double LightGbmSeconds, double LimitSeconds)>();
            var gaps = new List<(string Data, string Other, (double Difference, double Low, double High) Interval, int Rows)>();
            foreach (var task in new[] { DataTask.Regression, DataTask.Binary, DataTask.Multiclass })
            {
                var ofTask = results.Where(r => r.Task == task).ToList();
                if (ofTask.Count == 0)
                {
                    continue;
                }
                var trainers = ofTask.Select(r => r.Trainer).Where(t => !Comparison.IsOtherSeed(t)).Distinct().ToArray();
                bool seeds = ofTask.Any(r => Comparison.IsOtherSeed(r.Trainer));
                _body.AppendLine();
                _body.AppendLine($"### {task}: {Comparison.MetricName(task)} ({Comparison.SecondaryName(task)}), fit time");
                _body.AppendLine();
                _body.AppendLine("| data | rows × features | " + string.Join(" | ", trainers) + (seeds ? " | AutoClipNet, seeds 1–3 |" : " |") + " AutoClipNet vs best | time vs LightGbm | at the limit vs LightGbm |");
                _body.AppendLine("|---|---|" + string.Concat(trainers.Select(_ => "---|")) + (seeds ? "---|" : "") + "---|---|---|");
                foreach (var set in ofTask.GroupBy(r => r.Data))
                {
                    var ours = set.Single(r => r.Trainer == Comparison.AutoClipNet);
                    var runs = set.Where(r => r.Trainer == Comparison.AutoClipNet || Comparison.IsOtherSeed(r.Trainer)).ToList();
                    double mean = runs.Average(r => r.Metric);
                    var others = set.Where(r => r.Trainer != Comparison.AutoClipNet && !Comparison.IsOtherSeed(r.Trainer)).ToList();
                    var bestOtherResult = others.MaxBy(r => r.Metric)!;
                    double bestOther = bestOtherResult.Metric;
                    double best = Math.Max(bestOther, Math.Max(mean, ours.Metric));
                    var lightGbm = set.Single(r => r.Trainer == "LightGbm");
                    double limit = ours.FitFlops / matrixMultiplyRate;
                    var cells = trainers.Select(t => set.SingleOrDefault(r => r.Trainer == t) is { } r
                        ? (r.Metric == best ? $"**{r.Metric:F4}**" : $"{r.Metric:F4}") + $" ({r.Secondary:G4}{(double.IsNaN(r.Coverage) ? "" : double.IsPositiveInfinity(r.Coverage) ? "; interval unbounded: no hold-out" : $"; 90% interval covers {r.Coverage:P0}")}), {r.FitSeconds:F1} s"
                        : "");
                    string spread = seeds ? $" | {(mean == best ? $"**{mean:F4}**" : $"{mean:F4}")} ({runs.Min(r => r.Metric):F4}–{runs.Max(r => r.Metric):F4})" : "";
                    _body.AppendLine($"| {set.Key} | {ours.TrainingRows:N0} × {ours.Features} | " + string.Join(" | ", cells) + spread +
                        $" | {mean - bestOther:+0.0000;-0.0000;0} | {ours.FitSeconds / lightGbm.FitSeconds:F1}x | {limit:F2} s: {limit / lightGbm.FitSeconds:F1}x |");
                    summaries.Add((set.Key, mean, bestOther, lightGbm.Metric, ours.FitSeconds, lightGbm.FitSeconds, limit));
                    if (mean < bestOther - 0.01)
                    {
                        gaps.Add((set.Key, bestOtherResult.Trainer, Comparison.PairedBootstrap(ours, bestOtherResult), ours.Labels.Length));
                    }
                }
            }
            // The issue's targets, over every set, on the default's mean over its seeds.
            int n = summaries.Count;
            int withinBest = summaries.Count(s => s.Mean >= s.Best - 0.01);
            int aheadOfLightGbm = summaries.Count(s => s.Mean > s.LightGbm);
            int aheadOfAll = summaries.Count(s => s.Mean > s.Best);
            int withinTime = summaries.Count(s => s.Seconds <= 10 * s.LightGbmSeconds);
            var timeRatios = summaries.Select(s => s.Seconds / s.LightGbmSeconds).OrderBy(r => r).ToArray();
            double medianTime = Measurements.Median(timeRatios);
            int above30 = timeRatios.Count(r => r > 30);
            int withinTimeAtLimit = summaries.Count(s => s.LimitSeconds <= 10 * s.LightGbmSeconds);
            _body.AppendLine();
            _body.AppendLine("| target (default AutoClipNet, every set) | measured | verdict |");
            _body.AppendLine("|---|---|---|");
            _body.AppendLine($"| within 0.01 of the best other trainer's headline metric on every set | {withinBest} of {n} | {Verdict(withinBest == n)} |");
            _body.AppendLine($"| ahead of LightGbm on at least half of the sets | {aheadOfLightGbm} of {n} | {Verdict(2 * aheadOfLightGbm >= n)} |");
            _body.AppendLine($"| ahead of every other trainer in the table on at least half of the sets | {aheadOfAll} of {n} | {Verdict(2 * aheadOfAll >= n)} |");
            _body.AppendLine($"| fit time within 10x LightGbm's on every set | {withinTime} of {n} | {Verdict(withinTime == n)} |");
            _body.AppendLine($"| median fit time over LightGbm's at most 10x | {medianTime:F1}x | {Verdict(medianTime <= 10)} |");
            _body.AppendLine($"| no set's fit time above 30x LightGbm's | {above30} above (highest {timeRatios[^1]:F0}x) | {Verdict(above30 == 0)} |");
            _body.AppendLine($"| the same, were the default's whole fit to run at the matrix-multiply rate | {withinTimeAtLimit} of {n} | reported: what the default's work allows |");
            _body.AppendLine($"| mean headline metric minus LightGbm's | {summaries.Average(s => s.Mean - s.LightGbm):+0.0000;-0.0000} | reported |");
            _body.AppendLine();
            if (gaps.Count > 0)
            {
                _body.AppendLine("Where the default is more than 0.01 behind, how much the held-out rows alone could move the difference: the seed-1");
                _body.AppendLine("default against the best other trainer on the same held-out rows, with the 95% interval of a paired bootstrap");
                _body.AppendLine("(2,000 resamples of the rows). An interval that holds 0 is a gap these rows cannot tell from chance.");
                _body.AppendLine();
                _body.AppendLine("| data | held-out rows | best other | difference (seed 1) | 95% interval |");
                _body.AppendLine("|---|---|---|---|---|");
                foreach (var g in gaps)
                {
                    _body.AppendLine($"| {g.Data} | {g.Rows:N0} | {g.Other} | {g.Interval.Difference:+0.0000;-0.0000} | {g.Interval.Low:+0.0000;-0.0000} to {g.Interval.High:+0.0000;-0.0000} |");
                }
                _body.AppendLine();
            }
        }


        /// <summary>An assembly's package version (its informational version without the commit hash): Microsoft.ML's assembly version is 1.0.0.0 in every release.</summary>
        private static string PackageVersion(System.Reflection.Assembly assembly)
            => (System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(assembly)?.InformationalVersion
                ?? assembly.GetName().Version?.ToString() ?? "?").Split('+')[0];

        public string ToMarkdown(string arguments)
        {
            var text = new StringBuilder();
            text.AppendLine(_quick ? "# Benchmark results (quick mode: tiny sizes, not for reading)" : "# Benchmark results");
            text.AppendLine();
            text.AppendLine($"Command: `dotnet run -c Release --project bench/Microsoft.ML.AutoClip.Benchmarks{(arguments.Length > 0 ? " -- " + arguments : "")}`  ");
            text.AppendLine($"Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC  ");
            text.AppendLine($"Machine: {Cpu()}, {Environment.ProcessorCount} logical cores, {MemoryGiB():F0} GiB RAM, {RuntimeInformation.OSDescription}  ");
            text.AppendLine($"Runtime: {RuntimeInformation.FrameworkDescription}, TorchSharp {typeof(TorchSharp.torch).Assembly.GetName().Version} (LibTorch {TorchSharp.torch.__version__}, {TorchSharp.torch.get_num_threads()} threads), Microsoft.ML {PackageVersion(typeof(Microsoft.ML.MLContext).Assembly)}");
            text.AppendLine();
            text.Append(_body);
            return text.ToString();
        }

        private static string Cpu() => MachineInfo.CpuModel() ?? RuntimeInformation.ProcessArchitecture.ToString();

        private static double MemoryGiB()
        {
            try
            {
                string? line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal", StringComparison.Ordinal));
                return line is null ? double.NaN : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1048576.0;
            }
            catch (IOException)
            {
                return double.NaN;
            }
        }
    }
}
