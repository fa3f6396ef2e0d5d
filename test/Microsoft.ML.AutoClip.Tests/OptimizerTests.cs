using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Tests;

[TestClass]
public sealed class OptimizerTests
{
    private const int Features = 6;

    /// <summary>A seeded regression problem: y = sin(x·w1) + 0.5·(x·w2) + noise.</summary>
    private static (Tensor X, Tensor Y) Data(int rows, ulong seed)
    {
        var gen = new Generator(seed);
        var x = randn(rows, Features, generator: gen);
        var w1 = randn(Features, 1, generator: gen);
        var w2 = randn(Features, 1, generator: gen);
        var y = sin(x.matmul(w1)) + 0.5 * x.matmul(w2) + 0.05 * randn(rows, 1, generator: gen);
        return (x, y);
    }

    private static nn.Module<Tensor, Tensor> Network(long seed)
    {
        manual_seed(seed);
        return nn.Sequential(nn.Linear(Features, 32), nn.ReLU(), nn.Linear(32, 1));
    }

    private static float[] Weights(nn.Module module)
        => module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    /// <summary>Runs <paramref name="steps"/> minibatch steps and returns each step's AutoClip record.</summary>
    private static List<AutoClipStep> Train(nn.Module<Tensor, Tensor> model, AutoClipOptimizer optimizer, Tensor x, Tensor y, int firstStep, int steps, List<double>? losses = null)
    {
        const int batch = 32;
        long rows = x.shape[0];
        var records = new List<AutoClipStep>();
        for (int s = firstStep; s < firstStep + steps; s++)
        {
            using var scope = NewDisposeScope();
            long start = s * batch % rows;
            var xb = x.narrow(0, start, Math.Min(batch, rows - start));
            var yb = y.narrow(0, start, Math.Min(batch, rows - start));
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(model.call(xb), yb);
            loss.backward();
            optimizer.step();
            records.Add(optimizer.LastStep);
            losses?.Add(loss.item<float>());
        }
        return records;
    }

    [TestMethod]
    public void A_seeded_regression_trained_with_the_wrapper_converges_without_leaking_tensors()
    {
        var (x, y) = Data(512, 1);
        using var model = Network(1);
        using var optimizer = optim.Adam(model.parameters(), lr: 0.01).WithAutoClip();

        long liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var losses = new List<double>();
        var records = Train(model, optimizer, x, y, 0, 600, losses);
        long liveAfter = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        Assert.AreEqual(liveBefore, liveAfter, "tensors leaked across training steps");
        double early = losses.Take(20).Average(), late = losses.Skip(580).Average();
        Assert.IsLessThan(0.1 * early, late, $"loss went from {early} to {late}");
        Assert.IsTrue(records.Any(r => r.Clipped), "p = 10 clips most steps");
        Assert.IsFalse(records[0].Clipped);
        Assert.AreEqual(600, optimizer.Clipper.RecordedSteps);
        Assert.AreEqual(0, optimizer.SkippedSteps);
    }

    [TestMethod]
    public void The_wrapper_skips_the_inner_step_when_the_gradient_is_not_finite()
    {
        var (x, y) = Data(64, 2);
        using var model = Network(2);
        using var optimizer = optim.SGD(model.parameters(), 0.05).WithAutoClip();
        Train(model, optimizer, x, y, 0, 5);
        double[] history = optimizer.Clipper.GetHistory();
        float[] weights = Weights(model);

        // A NaN input poisons the whole gradient.
        optimizer.zero_grad();
        using (var xb = x.narrow(0, 0, 8).clone())
        {
            xb[0, 0] = tensor(float.NaN);
            using var loss = nn.functional.mse_loss(model.call(xb), y.narrow(0, 0, 8));
            loss.backward();
        }
        optimizer.step();

        Assert.IsTrue(optimizer.LastStep.Skipped);
        Assert.AreEqual(1, optimizer.SkippedSteps);
        CollectionAssert.AreEqual(weights, Weights(model), "the weights must not move on a skipped step");
        CollectionAssert.AreEqual(history, optimizer.Clipper.GetHistory());

        // Training carries on normally afterwards.
        var after = Train(model, optimizer, x, y, 5, 3);
        Assert.IsTrue(after.All(r => !r.Skipped && double.IsFinite(r.Threshold)));
        CollectionAssert.AreNotEqual(weights, Weights(model));
    }

