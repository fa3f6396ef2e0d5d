using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The one network description and its ways of running: the managed single-row forward, the LibTorch batch forward and
/// the written-out training step (forward and backward) must agree with the reference forward of every layer kind
/// (ReferenceForward.cs, and autograd through it) for every activation; the managed one must not depend on memory
/// alignment; the description must survive its own serialization.
/// </summary>
[TestClass]
public sealed class NetworkTests
{
    private const int Inputs = 7;

    /// <summary>Piecewise-linear encodings of features 1, 2 and 5 over a few uneven bins between −3 and 3.</summary>
    private static PiecewiseLinearLayer Encodings(int inputs)
        => PiecewiseLinearLayer.Create(inputs, new[] { 1, 2, 5 }, new[] { new[] { -3f, -1f, 0.5f, 3f }, new[] { -2f, 2f }, new[] { -3f, -0.25f, 0f, 0.1f, 2.5f } })!;

    /// <summary>A network with every layer kind: feature transform (some features clipped), piecewise-linear encodings, scale, periodic embedding, dense layers.</summary>
    private static NetworkDescription EveryLayerKind(AutoClipNetActivation activation, int outputs, int seed)
    {
        var random = new Random(seed);
        float[] Values(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        var encodings = Encodings(Inputs);
        var layers = new List<Layer>
        {
            new FeatureTransformLayer(Values(Inputs, 1), Values(Inputs, 1).Select(v => 0.5f + Math.Abs(v)).ToArray(), Enumerable.Range(0, Inputs).Select(i => i % 2 == 0).ToArray()),
            encodings,
            new FeatureScaleLayer(Values(encodings.OutputSize, 1).Select(v => 1 + v / 2).ToArray()),
            PeriodicEmbeddingLayer.Create(encodings.OutputSize, new[] { 0, 2, 3, 6 }, frequencies: 5, outputsPerFeature: 3, sigma: 0.3, random, 1f, 1f),
        };
        int width = layers[^1].OutputSize;
        foreach (int size in new[] { 9, 6 })
        {
            layers.Add(DenseLayer.Create(width, size, DenseInit.NtkNormal, random));
            layers.Add(new ActivationLayer(size, activation));
            width = size;
        }
        layers.Add(DenseLayer.Create(width, outputs, DenseInit.Uniform, random));
        return new NetworkDescription(Inputs, layers);
    }

    /// <summary>Rows of values in [−4, 4); with <paramref name="missing"/> &gt; 0 that share of them NaN (for networks that start with a missing-value layer).</summary>
    private static float[] RandomRows(int rows, int seed, double missing = 0)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows * Inputs).Select(_ =>
        {
            float value = (float)(random.NextDouble() * 8 - 4);
            return missing > 0 && random.NextDouble() < missing ? float.NaN : value;
        }).ToArray();
    }

    /// <summary>A missing-value layer over the inputs: fills from the values given, indicators for features 1, 4 and 6.</summary>
    private static MissingValuesLayer Missing(float[] fill) => new(fill, new[] { 1, 4, 6 });

    /// <summary>One layer of every kind the registry lists, and the released network: the examples the engines are checked on.</summary>
    internal static Layer Example(AutoClipNetLayerKind kind, int seed = 1)
    {
        var random = new Random(seed);
        float[] Values(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        return kind switch
        {
            AutoClipNetLayerKind.FeatureTransform => new FeatureTransformLayer(Values(Inputs, 1), Values(Inputs, 1).Select(v => 0.5f + Math.Abs(v)).ToArray(), Enumerable.Range(0, Inputs).Select(i => i % 2 == 0).ToArray()),
            AutoClipNetLayerKind.Dense => DenseLayer.Create(Inputs, 5, DenseInit.NtkNormal, random),
            AutoClipNetLayerKind.Activation => new ActivationLayer(Inputs, AutoClipNetActivation.Gelu),
            AutoClipNetLayerKind.FeatureScale => new FeatureScaleLayer(Values(Inputs, 1).Select(v => 1 + v / 2).ToArray()),
            AutoClipNetLayerKind.PeriodicEmbedding => PeriodicEmbeddingLayer.Create(Inputs, new[] { 0, 2, 3, 6 }, frequencies: 5, outputsPerFeature: 3, sigma: 0.3, random, 1f, 1f),
            AutoClipNetLayerKind.PiecewiseLinear => Encodings(Inputs),
            AutoClipNetLayerKind.MissingValues => Missing(Values(Inputs, 2)),
            AutoClipNetLayerKind.Ensemble => new EnsembleLayer(new[] { 3, 4, 5 }.Select(s => EveryLayerKind(AutoClipNetActivation.Tanh, outputs: 2, seed: s)).ToArray()),
            AutoClipNetLayerKind.ReleasedNetwork => new Model.Legacy.Format11Layer(Inputs, AutoClipNetActivation.Gelu, new[] { Values(6 * Inputs, 0.5), Values(6, 0.5) }, new[] { Values(6, 0.5), Values(1, 0.5) },
                Values(Inputs, 2), Values(Inputs, 1).Select(v => 0.5f + Math.Abs(v)).ToArray(), 3.5f, 2.25f),
            _ => throw new AssertFailedException($"No example of the {kind} layer: add one to NetworkTests.Example."),
        };
    }

    [TestMethod]
    public void Every_stored_layer_kind_has_a_reference_forward_and_an_example()
    {
        var kinds = LayerRegistry.StoredKinds.Append(AutoClipNetLayerKind.ReleasedNetwork).ToArray();
        Assert.HasCount(Enum.GetValues<AutoClipNetLayerKind>().Length, kinds, "every kind is stored, or is the released network");
        foreach (var kind in kinds)
        {
            using var layer = Example(kind);
            Assert.AreEqual(kind, layer.Kind);
            var rows = RandomRows(9, seed: 3, missing: kind == AutoClipNetLayerKind.MissingValues ? 0.3 : 0);
            using var scope = NewDisposeScope();
            var reference = ReferenceForward.Network(new NetworkDescription(Inputs, new[] { layer }), TensorMemory.Copy(rows, 9, Inputs)).data<float>().ToArray();
            var managed = new float[layer.OutputSize];
            for (int r = 0; r < 9; r++)
            {
                layer.Forward(rows.AsSpan(r * Inputs, Inputs), managed);
                for (int o = 0; o < layer.OutputSize; o++)
                {
                    Assert.AreEqual(reference[r * layer.OutputSize + o], managed[o], 2e-5f * (1 + Math.Abs(managed[o])), $"{kind}: row {r}, output {o}");
                }
            }
        }
    }

    [TestMethod]
    [DataRow(AutoClipNetActivation.ReLU)]
    [DataRow(AutoClipNetActivation.Tanh)]
    [DataRow(AutoClipNetActivation.Gelu)]
    [DataRow(AutoClipNetActivation.LeakyReLU)]
    [DataRow(AutoClipNetActivation.Selu)]
    [DataRow(AutoClipNetActivation.Mish)]
    [DataRow(AutoClipNetActivation.SiLU)]
    public void The_managed_batch_and_training_forwards_agree_with_the_reference_for_every_layer_kind(AutoClipNetActivation activation)
    {
        const int rows = 37;
        var complete = RandomRows(rows, seed: 5);
        var networks = new (string Name, NetworkDescription Network, bool Trainable, float[] Input)[]
        {
            ("every layer kind", EveryLayerKind(activation, outputs: 3, seed: (int)activation + 1), true, complete),
            ("builder order, rows with missing values", BuilderOrder(activation, outputs: 2, seed: (int)activation + 2), true, RandomRows(rows, seed: 6, missing: 0.25)),
            ("an ensemble", new NetworkDescription(Inputs, new[] { Example(AutoClipNetLayerKind.Ensemble, seed: (int)activation) }), false, complete),
            ("the released network", new NetworkDescription(Inputs, new[] { Example(AutoClipNetLayerKind.ReleasedNetwork, seed: (int)activation) }), false, complete),
        };
        foreach (var (name, network, trainable, input) in networks)
        {
            using var _ = network;
            int k = network.OutputSize;
            float[] reference;
            using (var scope = NewDisposeScope())
            using (var noGrad = no_grad())
            {
                reference = ReferenceForward.Network(network, TensorMemory.Copy(input, rows, Inputs)).data<float>().ToArray();
            }

            // Managed, one row at a time.
            var scratch = new float[2 * network.MaxWidth];
            var managed = new float[rows * k];
            for (int r = 0; r < rows; r++)
            {
                network.Forward(input.AsSpan(r * Inputs, Inputs), scratch).CopyTo(managed.AsSpan(r * k, k));
            }

            // LibTorch batch forward, a capacity larger than the batch.
            using var scorer = network.CreateBatchScorer(capacity: 50);
            input.CopyTo(scorer.Input);
            var batch = scorer.Forward(rows).ToArray();

            // The training step's forward (what validation scores with).
            float[]? training = null;
            if (trainable)
            {
                using var module = new TrainingModule(network);
                using var step = new TrainingStep(module, new RegressionObjective(0, 1), capacity: 40);
                using var scope = NewDisposeScope();
                training = step.Forward(TensorMemory.Copy(input, rows, Inputs), rows).data<float>().ToArray();
            }

            for (int i = 0; i < reference.Length; i++)
            {
                float tolerance = 2e-5f * (1 + Math.Abs(reference[i]));
                Assert.AreEqual(reference[i], managed[i], tolerance, $"{activation}, {name}: managed vs reference, value {i}");
                Assert.AreEqual(reference[i], batch[i], tolerance, $"{activation}, {name}: batch vs reference, value {i}");
                if (training is not null)
                {
                    Assert.AreEqual(reference[i], training[i], tolerance, $"{activation}, {name}: training step vs reference, value {i}");
                }
            }
        }
    }

    /// <summary>The order NetworkBuilder uses: missing values, feature transform, piecewise-linear encodings, periodic embedding, scale, dense layers.</summary>
    private static NetworkDescription BuilderOrder(AutoClipNetActivation activation, int outputs, int seed)
    {
        var random = new Random(seed);
        float[] Values(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        var missing = Missing(Values(Inputs, 2));
        int columns = missing.OutputSize;
        var encodings = Encodings(columns);
        var layers = new List<Layer>
        {
            missing,
            new FeatureTransformLayer(Values(columns, 1), Values(columns, 1).Select(v => 0.5f + Math.Abs(v)).ToArray(), Enumerable.Range(0, columns).Select(i => i % 3 != 0).ToArray()),
            encodings,
            PeriodicEmbeddingLayer.Create(encodings.OutputSize, Enumerable.Range(0, Inputs).ToArray(), frequencies: 4, outputsPerFeature: 3, sigma: 0.3, random, 1f, 1f),
        };
        layers.Add(new FeatureScaleLayer(Values(layers[^1].OutputSize, 1).Select(v => 1 + v / 2).ToArray()));
        int width = layers[^1].OutputSize;
        foreach (int size in new[] { 8, 5 })
        {
            layers.Add(DenseLayer.Create(width, size, DenseInit.NtkNormal, random));
            layers.Add(new ActivationLayer(size, activation));
            width = size;
        }
        layers.Add(DenseLayer.Create(width, outputs, DenseInit.NtkNormal, random));
        return new NetworkDescription(Inputs, layers);
    }

    [TestMethod]
    [DataRow(AutoClipNetActivation.ReLU)]
    [DataRow(AutoClipNetActivation.Tanh)]
    [DataRow(AutoClipNetActivation.Gelu)]
    [DataRow(AutoClipNetActivation.LeakyReLU)]
    [DataRow(AutoClipNetActivation.Selu)]
    [DataRow(AutoClipNetActivation.Mish)]
    [DataRow(AutoClipNetActivation.SiLU)]
    public void The_written_out_backward_pass_gives_autograds_loss_and_gradients_for_every_layer_kind(AutoClipNetActivation activation)
    {
        const int rows = 37;
        var random = new Random(9);
        var cases = new (string Name, Func<int, NetworkDescription> Network, Objective Objective, int Outputs, Func<float> Target)[]
        {
            ("regression, every layer kind", k => EveryLayerKind(activation, k, seed: 11), new RegressionObjective(0.5f, 2f), 1, () => (float)random.NextDouble() * 4),
            ("binary, builder order", k => BuilderOrder(activation, k, seed: 12), new BinaryObjective(1.5, 0.1), 1, () => random.Next(2)),
            ("multiclass, builder order", k => BuilderOrder(activation, k, seed: 13), new MulticlassObjective(4, 0.1), 4, () => random.Next(4)),
            ("multiclass, every layer kind", k => EveryLayerKind(activation, k, seed: 14), new MulticlassObjective(3, 0), 3, () => random.Next(3)),
        };
        foreach (var (name, build, objective, outputs, target) in cases)
        {
            using var network = build(outputs);
            using var module = new TrainingModule(network);
            using var scope = NewDisposeScope();
            var x = TensorMemory.Copy(RandomRows(rows, seed: 21, missing: name.Contains("builder order", StringComparison.Ordinal) ? 0.25 : 0), rows, Inputs);
            var y = TensorMemory.Copy(Enumerable.Range(0, rows).Select(_ => objective.Target(target())).ToArray(), rows);

            // The reference: autograd through every layer's reference forward, over a copy of the module's raw values.
            var raw = module.Values.detach().clone().requires_grad_(true);
            var loss = objective.Loss(ReferenceForward.Network(module, x, raw), y);
            loss.backward();
            float expectedLoss = loss.item<float>();
            var expected = raw.grad!.data<float>().ToArray();
            float largest = expected.Max(Math.Abs);

            foreach (int capacity in new[] { rows, 50 })
            {
                using var backprop = new TrainingStep(module, objective, capacity);
                module.Gradients.fill_(float.NaN); // every gradient must be written
                float actualLoss = backprop.Step(x, y, rows);
                var actual = module.Gradients.data<float>().ToArray();
                Assert.AreEqual(expectedLoss, actualLoss, 1e-5f * (1 + Math.Abs(expectedLoss)), $"{activation}, {name}, capacity {capacity}: loss");
                for (int i = 0; i < expected.Length; i++)
                {
                    Assert.AreEqual(expected[i], actual[i], 2e-5f * largest + 1e-7f, $"{activation}, {name}, capacity {capacity}: gradient {i} of {expected.Length}");
                }
                // The forward pass alone gives the reference's outputs.
                var outputs_ = backprop.Forward(x, rows).data<float>().ToArray();
                using (var noGrad = no_grad())
                {
                    var reference = ReferenceForward.Network(module, x, module.Values).data<float>().ToArray();
                    for (int i = 0; i < reference.Length; i++)
                    {
                        Assert.AreEqual(reference[i], outputs_[i], 2e-5f * (1 + Math.Abs(reference[i])), $"{activation}, {name}: output {i}");
                    }
                }
            }
            objective.Dispose();
        }
    }

    [TestMethod]
    public void A_training_module_snapshot_is_the_network_it_was_built_from()
    {
        using var network = EveryLayerKind(AutoClipNetActivation.Mish, outputs: 2, seed: 3);
        using var module = new TrainingModule(network);
        using var snapshot = module.Snapshot();
        Assert.AreEqual(network.ToString(), snapshot.ToString());
        Assert.AreEqual(network.ParameterCount, module.ParameterCount);
        var input = RandomRows(1, seed: 1);
        var a = network.Forward(input, new float[2 * network.MaxWidth]).ToArray();
        var b = snapshot.Forward(input, new float[2 * snapshot.MaxWidth]).ToArray();
        // NTK layers are trained as raw = value/scale and read back as raw·scale: at most one rounding apart.
        for (int i = 0; i < a.Length; i++)
        {
            Assert.AreEqual(a[i], b[i], 1e-5f * (1 + Math.Abs(a[i])));
        }
    }

    [TestMethod]
    public void The_managed_forward_gives_the_same_bits_wherever_the_values_sit_in_memory()
    {
        using var network = EveryLayerKind(AutoClipNetActivation.ReLU, outputs: 1, seed: 9);
        var row = RandomRows(1, seed: 2);
        float? expected = null;
        for (int offset = 0; offset < 16; offset++)
        {
            var shifted = new float[Inputs + 16];
            row.CopyTo(shifted, offset);
            var scratch = new float[2 * network.MaxWidth + offset];
            float score = network.Forward(shifted.AsSpan(offset, Inputs), scratch.AsSpan(offset))[0];
            expected ??= score;
            Assert.AreEqual(BitConverter.SingleToInt32Bits(expected.Value), BitConverter.SingleToInt32Bits(score), $"offset {offset}");
        }
    }

    [TestMethod]
    public void The_dot_product_adds_in_a_fixed_order_whatever_the_alignment()
    {
        var random = new Random(4);
        foreach (int n in new[] { 1, 7, 8, 9, 26, 64, 100, 257 })
        {
            var a = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var b = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            // The documented order: lanes i mod 8 summed down the array, lanes added ((0+4)+(2+6)) + ((1+5)+(3+7)), then the tail.
            var lanes = new float[8];
            int full = n / 8 * 8;
            for (int i = 0; i < full; i++)
            {
                lanes[i % 8] += a[i] * b[i];
            }
            float expected = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
            for (int i = full; i < n; i++)
            {
                expected += a[i] * b[i];
            }
            for (int offset = 0; offset < 9; offset++)
            {
                var sa = new float[n + 9];
                var sb = new float[n + 9];
                a.CopyTo(sa, offset);
                b.CopyTo(sb, 8 - offset);
                float dot = Kernels.Dot(sa.AsSpan(offset, n), sb.AsSpan(8 - offset, n));
                Assert.AreEqual(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(dot), $"n = {n}, offset {offset}");
            }
        }
    }

    [TestMethod]
    public void A_dense_layer_computes_each_output_as_its_dot_product_plus_bias()
    {
        var random = new Random(6);
        foreach (var (inputs, outputs) in new[] { (3, 1), (26, 64), (64, 5), (9, 4) })
        {
            var w = Enumerable.Range(0, inputs * outputs).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var b = Enumerable.Range(0, outputs).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var x = Enumerable.Range(0, inputs).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var y = new float[outputs];
            Kernels.Dense(w, b, x, y);
            for (int j = 0; j < outputs; j++)
            {
                Assert.AreEqual(Kernels.Dot(w.AsSpan(j * inputs, inputs), x) + b[j], y[j], $"{inputs}→{outputs}, output {j}");
            }
        }
    }

    [TestMethod]
    public void The_erf_behind_the_managed_GELU_is_accurate_to_double_precision()
    {
        // Reference values of erf (CPython's math.erf, correct to the last digit of a double).
        var reference = new (double X, double Erf)[]
        {
            (0.0, 0.0), (0.1, 0.1124629160182849), (0.5, 0.5204998778130465), (1.0, 0.8427007929497149), (1.5, 0.9661051464753108),
            (2.0, 0.9953222650189527), (3.0, 0.9999779095030014), (4.5, 0.9999999998033839), (-0.3, -0.3286267594591274), (-2.5, -0.999593047982555),
        };
        foreach (var (x, erf) in reference)
        {
            Assert.AreEqual(erf, Activations.Erf(x), 1e-14, $"erf({x})");
        }
    }

    [TestMethod]
    public void A_network_description_survives_its_own_serialization()
    {
        using var network = EveryLayerKind(AutoClipNetActivation.Selu, outputs: 4, seed: 8);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            network.Write(writer);
        }
        stream.Position = 0;
        using var read = NetworkDescription.Read(new BinaryReader(stream));
        Assert.AreEqual(stream.Length, stream.Position);
        Assert.AreEqual(network.ToString(), read.ToString());
        var row = RandomRows(1, seed: 3);
        CollectionAssert.AreEqual(network.Forward(row, new float[2 * network.MaxWidth]).ToArray(), read.Forward(row, new float[2 * read.MaxWidth]).ToArray());
    }

    [TestMethod]
    public void A_batch_outside_one_to_capacity_rows_is_refused_and_scoring_leaves_no_tensor_alive()
    {
        using var network = EveryLayerKind(AutoClipNetActivation.Tanh, outputs: 1, seed: 2);
        using (var warmUp = network.CreateBatchScorer(1))
        {
            warmUp.Forward(1); // creates the layers' shared weight tensors, which live with the network
        }
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var scorer = network.CreateBatchScorer(capacity: 16);
        Assert.AreEqual(16 * Inputs, scorer.Input.Length);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => scorer.Forward(17).ToArray());
        StringAssert.Contains(e.Message, "1 to 16 rows");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => scorer.Forward(0).ToArray());
        long withScorer = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 50; i++)
        {
            scorer.Forward(1 + i % 16);
        }
        Assert.AreEqual(withScorer, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "a batch must not leave tensors behind");
        scorer.Dispose();
        Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "disposing the scorer frees every tensor it made");
    }

    [TestMethod]
    public void A_batch_scorer_made_inside_a_TorchSharp_dispose_scope_outlives_the_scope()
    {
        using var network = EveryLayerKind(AutoClipNetActivation.ReLU, outputs: 1, seed: 7);
        var input = RandomRows(4, seed: 9);
        BatchScorer scorer;
        using (NewDisposeScope())
        {
            scorer = network.CreateBatchScorer(4);
        }
        using (scorer)
        {
            input.CopyTo(scorer.Input);
            var scores = scorer.Forward(4).ToArray();
            var scratch = new float[2 * network.MaxWidth];
            for (int r = 0; r < 4; r++)
            {
                float single = network.Forward(input.AsSpan(r * Inputs, Inputs), scratch)[0];
                Assert.AreEqual(single, scores[r], 2e-5f * (1 + Math.Abs(single)));
            }
        }
    }

    [TestMethod]
    public void Corrupt_layer_fields_are_refused_with_what_is_wrong()
    {
        using var network = EveryLayerKind(AutoClipNetActivation.ReLU, outputs: 1, seed: 1);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            network.Write(writer);
        }
        var bytes = stream.ToArray();
        var unknownKind = (byte[])bytes.Clone();
        BitConverter.GetBytes(77).CopyTo(unknownKind, 8); // the first layer's kind, after input size and layer count
        var e = Assert.Throws<InvalidDataException>(() => NetworkDescription.Read(new BinaryReader(new MemoryStream(unknownKind))));
        StringAssert.Contains(e.Message, "unknown kind 77");
        var tooMany = (byte[])bytes.Clone();
        BitConverter.GetBytes(1 << 30).CopyTo(tooMany, 4);
        StringAssert.Contains(Assert.Throws<InvalidDataException>(() => NetworkDescription.Read(new BinaryReader(new MemoryStream(tooMany)))).Message, "layer count");
    }
}
