using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// Training throughput against the machine's physical limit, measured in one run: the fp32 matrix-multiply rate of
/// LibTorch on this machine (one large square product), and the useful work of AutoClipNet's default network per
/// second: the multiply-adds of its matrix products (dense layers, periodic embeddings) per row, times 3 for a
/// training step (forward, and the two products of the backward pass), times the rows trained per second.
/// Elementwise work (activations, Adam, the clip) is not counted as work: it is the overhead that keeps the rate
/// below the limit.
/// </summary>
public static class Throughput
{
    /// <summary>The side of the square products whose rate section 3 measures beside the training: 2048, 512 in quick mode.</summary>
    public static int RateSide(bool quick) => quick ? 512 : 2048;

    /// <summary>Interleaved rounds of the throughput measurement.</summary>
    public const int Rounds = 5;

    /// <summary>The rows of one measured step loop.</summary>
    public const int LoopSteps = 300;

    /// <summary>One data set's default training, measured: its network, its work, and each variant's rate.</summary>
    public sealed record Result(string Data, int TrainingRows, int Features, string Network, long MultiplyAddsPerRow, int BatchSize, int Epochs, long Steps,
        double FitSeconds, double GemmGflops, double FitGflops, double StepGflops, double HandWrittenGflops, double StepMilliseconds,
        (double Median, double Low, double High) FitFraction, (double Median, double Low, double High) StepFraction,
        (double Median, double Low, double High) HandWrittenFraction, (double Median, double Low, double High) AutoClipShare,
        IReadOnlyList<(string Part, double Milliseconds)> StepParts, double ProductsGflops, (double Median, double Low, double High) ProductsFraction);