    [TestMethod]
    public void An_interrupted_and_resumed_run_matches_an_uninterrupted_one_bit_for_bit()
    {
        var (x, y) = Data(256, 3);
        var options = new AutoClipOptions { Percentile = 10, HistoryWindow = 50 };

        using var straightModel = Network(3);
        using var straightOpt = optim.Adam(straightModel.parameters(), lr: 0.01).WithAutoClip(options);
        var straight = Train(straightModel, straightOpt, x, y, 0, 120);

        using var checkpoint = new MemoryStream();
        List<AutoClipStep> firstHalf;
        using (var model = Network(3))
        using (var opt = optim.Adam(model.parameters(), lr: 0.01))
        using (var wrapped = opt.WithAutoClip(options))
        {
            firstHalf = Train(model, wrapped, x, y, 0, 70);
            using var writer = new BinaryWriter(checkpoint, System.Text.Encoding.UTF8, leaveOpen: true);
            model.save(writer);
            opt.save_state_dict(writer);
            wrapped.Clipper.Save(writer);
        }

        checkpoint.Position = 0;
        using var resumedModel = Network(99); // different initial weights, overwritten by the checkpoint
        using var resumedInner = optim.Adam(resumedModel.parameters(), lr: 0.01);
        using var reader = new BinaryReader(checkpoint);
        resumedModel.load(reader);
        resumedInner.load_state_dict(reader);
        using var resumedOpt = resumedInner.WithAutoClip(AutoClipper.Load(reader));
        var secondHalf = Train(resumedModel, resumedOpt, x, y, 70, 50);

        var resumed = firstHalf.Concat(secondHalf).ToList();
        CollectionAssert.AreEqual(straight.Select(r => r.Threshold).ToArray(), resumed.Select(r => r.Threshold).ToArray());
        CollectionAssert.AreEqual(straight.Select(r => r.GradientNorm).ToArray(), resumed.Select(r => r.GradientNorm).ToArray());
        CollectionAssert.AreEqual(Weights(straightModel), Weights(resumedModel));
    }

    [TestMethod]
    public void The_wrapper_delegates_to_the_inner_optimizer_and_refuses_double_wrapping()
    {
        using var model = Network(4);
        using var inner = optim.Adam(model.parameters(), lr: 0.003);
        using var wrapped = inner.WithAutoClip();
        Assert.AreSame(inner, wrapped.Inner);
        Assert.AreEqual(model.parameters().Count(), wrapped.parameters().Count());
        Assert.AreEqual(0.003, wrapped.ParamGroups.Single().LearningRate, 1e-12);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new AutoClipOptimizer(wrapped));
        StringAssert.Contains(e.Message, "already wrapped");

        // A learning-rate scheduler works through the wrapper.
        var scheduler = optim.lr_scheduler.StepLR(wrapped, 1, 0.5);
        scheduler.step();
        Assert.AreEqual(0.0015, inner.ParamGroups.Single().LearningRate, 1e-12);
    }

    [TestMethod]
    public void A_closure_is_evaluated_once_before_clipping()
    {
        var (x, y) = Data(32, 5);
        using var model = Network(5);
        using var optimizer = optim.SGD(model.parameters(), 0.01).WithAutoClip();
        int calls = 0;
        using var loss = optimizer.step(() =>
        {
            calls++;
            optimizer.zero_grad();
            var l = nn.functional.mse_loss(model.call(x), y);
            l.backward();
            return l;
        });
        Assert.AreEqual(1, calls);
        Assert.IsNotNull(loss);
        Assert.AreEqual(1, optimizer.Clipper.RecordedSteps);
    }
}
