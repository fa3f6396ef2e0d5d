using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// The measurements that are whole runs rather than microbenchmarks (targets 3 to 6). Compared
/// variants run interleaved (A, B, C, A, B, C, ...) in one process. Times are medians over the
/// rounds; a ratio is the median over the rounds of the ratio within each round, so that a slow
/// stretch of this shared VM, which lasts seconds to minutes, weighs on both sides of it alike.
/// </summary>
public static class Measurements
{
    /// <summary>The seconds every variant took in every interleaved round.</summary>
    public sealed class Rounds
    {
        private readonly List<double>[] _seconds;

        public Rounds(List<double>[] seconds) => _seconds = seconds;

        /// <summary>Median seconds of one variant.</summary>
        public double Median(int variant) => Measurements.Median(_seconds[variant]);

        /// <summary>
        /// How fast <paramref name="variant"/> runs against <paramref name="baseline"/> (baseline's time
        /// over the variant's, above 1 when the variant is faster): the median over the rounds, with the
        /// lower and upper quartiles.
        /// </summary>
        public (double Median, double Low, double High) Speed(int variant, int baseline)
        {
            var ratios = _seconds[baseline].Zip(_seconds[variant], (b, v) => b / v).OrderBy(r => r).ToArray();
            return (Measurements.Median(ratios), Quantile(ratios, 0.25), Quantile(ratios, 0.75));
        }

        /// <summary>
        /// <paramref name="variant"/>'s time over <paramref name="baseline"/>'s (below 1 when the
        /// variant is faster): the median over the rounds, with the lower and upper quartiles.
        /// </summary>
        public (double Median, double Low, double High) TimeRatio(int variant, int baseline)
        {
            var ratios = _seconds[variant].Zip(_seconds[baseline], (v, b) => v / b).OrderBy(r => r).ToArray();
            return (Measurements.Median(ratios), Quantile(ratios, 0.25), Quantile(ratios, 0.75));
        }

        private static double Quantile(double[] sorted, double q)
        {
            double position = q * (sorted.Length - 1);
            int below = (int)Math.Floor(position);
            int above = Math.Min(below + 1, sorted.Length - 1);
            return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
        }
    }

