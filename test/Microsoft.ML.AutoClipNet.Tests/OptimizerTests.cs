using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The flat optimizers update the whole parameter buffer in one pass with per-value learning-rate and weight-decay
/// factors; they must do what torch.optim does with one parameter group per tensor (lr·f, λ·d).
/// </summary>
[TestClass]
public sealed class OptimizerTests
{
    /// <summary>A small network whose layers carry different factors: a scale layer (lr ×6), NTK dense layers (biases lr ×0.1, no decay).</summary>
    private static NetworkDescription Network()
    {
        var random = new Random(3);
        var layers = new List<Layer>
        {
            FeatureScaleLayer.Create(5, learningRateFactor: 6, weightDecayFactor: 0.5f),
            DenseLayer.Create(5, 7, DenseInit.NtkNormal, random, weightLearningRateFactor: 1, biasLearningRateFactor: 0.1f, weightDecayFactor: 1, biasWeightDecayFactor: 0),
            new ActivationLayer(7, AutoClipNetActivation.Selu),
            DenseLayer.Create(7, 2, DenseInit.NtkNormal, random, weightLearningRateFactor: 1, biasLearningRateFactor: 0.1f, weightDecayFactor: 1, biasWeightDecayFactor: 0),
        };
        return new NetworkDescription(5, layers);
    }

    [TestMethod]
    [DataRow(AutoClipNetOptimizer.Adam, 0.0)]
    [DataRow(AutoClipNetOptimizer.Adam, 0.03)]
    [DataRow(AutoClipNetOptimizer.AdamW, 0.03)]
    public void The_flat_Adam_takes_torch_optim_Adams_steps_with_a_parameter_group_per_factor(AutoClipNetOptimizer kind, double weightDecay)
    {
        using var network = Network();
        using var module = new TrainingModule(network);
        using var flat = FlatOptimizer.Create(kind, module, 0.9, 0.95);
        using var scope = NewDisposeScope();

        // The same raw values as torch parameters, one group per tensor with its factors.
        var specs = network.Layers.SelectMany(l => l.GetParameters()).ToArray();
        var views = Enumerable.Range(0, network.Layers.Count).SelectMany(module.ValueViews).ToArray();
        var parameters = views.Select(v => new Parameter(v.clone())).ToArray();
        const double lr = 0.01;
        optim.Optimizer reference = kind == AutoClipNetOptimizer.Adam
            ? optim.Adam(parameters.Select((p, i) => new Adam.ParamGroup(new[] { p }, lr * specs[i].LearningRateFactor, 0.9, 0.95, 1e-8, weightDecay * specs[i].WeightDecayFactor, false, false)), lr, 0.9, 0.95, 1e-8, weightDecay)
            : optim.AdamW(parameters.Select((p, i) => new AdamW.ParamGroup(new[] { p }, lr * specs[i].LearningRateFactor, 0.9, 0.95, 1e-8, weightDecay * specs[i].WeightDecayFactor, false, false)), lr, 0.9, 0.95, 1e-8, weightDecay);

        var random = new Random(7);
        var gradientViews = Enumerable.Range(0, network.Layers.Count).SelectMany(module.GradientViews).ToArray();
        for (int step = 0; step < 25; step++)
        {
            for (int i = 0; i < parameters.Length; i++)
            {
                var g = TensorMemory.Copy(Enumerable.Range(0, (int)parameters[i].numel()).Select(_ => (float)(random.NextDouble() * 2 - 1) * (step % 5 + 1)).ToArray(), parameters[i].shape);
                parameters[i].grad = g.clone();
                gradientViews[i].copy_(g);
            }
            reference.step();
            flat.Step(lr, weightDecay);
        }
        for (int i = 0; i < parameters.Length; i++)
        {
            var expected = parameters[i].data<float>().ToArray();
            var actual = views[i].data<float>().ToArray();
            for (int j = 0; j < expected.Length; j++)
            {
                Assert.AreEqual(expected[j], actual[j], 2e-6f * (1 + Math.Abs(expected[j])), $"{kind}, decay {weightDecay}: {specs[i].Name} of tensor {i}, value {j}");
            }
        }
        reference.Dispose();
    }
}