    /// <summary>The matrix-multiply rate: seconds for <paramref name="products"/> products of two n×n fp32 matrices.</summary>
    private static double Gemm(Tensor a, Tensor b, int products)
    {
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < products; i++)
        {
            using var c = a.mm(b);
        }
        return watch.Elapsed.TotalSeconds;
    }

    public static List<Result> Measure(bool quick)
    {
        var sets = quick ? new[] { BundledData.CarsSet } : new[] { BundledData.DiamondsSet, BundledData.TelcoChurnSet, BundledData.FlightsSet };
        return sets.Select(set => Measure(set, quick)).ToList();
    }

    private static Result Measure(BundledDataSet set, bool quick)
    {
        var ml = new MLContext(seed: 0);
        var (train, _) = BundledData.HeldOutSplit(ml, set); // the training rows of section 6's fits
        int rows = Data.RowCount(train);

        var options = AutoClipNetTasks.NewOptions(set.Task);
        options.Seed = 1;
        var noClipping = AutoClipNetTasks.NewOptions(set.Task);
        noClipping.Seed = 1;
        noClipping.Clipping = AutoClipNetClipping.None;
        if (quick)
        {
            options.NumberOfEpochs = noClipping.NumberOfEpochs = 1;
        }

        // A first fit gives the network the default builds for these data (and warms everything up).
        var first = Fit(ml, set.Task, options, train);
        var model = first.Model;
        // The network one step trains: the model's, or an ensemble's first member (the shared feature transform, then its layers).
        var description = FirstMember(NetworkOf(model));
        var history = model.TrainingHistory;
        long macs = description.MultiplyAddsPerRow;
        int batch = Recipe.DefaultBatchSize(history.TrainingRows);
        int epochs = history.Epochs.Count;
        long steps = history.StepCount;
        // The work of a fit: every member's steps' rows forward and backward, and every epoch's validation rows forward.
        double fitWork = Comparison.FitFlops(model);
        int loopSteps = quick ? 10 : LoopSteps;
        double loopWork = 3.0 * loopSteps * batch * 2 * macs;

        int n = RateSide(quick);
        using var a = randn(n, n);
        using var b = randn(n, n);
        int products = quick ? 2 : 24;
        double gemmWork = 2.0 * n * n * n * products;

        using var loop = new StepLoop(description, set.Task, batch);
        using var handWritten = new HandWrittenLoop(description, set.Task, batch);
        using var productsOnly = new ProductsLoop(description, batch);
        double productsWork = 3.0 * loopSteps * batch * 2 * productsOnly.MultiplyAddsPerRow;
        var measured = Measurements.Interleaved(quick ? 1 : Rounds, warmupRounds: quick ? 0 : 1,
            () => Gemm(a, b, products),
            () => Timed(() => Fit(ml, set.Task, options, train)),
            () => Timed(() => Fit(ml, set.Task, noClipping, train)),
            () => Timed(() => loop.Run(loopSteps)),
            () => Timed(() => handWritten.Run(loopSteps)),
            () => Timed(() => productsOnly.Run(loopSteps)));
        // Each variant's rate over the matrix-multiply rate of the same round.
        var fraction = (int variant, double work) => measured.Speed(variant, baseline: 0) is var s ? (s.Median * work / gemmWork, s.Low * work / gemmWork, s.High * work / gemmWork) : default;
        double gemm = gemmWork / measured.Median(0) / 1e9;
        return new Result(set.Name, rows, description.InputSize, description.ToString(), macs, batch, epochs, steps, measured.Median(1),
            gemm, fitWork / measured.Median(1) / 1e9, loopWork / measured.Median(3) / 1e9, loopWork / measured.Median(4) / 1e9,
            measured.Median(3) * 1e3 / loopSteps,
            fraction(1, fitWork), fraction(3, loopWork), fraction(4, loopWork), measured.TimeRatio(1, 2) is var t ? (t.Median - 1, t.Low - 1, t.High - 1) : default,
            loop.Parts(quick ? 10 : 100), productsWork / measured.Median(5) / 1e9, fraction(5, productsWork));
    }

    private static double Timed(Action action)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalSeconds;
    }

    private static (ITransformer Transformer, IAutoClipNetModel Model) Fit(MLContext ml, DataTask task, AutoClipNetOptionsBase options, IDataView train)
    {
        var transformer = AutoClipNetTasks.Trainer(ml, task, options).Fit(train);
        return (transformer, AutoClipNetTasks.ModelOf(transformer));
    }

    /// <summary>A network without an ensemble layer: an ensemble's first member with the layers before the ensemble (the shared feature transform).</summary>
    internal static NetworkDescription FirstMember(NetworkDescription network)
    {
        int at = network.Layers.ToList().FindIndex(l => l is EnsembleLayer);
        if (at < 0)
        {
            return network;
        }
        var member = ((EnsembleLayer)network.Layers[at]).Members[0];
        return new NetworkDescription(network.InputSize, network.Layers.Take(at).Concat(member.Layers).ToArray());
    }

    internal static NetworkDescription NetworkOf(IAutoClipNetModel model) => (model switch
    {
        AutoClipNetModelParameters m => m.Network,
        AutoClipNetBinaryModelParameters m => m.Network,
        AutoClipNetMulticlassModelParameters m => m.Network,
        _ => throw new ArgumentException(model.GetType().Name),
    });

    /// <summary>Targets for a batch of the task: values, 0/1, or class indices.</summary>
    internal static (Objective Objective, Tensor Targets) Targets(DataTask task, int outputs, int batch)
    {
        var random = new Random(2);
        var targets = new float[batch];
        for (int i = 0; i < batch; i++)
        {
            targets[i] = task switch { DataTask.Regression => (float)random.NextDouble(), DataTask.Binary => random.Next(2), _ => random.Next(outputs) };
        }
        Objective objective = task switch
        {
            DataTask.Regression => new RegressionObjective(0, 1),
            DataTask.Binary => new BinaryObjective(1),
            _ => new MulticlassObjective(outputs, 0.1),
        };
        return (objective, tensor(targets, new long[] { batch }));
    }

    /// <summary>
    /// AutoClipNet's own training step (the code TrainingRun runs: forward, loss, backward, AutoClip, Adam) on batches
    /// already in memory: the step without reading, shuffling or validation. 16 batches of random rows and targets in
    /// turn, so that the network cannot fit them and its gradients stay those of training.
    /// </summary>
    private sealed class StepLoop : IDisposable
    {
        private readonly TrainingModule _module;
        private readonly TrainingStep _backprop;
        private readonly FlatOptimizer _optimizer;
        private readonly AutoClip.AutoClipper _clipper = new();
        private readonly Objective _objective;
        private const int Pool = 16;
        private readonly Tensor _x, _y;
        private readonly int _batch;
        private int _next;

        public StepLoop(NetworkDescription network, DataTask task, int batch)
        {
            _module = new TrainingModule(network);
            _optimizer = FlatOptimizer.Create(AutoClipNetOptimizer.Adam, _module, 0.9, 0.95);
            (_objective, _y) = Targets(task, network.OutputSize, batch * Pool);
            _x = rand(batch * Pool, network.InputSize);
            _batch = batch;
            _backprop = new TrainingStep(_module, _objective, batch);
        }

        public void Run(int steps)
        {
            for (int i = 0; i < steps; i++)
            {
                Step(_ => { });
            }
        }

        private void Step(Action<int> mark)
        {
            using var scope = NewDisposeScope();
            long start = (long)(_next++ % Pool) * _batch;
            _backprop.Step(_x.narrow(0, start, _batch), _y.narrow(0, start, _batch), _batch, null, mark);
            _clipper.ClipGradient(_module.Gradients);
            mark(3);
            _optimizer.Step(1e-4, 0);
            mark(4);
        }

        /// <summary>Where a step's time goes: forward, loss and backward, the clip, Adam (mean milliseconds over <paramref name="steps"/> steps).</summary>
        public IReadOnlyList<(string Part, double Milliseconds)> Parts(int steps)
        {
            var sums = new double[5];
            var watch = new Stopwatch();
            for (int i = 0; i < steps; i++)
            {
                double last = 0;
                watch.Restart();
                Step(part =>
                {
                    double now = watch.Elapsed.TotalMilliseconds;
                    sums[part] += now - last;
                    last = now;
                });
            }
            string[] names = { "forward", "loss", "backward", "AutoClip", "Adam" };
            return names.Select((name, i) => (name, sums[i] / steps)).ToList();
        }

        public void Dispose()
        {
            _backprop.Dispose();
            _module.Dispose();
            _optimizer.Dispose();
            _objective.Dispose();
            _x.Dispose();
            _y.Dispose();
        }
    }

    /// <summary>
    /// The dense layers' matrix products of a training step and nothing else, in buffers allocated once: per layer the
    /// forward product and the two backward ones (the input's gradient and the weights'), with the step's shapes. What
    /// LibTorch's products reach at these sizes is the ceiling of a step that must also run everything else.
    /// </summary>
    internal sealed class ProductsLoop : IDisposable
    {
        private readonly List<(Tensor X, Tensor W, Tensor Y, Tensor GradY, Tensor GradX, Tensor GradW)> _layers = new();

        public ProductsLoop(NetworkDescription network, int batch)
        {
            foreach (var dense in network.Layers.OfType<DenseLayer>())
            {
                _layers.Add((rand(batch, dense.InputSize), rand(dense.OutputSize, dense.InputSize), empty(batch, dense.OutputSize),
                    rand(batch, dense.OutputSize), empty(batch, dense.InputSize), empty(dense.OutputSize, dense.InputSize)));
            }
            MultiplyAddsPerRow = network.Layers.OfType<DenseLayer>().Sum(d => (long)d.InputSize * d.OutputSize);
        }

        /// <summary>The dense layers' multiply-adds for one row, forward.</summary>
        public long MultiplyAddsPerRow { get; }

        public void Run(int steps)
        {
            using var noGrad = no_grad();
            for (int i = 0; i < steps; i++)
            {
                using var scope = NewDisposeScope();
                foreach (var (x, w, y, gradY, gradX, gradW) in _layers)
                {
                    y.addmm_(x, w.t(), beta: 0, alpha: 1);
                    gradX.addmm_(gradY, w, beta: 0, alpha: 1);
                    gradW.addmm_(gradY.t(), x, beta: 0, alpha: 1);
                }
            }
        }

        public void Dispose()
        {
            foreach (var (x, w, y, gradY, gradX, gradW) in _layers)
            {
                x.Dispose();
                w.Dispose();
                y.Dispose();
                gradY.Dispose();
                gradX.Dispose();
                gradW.Dispose();
            }
        }
    }

    /// <summary>
    /// The same dense layers written the usual TorchSharp way (nn.Sequential of Linear and SELU, optim.Adam, no clipping)
    /// on the embedding's output width: what TorchSharp's own modules reach on this shape.
    /// </summary>
    private sealed class HandWrittenLoop : IDisposable
    {
        private readonly nn.Module<Tensor, Tensor> _net;
        private readonly optim.Optimizer _optimizer;
        private readonly Objective _objective;
        private readonly Tensor _x, _y;

        public HandWrittenLoop(NetworkDescription network, DataTask task, int batch)
        {
            var dense = network.Layers.OfType<DenseLayer>().ToArray();
            var modules = new List<nn.Module<Tensor, Tensor>>();
            for (int i = 0; i < dense.Length; i++)
            {
                modules.Add(nn.Linear(dense[i].InputSize, dense[i].OutputSize));
                if (i < dense.Length - 1)
                {
                    modules.Add(nn.SELU());
                }
            }
            _net = nn.Sequential(modules);
            _optimizer = optim.Adam(_net.parameters(), 1e-4, beta2: 0.95);
            (_objective, _y) = Targets(task, network.OutputSize, batch);
            _x = rand(batch, dense[0].InputSize);
        }

        public void Run(int steps)
        {
            for (int i = 0; i < steps; i++)
            {
                using var scope = NewDisposeScope();
                _optimizer.zero_grad();
                var loss = _objective.Loss(_net.call(_x), _y);
                loss.backward();
                loss.item<float>();
                _optimizer.step();
            }
        }

        public void Dispose()
        {
            _net.Dispose();
            _optimizer.Dispose();
            _objective.Dispose();
            _x.Dispose();
            _y.Dispose();
        }
    }
}
