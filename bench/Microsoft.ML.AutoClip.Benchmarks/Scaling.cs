using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// Fit time and peak memory against the data's size, for planning: the default AutoClipNet, its fastest effort and LightGbm
/// on synthetic regression data of 10,000 to 1,000,000 rows (10 features) and of 10 to 1,000 features (10,000 rows), side by
/// side in this one process. The label is a smooth nonlinear function of the first ten features (sines, a product, a
/// threshold) plus noise; any further features are noise, as wide real tables mostly are. Each fit reads the same cached view.
/// </summary>
public static class Scaling
{
    /// <summary>One trainer's fit on one size: seconds in <c>Fit</c>, the process's peak working set during it, and R² on 20,000 fresh rows.</summary>
    public sealed record Result(int Rows, int Features, string Trainer, double Seconds, double PeakMB, bool PeakIsFitOnly, double RSquared, double BeforeMB);

    private const int Informative = 10;

    public static List<Result> Measure(bool quick)
    {
        (int Rows, int Features)[] sizes = quick
            ? new[] { (2_000, 10), (2_000, 50) }
            : new[] { (10_000, 10), (100_000, 10), (1_000_000, 10), (10_000, 100), (10_000, 1_000) };
        var results = new List<Result>();
        var warmUpContext = new MLContext(seed: 0);
        Shared.FitTiming.WarmUp(Trainers(warmUpContext, quick: true), warmUpContext.Data.Cache(Synthetic(warmUpContext, 300, Informative, seed: 3)));
        foreach (var (rows, features) in sizes)
        {
            var ml = new MLContext(seed: 0);
            var train = ml.Data.Cache(Synthetic(ml, rows, features, seed: 1));
            var test = ml.Data.Cache(Synthetic(ml, quick ? 1_000 : 20_000, features, seed: 2));
            Shared.BundledData.ReadEveryRow(train);
            Shared.BundledData.ReadEveryRow(test);
            foreach (var (name, trainer) in Trainers(ml, quick))
            {
                Shared.FitTiming.Settle();
                var self = Process.GetCurrentProcess();
                double before = self.WorkingSet64 / 1048576.0;
                bool reset = Measurements.ResetPeakWorkingSet();
                var watch = Stopwatch.StartNew();
                var model = trainer.Fit(train);
                double seconds = watch.Elapsed.TotalSeconds;
                self.Refresh();
                double peak = (reset ? Measurements.PeakWorkingSetSinceReset() : null) ?? self.PeakWorkingSet64 / 1048576.0;
                double r2 = ml.Regression.Evaluate(model.Transform(test)).RSquared;
                (model as IDisposable)?.Dispose();
                Console.WriteLine($"scaling {rows,9:N0} rows x {features,5:N0} features  {name,-26} {seconds,8:F2} s  peak {peak,7:N0} MB (before {before:N0})  R² {r2:F4}");
                results.Add(new Result(rows, features, name, seconds, peak, reset, r2, before));
            }
        }
        return results;
    }

    /// <summary>One data set's fit times at 1 and 2 threads (medians over interleaved rounds) for one trainer, and the speed-up (median and quartiles of the rounds' ratios).</summary>
    public sealed record ThreadResult(string Data, string Trainer, double OneThread, double TwoThreads, (double Median, double Low, double High) Speed);