    /// <summary>
    /// Runs the variants in <paramref name="repetitions"/> interleaved rounds, after
    /// <paramref name="warmupRounds"/> unmeasured ones, with a full garbage collection before each run.
    /// Short variants need several warm-up rounds: .NET's tiered compilation reaches its final code
    /// only after a method has run a while (see <see cref="InferenceWarmupRounds"/>).
    /// </summary>
    public static Rounds Interleaved(int repetitions, int warmupRounds, params Action[] variants)
        => Interleaved(repetitions, warmupRounds, variants.Select(variant => (Func<double>)(() =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var watch = Stopwatch.StartNew();
            variant();
            return watch.Elapsed.TotalSeconds;
        })).ToArray());

    /// <summary>The interleaving itself: each variant runs and returns the seconds it measured.</summary>
    public static Rounds Interleaved(int repetitions, int warmupRounds, params Func<double>[] timedVariants)
    {
        for (int r = 0; r < warmupRounds; r++)
        {
            foreach (var variant in timedVariants)
            {
                variant(); // JIT tiers, native library pages, caches
            }
        }
        var times = timedVariants.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < repetitions; r++)
        {
            for (int v = 0; v < timedVariants.Length; v++)
            {
                times[v].Add(timedVariants[v]());
            }
        }
        return new Rounds(times);
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    // ------------------------------------------------------------------ target 2: clip step

    /// <summary>Interleaved rounds of the clip measurement, after as many warm-up rounds again.</summary>
    public const int ClipRounds = 41;

    /// <summary>Median microseconds per call, and AutoClip's time over clip_grad_norm_'s (median, lower and upper quartile over the rounds).</summary>
    public sealed record Clip(string Model, long Parameters, double ClipGradNormMicroseconds, double PerTensorMicroseconds, double ContiguousMicroseconds,
        (double Median, double Low, double High) PerTensorRatio, (double Median, double Low, double High) ContiguousRatio);

    /// <summary>
    /// The three clip steps of <see cref="ClipStep"/> in interleaved rounds. A round times several
    /// calls of each (gradients restored before each call, outside the timing) and keeps the mean per
    /// call, so the ratios are taken within one round. (BenchmarkDotNet measures one method after the
    /// other; on this VM, whose speed drifts over minutes, that moved the ratio of the same code from
    /// 0.8x to 1.85x between two runs.)
    /// </summary>
    public static List<Clip> ClipSpeed(bool quick)
    {
        var results = new List<Clip>();
        foreach (string model in ClipStep.Models)
        {
            using var clip = new ClipStep(model);
            int calls = model == "100k" ? 20 : 3;
            // Seconds per call over `calls` calls, gradients restored before each call, outside the timing.
            Func<double> PerCall(Func<double> step) => () =>
            {
                var watch = new Stopwatch();
                for (int i = 0; i < calls; i++)
                {
                    clip.RestoreGradients();
                    watch.Start();
                    step();
                    watch.Stop();
                }
                return watch.Elapsed.TotalSeconds / calls;
            };
            int rounds = quick ? 1 : ClipRounds;
            var measured = Interleaved(rounds, warmupRounds: rounds, PerCall(clip.ClipGradNorm), PerCall(clip.AutoClip), PerCall(clip.AutoClipContiguous));
            results.Add(new Clip(model, clip.ParameterCount, measured.Median(0) * 1e6, measured.Median(1) * 1e6, measured.Median(2) * 1e6,
                measured.TimeRatio(1, baseline: 0), measured.TimeRatio(2, baseline: 0)));
        }
        return results;
    }

    // ------------------------------------------------------------------ target 3: training throughput

    public sealed class Row2
    {
        public float Label { get; set; }

        [VectorType(2)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    // ------------------------------------------------------------------ target 4: inference

    /// <summary>The batch size AutoClipNet's Transform uses (AutoClipNetPredictionTransformer.TransformBatchSize).</summary>
    public const int TransformBatchSize = 4096;

    /// <summary>Interleaved rounds of the inference measurement.</summary>
    public const int InferenceRounds = 21;

    /// <summary>
    /// Unmeasured rounds first. Everything Transform sets up (ML.NET's scorer, schema and cursor code)
    /// runs once per call, so .NET recompiles it in the background only after about 30 calls; with 5
    /// warm-up rounds that recompilation fell inside the measured rounds and took CPU from LibTorch's
    /// threads (Transform up to 2x slower in some rounds; gone with DOTNET_TieredCompilation=0 or
    /// with 40 warm-up rounds).
    /// </summary>
    public const int InferenceWarmupRounds = 40;

    /// <summary>Inference times; TransformSpeed is Transform's speed against the raw batched forward (median, lower and upper quartile over the rounds).</summary>
    public sealed record Inference(int Rows, double TransformSeconds, double RawBatchedSeconds, double RawOneShotSeconds, double CursorOnlySeconds,
        double ScorerOnlySeconds, (double Median, double Low, double High) TransformSpeed, double PredictionEngineMicroseconds,
        double OnnxBatchedSeconds, double OnnxOneShotSeconds, double OnnxRowMicroseconds, double OnnxLargestDifference);

    /// <summary>
    /// Transform over the flights rows (reading the IDataView and consuming the Score column) against a
    /// raw TorchSharp forward of the same network over a pre-built, standardized tensor, in batches of
    /// 4096 (as Transform does) and in one call. Also, to show where Transform's time goes: reading the
    /// features through an ML.NET cursor alone, and AutoClipNet's own batch scorer over the same rows
    /// already in memory (no IDataView). And the PredictionEngine's single-row latency. Beside them, ONNX Runtime
    /// over the same model exported with <c>mlContext.Model.ConvertToOnnx</c>, on the same rows (in memory, as a
    /// serving process would hold them), in batches of 4096, in one call and one row at a time.
    /// </summary>
    public static Inference InferenceSpeed(bool quick)
    {
        var ml = new MLContext(seed: 0);
        var data = Data.Flights(ml, quick ? 5_000 : null);
        int rows = Data.RowCount(data);
        var model = ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp, NumberOfEpochs = 1, Seed = 1 })
            .Fit(quick ? data : ml.Data.TakeRows(data, 20_000));
        var parameters = model.Model;

        // The same network as raw TorchSharp, and the same rows as a standardized tensor.
        var inputs = ml.Data.CreateEnumerable<Row2>(data, reuseRowObject: false).ToArray();
        var flat = new float[rows * 2];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < 2; j++)
            {
                flat[i * 2 + j] = (inputs[i].Features[j] - parameters.FeatureCenters[j]) * parameters.FeatureScales[j];
            }
        }
        using var x = tensor(flat, rows, 2);
        var layers = new List<(Tensor W, Tensor B)>();
        int fanIn = 2;
        foreach (var dense in parameters.NetworkLayers.Where(l => l.Kind == AutoClipNetLayerKind.Dense))
        {
            layers.Add((tensor(dense.GetValues("weight"), dense.OutputSize, fanIn), tensor(dense.GetValues("bias"), new long[] { dense.OutputSize })));
            fanIn = dense.OutputSize;
        }
        var output = new float[rows];
        void Raw(int batch)
        {
            using var noGrad = no_grad();
            for (int start = 0; start < rows; start += batch)
            {
                using var scope = NewDisposeScope();
                var h = x.narrow(0, start, Math.Min(batch, rows - start));
                for (int l = 0; l < layers.Count; l++)
                {
                    h = nn.functional.linear(h, layers[l].W, layers[l].B);
                    if (l < layers.Count - 1)
                    {
                        h = nn.functional.relu(h);
                    }
                }
                h.data<float>().CopyTo(output.AsSpan(start));
            }
        }
        void Transform()
        {
            var scored = model.Transform(data);
            var score = scored.Schema["Score"];
            using var cursor = scored.GetRowCursor(new[] { score });
            var getter = cursor.GetGetter<float>(score);
            float value = 0;
            int i = 0;
            while (cursor.MoveNext())
            {
                getter(ref value);
                output[i++] = value;
            }
        }

        // Reading the same rows' features through an ML.NET cursor, and nothing else: the floor of any IDataView scorer.
        void CursorOnly()
        {
            var features = data.Schema["Features"];
            using var cursor = data.GetRowCursor(new[] { features });
            var getter = cursor.GetGetter<VBuffer<float>>(features);
            VBuffer<float> value = default;
            var row = new float[2];
            while (cursor.MoveNext())
            {
                getter(ref value);
                value.CopyTo(row);
            }
        }

        // AutoClipNet's batch scorer (standardization folded into the weights, buffers reused) over the
        // raw feature rows already in memory: Transform without the IDataView.
        var rawFeatures = inputs.SelectMany(r => r.Features).ToArray();
        using var scorer = parameters.CreateBatchScorer(TransformBatchSize);
        void ScorerOnly()
        {
            for (int start = 0; start < rows; start += scorer.Capacity)
            {
                int n = Math.Min(scorer.Capacity, rows - start);
                rawFeatures.AsSpan(start * 2, n * 2).CopyTo(scorer.Input);
                scorer.Forward(n).CopyTo(output.AsSpan(start));
            }
        }

        // ONNX Runtime (one intra-op thread per core, not spinning) over the exported model; its graph's input is Features.
        var onlyFeatures = ml.Transforms.SelectColumns("Features").Fit(data).Transform(data);
        using var onnxModel = new MemoryStream();
        ml.Model.ConvertToOnnx(model, onlyFeatures, onnxModel);
        using var sessionOptions = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        // ONNX Runtime's threads otherwise spin after each run and take the cores from the variants measured next.
        sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        using var session = new InferenceSession(onnxModel.ToArray(), sessionOptions);
        var onnxOutput = new float[rows];
        var scoreOnly = new[] { "Score.output" };
        void Onnx(int batch)
        {
            for (int start = 0; start < rows; start += batch)
            {
                int n = Math.Min(batch, rows - start);
                var features = new DenseTensor(rawFeatures.AsMemory(start * 2, n * 2), new[] { n, 2 });
                using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", features) }, scoreOnly);
                ((DenseTensor)results[0].AsTensor<float>()).Buffer.Span.CopyTo(onnxOutput.AsSpan(start));
            }
        }

        var rounds = Interleaved(quick ? 1 : InferenceRounds, warmupRounds: quick ? 1 : InferenceWarmupRounds, Transform, () => Raw(TransformBatchSize), () => Raw(rows), CursorOnly, ScorerOnly,
            () => Onnx(TransformBatchSize), () => Onnx(rows));
        Transform();
        Onnx(rows);
        double largestDifference = 0;
        for (int i = 0; i < rows; i++)
        {
            largestDifference = Math.Max(largestDifference, Math.Abs(onnxOutput[i] - output[i]) / Math.Max(1, Math.Abs(output[i])));
        }

        var engine = ml.Model.CreatePredictionEngine<Row2, Score>(model);
        int predictions = quick ? 1_000 : 20_000;
        for (int i = 0; i < 1000; i++)
        {
            engine.Predict(inputs[i % rows]);
        }
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < predictions; i++)
        {
            engine.Predict(inputs[i % rows]);
        }
        double latency = watch.Elapsed.TotalMilliseconds * 1000 / predictions;
        var oneRow = new DenseTensor(new float[2], new[] { 1, 2 });
        void OnnxRow(int i)
        {
            oneRow[0, 0] = inputs[i % rows].Features[0];
            oneRow[0, 1] = inputs[i % rows].Features[1];
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", oneRow) }, scoreOnly);
        }
        for (int i = 0; i < 1000; i++)
        {
            OnnxRow(i);
        }
        watch.Restart();
        for (int i = 0; i < predictions; i++)
        {
            OnnxRow(i);
        }
        double onnxLatency = watch.Elapsed.TotalMilliseconds * 1000 / predictions;
        foreach (var (w, b) in layers)
        {
            w.Dispose();
            b.Dispose();
        }
        return new Inference(rows, rounds.Median(0), rounds.Median(1), rounds.Median(2), rounds.Median(3), rounds.Median(4), rounds.Speed(0, baseline: 1), latency,
            rounds.Median(5), rounds.Median(6), onnxLatency, largestDifference);
    }

    public sealed class Score
    {
        [ColumnName("Score")]
        public float Value { get; set; }
    }

    // ------------------------------------------------------------------ target 5: memory

    public sealed record Memory(int Rows, int Epochs, double[] WorkingSetMBPerEpoch, double[] ManagedMBPerEpoch, long[] LiveTensorsPerEpoch, double PeakWorkingSetMB, bool PeakIsTrainingOnly, long LiveTensorsAfter,
        long WindowedBytesAfter10k, long WindowedBytesAfter1M, long UnboundedBytesAfter10k, long UnboundedBytesAfter1M);

    /// <summary>
    /// Working set and managed heap after every epoch of training on flights-200k, each read after a
    /// full garbage collection (without it, the working set also holds garbage that waits for the next
    /// gen-2 collection: one run read 389 MB after epoch 1, 411 MB after epoch 13 and 390 MB after
    /// epoch 14), and the memory an AutoClipper keeps.
    /// </summary>
    public static Memory MemoryUse(bool quick)
    {
        var ml = new MLContext(seed: 0);
        var data = Data.Flights(ml, quick ? 5_000 : null);
        int epochs = quick ? 3 : 20;
        var workingSet = new List<double>();
        var managed = new List<double>();
        var liveTensors = new List<long>();
        var process = Process.GetCurrentProcess();
        ml.Log += (_, e) =>
        {
            if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info && e.RawMessage.StartsWith("Epoch ", StringComparison.Ordinal))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                process.Refresh();
                workingSet.Add(process.WorkingSet64 / 1048576.0);
                managed.Add(GC.GetTotalMemory(forceFullCollection: false) / 1048576.0);
                liveTensors.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount); // the training thread's own count
            }
        };
        long tensorsBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        bool peakReset = ResetPeakWorkingSet();
        using (var model = ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { NumberOfEpochs = epochs, Seed = 1 }).Fit(data))
        {
        }
        long liveAfter = DisposeScopeManager.Statistics.ThreadTotalLiveCount - tensorsBefore;
        process.Refresh();
        double peak = (peakReset ? PeakWorkingSetSinceReset() : null) ?? process.PeakWorkingSet64 / 1048576.0;

        static (long After10k, long After1M) Retained(int? window, int steps)
        {
            long before = GC.GetTotalMemory(forceFullCollection: true);
            var clipper = new AutoClipper(new AutoClipOptions { HistoryWindow = window });
            var rng = new Random(3);
            long after10k = 0;
            for (int i = 1; i <= steps; i++)
            {
                clipper.Observe(rng.NextDouble());
                if (i == Math.Min(10_000, steps))
                {
                    after10k = GC.GetTotalMemory(forceFullCollection: true) - before;
                }
            }
            long after = GC.GetTotalMemory(forceFullCollection: true) - before;
            GC.KeepAlive(clipper);
            return (after10k, after);
        }
        int steps = quick ? 20_000 : 1_000_000;
        var windowed = Retained(1000, steps);
        var unbounded = Retained(null, steps);
        return new Memory(Data.RowCount(data), epochs, workingSet.ToArray(), managed.ToArray(), liveTensors.ToArray(), peak, peakReset, liveAfter,
            windowed.After10k, windowed.After1M, unbounded.After10k, unbounded.After1M);
    }

    /// <summary>
    /// On Linux, resets the process's peak resident set size (VmHWM) so that the peak read afterwards
    /// covers training alone, not the measurements that ran before it in this process.
    /// </summary>
    internal static bool ResetPeakWorkingSet()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            System.IO.File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is System.IO.IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>VmHWM from /proc/self/status, in MB.</summary>
    internal static double? PeakWorkingSetSinceReset()
    {
        foreach (string line in System.IO.File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) / 1024; // kB
            }
        }
        return null;
    }

    // ------------------------------------------------------------------ target 6: against other trainers
}