    /// <summary>
    /// Fit time at one and at two threads, in interleaved rounds (1, 2, 1, 2, ...): the default AutoClipNet on diamonds (one
    /// network above 4,000 rows: LibTorch's threads inside each product) and on credit (five members: two trained side by
    /// side, each on one thread), and LightGbm on both, through each trainer's <c>NumberOfThreads</c>; one unmeasured round first.
    /// </summary>
    public static List<ThreadResult> Threads(bool quick)
    {
        var results = new List<ThreadResult>();
        int rounds = quick ? 1 : 3;
        foreach (var set in new[] { Shared.BundledData.DiamondsSet, Shared.BundledData.CreditSet })
        {
            var ml = new MLContext(seed: 0);
            var (train, _) = Shared.BundledData.HeldOutSplit(ml, set, quick ? 600 : null); // cached
            Shared.BundledData.ReadEveryRow(train);
            foreach (string trainer in new[] { "AutoClipNet", "LightGbm" })
            {
                Action Fit(int threads) => () =>
                {
                    (Estimator(ml, set.Task, trainer, threads, quick).Fit(train) as IDisposable)?.Dispose();
                    Console.WriteLine($"threads {set.Name,-10} {trainer,-12} {threads} thread(s)");
                };
                var measured = Measurements.Interleaved(rounds, warmupRounds: 1, Fit(1), Fit(2)); // the warm-up: compilation and the natives' first use
                results.Add(new ThreadResult(set.Name, trainer, measured.Median(0), measured.Median(1), measured.Speed(1, 0)));
            }
        }
        return results;
    }

    private static IEstimator<ITransformer> Estimator(MLContext ml, Shared.DataTask task, string trainer, int threads, bool quick)
    {
        int? epochs = quick ? 2 : null;
        return (task, trainer) switch
        {
            (Shared.DataTask.Regression, "AutoClipNet") => ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { Seed = 1, NumberOfThreads = threads, NumberOfEpochs = epochs }),
            (Shared.DataTask.Binary, "AutoClipNet") => ml.BinaryClassification.Trainers.AutoClipNet(new AutoClipNetBinaryTrainer.Options { Seed = 1, NumberOfThreads = threads, NumberOfEpochs = epochs }),
            (Shared.DataTask.Regression, _) => ml.Regression.Trainers.LightGbm(new Microsoft.ML.Trainers.LightGbm.LightGbmRegressionTrainer.Options { NumberOfThreads = threads }),
            _ => ml.BinaryClassification.Trainers.LightGbm(new Microsoft.ML.Trainers.LightGbm.LightGbmBinaryTrainer.Options { NumberOfThreads = threads }),
        };
    }

    private static IEnumerable<(string Name, IEstimator<ITransformer> Trainer)> Trainers(MLContext ml, bool quick)
    {
        yield return ("AutoClipNet", ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { Seed = 1, NumberOfEpochs = quick ? 2 : null }));
        yield return ("AutoClipNet, Effort = Best", ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { Seed = 1, Effort = AutoClipNetEffort.Best, NumberOfEpochs = quick ? 2 : null }));
        yield return ("LightGbm", ml.Regression.Trainers.LightGbm());
    }

    private sealed class Row
    {
        public float Label { get; set; }

        public float[] Features { get; set; } = Array.Empty<float>();
    }

    /// <summary>
    /// <paramref name="rows"/> rows of <paramref name="features"/> standard normal features; the label
    /// sin(2x₀) + sin(3x₁) + x₂x₃ + [x₄ &gt; 0.5] + 0.5·x₅ + 0.5·cos(x₆ + x₇) + 0.3·|x₈| − 0.3·x₉² + N(0, 0.5²), over the features there are.
    /// </summary>
    public static IDataView Synthetic(MLContext ml, int rows, int features, int seed)
    {
        var random = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var data = new Row[rows];
        var x = new double[Math.Max(features, Informative)];
        for (int i = 0; i < rows; i++)
        {
            var row = new float[features];
            for (int j = 0; j < features; j++)
            {
                x[j] = Normal();
                row[j] = (float)x[j];
            }
            double y = Math.Sin(2 * x[0]) + Math.Sin(3 * x[1]) + x[2] * x[3] + (x[4] > 0.5 ? 1 : 0) + 0.5 * x[5]
                + 0.5 * Math.Cos(x[6] + x[7]) + 0.3 * Math.Abs(x[8]) - 0.3 * x[9] * x[9];
            data[i] = new Row { Label = (float)(y + 0.5 * Normal()), Features = row };
        }
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, features);
        return ml.Data.LoadFromEnumerable(data, schema);
    }
}
