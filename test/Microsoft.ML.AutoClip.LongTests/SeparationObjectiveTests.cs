using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClip.Separation;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The separation study's objectives (studies/Microsoft.ML.AutoClip.Separation/Objectives.cs), each against a direct
/// computation in double precision on a tiny batch: deep clustering against the N × N affinity matrices it avoids,
/// whitened k-means against the k-means cost of explicitly whitened embeddings, SNR against the sums over samples with
/// both pairings tried; the two-means clustering and the targets on inputs whose answer is known; and every objective's
/// loss through the network, with gradients reaching the heads it trains.
/// </summary>
[TestClass]
public sealed class SeparationObjectiveTests
{
    private const int Batch = 2, Bins = 9, Dimension = 3;

    /// <summary>Random unit-norm embeddings [batch, bins, D], one-hot assignments [batch, bins, 2] and 0/1 weights [batch, bins] (seeded).</summary>
    private static (double[,,] V, int[,] Source, double[,] W) Inputs(int seed)
    {
        var random = new Random(seed);
        var v = new double[Batch, Bins, Dimension];
        var source = new int[Batch, Bins];
        var w = new double[Batch, Bins];
        for (int b = 0; b < Batch; b++)
        {
            for (int n = 0; n < Bins; n++)
            {
                double norm = 0;
                for (int d = 0; d < Dimension; d++)
                {
                    v[b, n, d] = random.NextDouble() * 2 - 1;
                    norm += v[b, n, d] * v[b, n, d];
                }
                for (int d = 0; d < Dimension; d++)
                {
                    v[b, n, d] /= Math.Sqrt(norm);
                }
                source[b, n] = n < 2 ? n : random.Next(2); // both speakers present
                w[b, n] = n < 4 || random.NextDouble() < 0.7 ? 1 : 0;
            }
        }
        return (v, source, w);
    }

    private static Tensor ToTensor(double[,,] v) => tensor(v.Cast<double>().Select(x => (float)x).ToArray(), new long[] { v.GetLength(0), v.GetLength(1), v.GetLength(2) });

    private static Tensor ToTensor(double[,] v) => tensor(v.Cast<double>().Select(x => (float)x).ToArray(), new long[] { v.GetLength(0), v.GetLength(1) });

    private static Tensor OneHot(int[,] source)
    {
        var y = new double[source.GetLength(0), source.GetLength(1), 2];
        for (int b = 0; b < source.GetLength(0); b++)
        {
            for (int n = 0; n < source.GetLength(1); n++)
            {
                y[b, n, source[b, n]] = 1;
            }
        }
        return ToTensor(y);
    }

    [TestMethod]
    public void Deep_clustering_is_the_weighted_affinity_mismatch_over_the_squared_weight_total()
    {
        var (v, source, w) = Inputs(1);
        double expected = 0;
        for (int b = 0; b < Batch; b++)
        {
            double sum = 0, total = 0;
            for (int i = 0; i < Bins; i++)
            {
                total += w[b, i];
                for (int j = 0; j < Bins; j++)
                {
                    double vv = Enumerable.Range(0, Dimension).Sum(d => v[b, i, d] * v[b, j, d]);
                    double yy = source[b, i] == source[b, j] ? 1 : 0;
                    sum += w[b, i] * w[b, j] * (vv - yy) * (vv - yy); // √w_i √w_j on each side of the difference, squared
                }
            }
            expected += sum / (total * total);
        }
        expected /= Batch;
        using var loss = Objectives.DeepClusteringLoss(ToTensor(v), OneHot(source), ToTensor(w));
        Assert.AreEqual(expected, loss.item<float>(), 1e-5 * Math.Max(1, expected));
        Assert.IsGreaterThan(0.01, expected, "the random embeddings must leave a mismatch to measure");
    }

    [TestMethod]
    public void Deep_clustering_is_zero_when_the_embeddings_are_the_assignments()
    {
        var (_, source, w) = Inputs(2);
        var y = OneHot(source);
        using var loss = Objectives.DeepClusteringLoss(y, y, ToTensor(w));
        Assert.AreEqual(0, loss.item<float>(), 1e-6);
    }

    [TestMethod]
    public void Whitened_k_means_is_the_k_means_cost_of_the_whitened_embeddings_around_the_oracle_means()
    {
        var (v, source, w) = Inputs(3);
        double expected = 0;
        for (int b = 0; b < Batch; b++)
        {
            // U = √W V (Vᵀ W V)^(−1/2); the cost Σ_n ||U_n − mean of U over n's cluster||², the means over the weighted rows.
            var a = new double[Dimension, Dimension];
            for (int n = 0; n < Bins; n++)
            {
                for (int i = 0; i < Dimension; i++)
                {
                    for (int j = 0; j < Dimension; j++)
                    {
                        a[i, j] += w[b, n] * v[b, n, i] * v[b, n, j];
                    }
                }
            }
            var inverseRoot = InverseSquareRoot(a);
            for (int i = 0; i < Dimension; i++)
            {
                for (int j = 0; j < Dimension; j++)
                {
                    // (A^(−1/2))ᵀ A A^(−1/2) = I: the helper is right before it is used.
                    double product = Enumerable.Range(0, Dimension).Sum(k => Enumerable.Range(0, Dimension).Sum(l => inverseRoot[k, i] * a[k, l] * inverseRoot[l, j]));
                    Assert.AreEqual(i == j ? 1 : 0, product, 1e-9);
                }
            }
            var u = new double[Bins, Dimension];
            for (int n = 0; n < Bins; n++)
            {
                for (int j = 0; j < Dimension; j++)
                {
                    u[n, j] = Math.Sqrt(w[b, n]) * Enumerable.Range(0, Dimension).Sum(i => v[b, n, i] * inverseRoot[i, j]);
                }
            }
            for (int c = 0; c < 2; c++)
            {
                var members = Enumerable.Range(0, Bins).Where(n => source[b, n] == c).ToList();
                double weight = members.Sum(n => w[b, n]);
                for (int j = 0; j < Dimension; j++)
                {
                    // The weighted mean of the whitened rows is Σ √w_n U_n / Σ w_n; the cost of row n is ||U_n − √w_n μ||².
                    double mean = members.Sum(n => Math.Sqrt(w[b, n]) * u[n, j]) / weight;
                    expected += members.Sum(n => Math.Pow(u[n, j] - Math.Sqrt(w[b, n]) * mean, 2));
                }
            }
        }
        expected /= Batch;
        using var loss = Objectives.WhitenedKMeansLoss(ToTensor(v), OneHot(source), ToTensor(w));
        // The ridge (1e-4 of the mean eigenvalue) moves the value by about 1e-4 · D · the condition number.
        Assert.AreEqual(expected, loss.item<float>(), 2e-3);
        Assert.IsGreaterThan(Dimension - 2 + 0.05, expected, "random embeddings must be far from the best value, D − C");
    }

    [TestMethod]
    public void Whitened_k_means_reaches_D_minus_C_for_the_assignments_and_survives_an_absent_speaker()
    {
        var (_, source, w) = Inputs(4);
        var y = OneHot(source);
        var padded = cat(new[] { y, zeros(Batch, Bins, 18) }, 2); // D = 20, two of them the assignments
        using (var loss = Objectives.WhitenedKMeansLoss(padded, y, ToTensor(w)))
        {
            Assert.AreEqual(18, loss.item<float>(), 1e-2);
        }

        // Every bin the first speaker's: the second cluster is empty and must not divide by zero.
        var (v, _, _) = Inputs(5);
        var embeddings = ToTensor(v).requires_grad_(true);
        var alone = cat(new[] { ones(Batch, Bins, 1), zeros(Batch, Bins, 1) }, 2);
        using var single = Objectives.WhitenedKMeansLoss(embeddings, alone, ToTensor(w));
        single.backward();
        Assert.IsTrue(float.IsFinite(single.item<float>()));
        Assert.IsTrue(embeddings.grad!.isfinite().all().item<bool>());
    }

    [TestMethod]
    public void Snr_is_the_negative_mean_snr_of_the_better_pairing()
    {
        var random = new Random(6);
        const int samples = 50;
        var first = new double[Batch, samples];
        var second = new double[Batch, samples];
        var estimates = new double[Batch, 2, samples];
        for (int b = 0; b < Batch; b++)
        {
            for (int t = 0; t < samples; t++)
            {
                first[b, t] = random.NextDouble() - 0.5;
                second[b, t] = random.NextDouble() - 0.5;
                // The first example's estimates in the speakers' order, the second's swapped.
                estimates[b, b == 0 ? 0 : 1, t] = first[b, t] + 0.1 * (random.NextDouble() - 0.5);
                estimates[b, b == 0 ? 1 : 0, t] = second[b, t] + 0.3 * (random.NextDouble() - 0.5);
            }
        }
        static double Snr(Func<int, double> estimate, Func<int, double> source)
        {
            double signal = 0, noise = 0;
            for (int t = 0; t < samples; t++)
            {
                signal += source(t) * source(t);
                noise += (source(t) - estimate(t)) * (source(t) - estimate(t));
            }
            return 10 * Math.Log10(signal / noise);
        }
        double expected = 0;
        for (int b = 0; b < Batch; b++)
        {
            int bb = b;
            double straight = (Snr(t => estimates[bb, 0, t], t => first[bb, t]) + Snr(t => estimates[bb, 1, t], t => second[bb, t])) / 2;
            double crossed = (Snr(t => estimates[bb, 0, t], t => second[bb, t]) + Snr(t => estimates[bb, 1, t], t => first[bb, t])) / 2;
            expected -= Math.Max(straight, crossed);
            Assert.IsTrue(b == 0 ? straight > crossed : crossed > straight, "each pairing must be the better one once");
        }
        expected /= Batch;
        using var loss = Objectives.PitSnrLoss(ToTensor(estimates), ToTensor(first), ToTensor(second));
        Assert.AreEqual(expected, loss.item<float>(), 1e-3);
    }

    [TestMethod]
    public void Two_means_finds_two_separated_groups_and_gives_silent_bins_their_nearest_center()
    {
        var random = new Random(8);
        const int n = 40;
        var points = new float[n * 2];
        var truth = new int[n];
        var weights = new float[n];
        for (int i = 0; i < n; i++)
        {
            truth[i] = i % 2;
            points[2 * i] = (truth[i] == 0 ? -1f : 1f) + 0.2f * (float)(random.NextDouble() - 0.5);
            points[2 * i + 1] = 0.2f * (float)(random.NextDouble() - 0.5);
            weights[i] = i < 30 ? 1 : 0; // the last ten are not clustered, only assigned
        }
        using var masks = Objectives.TwoMeans(tensor(points, new long[] { n, 2 }), tensor(weights));
        var labels = Enumerable.Range(0, n).Select(i => masks[i, 0].item<float>() == 1 ? 0 : 1).ToArray();
        bool same = labels[0] == truth[0];
        CollectionAssert.AreEqual(truth, labels.Select(l => same ? l : 1 - l).ToArray());
        Assert.IsTrue(Enumerable.Range(0, n).All(i => masks[i, 0].item<float>() + masks[i, 1].item<float>() == 1), "each bin in exactly one mask");
    }

    [TestMethod]
    public void The_targets_give_each_bin_its_louder_speaker_and_weight_only_bins_within_40_dB_of_the_loudest()
    {
        // One example of four bins: |S1| = 1, 0.1, 0.5, 0.001; |S2| = 0.2, 0.3, 0.5, 0.0001; the mixture's magnitudes below.
        var s1 = tensor(new float[] { 1f, 0.1f, 0.5f, 0.001f }).reshape(1, 1, 4);
        var s2 = tensor(new float[] { 0.2f, 0.3f, 0.5f, 0.0001f }).reshape(1, 1, 4);
        var mixture = tensor(new float[] { 1.1f, 0.35f, 0.9f, 0.005f }).reshape(1, 1, 4);
        var (assignments, weights) = Objectives.Targets(mixture, s1, s2);
        CollectionAssert.AreEqual(new float[] { 1, 0, 1, 1 }, assignments.select(2, 0).reshape(-1).data<float>().ToArray());
        CollectionAssert.AreEqual(new float[] { 0, 1, 0, 0 }, assignments.select(2, 1).reshape(-1).data<float>().ToArray());
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 0 }, weights.reshape(-1).data<float>().ToArray(), "0.005 is 47 dB below 1.1");
    }

    [TestMethod]
    public void Every_objective_trains_its_own_heads_through_the_network()
    {
        foreach (var objective in Objectives.All)
        {
            using var scope = NewDisposeScope();
            manual_seed(1);
            using var network = new Separation.SeparationNetwork(8, 1, objective.HasMasks(), objective.HasEmbeddings() ? Objectives.EmbeddingDimension : 0);
            var window = hann_window(Separation.FftSize, periodic: true).sqrt();
            var random = new Random(9);
            int samples = 19 * Separation.Hop;
            Tensor Signal() => tensor(Enumerable.Range(0, 2 * samples).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray(), new long[] { 2, samples });
            var first = Signal();
            var second = Signal();
            var loss = Separation.Loss(network, objective, first.add(second, 1f.ToScalar()), first, second, window, (0f, 1f));
            Assert.AreEqual(0, loss.ndim, objective.ToString());
            Assert.IsTrue(float.IsFinite(loss.item<float>()), objective.ToString());
            loss.backward();
            var parameters = network.named_parameters().ToList();
            Assert.IsTrue(parameters.All(p => p.parameter.grad is { } g && g.isfinite().all().item<bool>() && g.abs().sum().item<float>() > 0),
                $"{objective}: every parameter gets a finite, nonzero gradient: " + string.Join(", ", parameters.Where(p => p.parameter.grad is null).Select(p => p.name)));
            Assert.AreEqual(objective.HasMasks(), parameters.Any(p => p.name.Contains("output", StringComparison.Ordinal)), objective.ToString());
            Assert.AreEqual(objective.HasEmbeddings(), parameters.Any(p => p.name.Contains("embedding", StringComparison.Ordinal)), objective.ToString());
        }
    }

    /// <summary>(A)^(−1/2) of a symmetric positive-definite matrix, by Jacobi's eigenvalue iterations.</summary>
    private static double[,] InverseSquareRoot(double[,] a)
    {
        int n = a.GetLength(0);
        var m = (double[,])a.Clone();
        var q = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            q[i, i] = 1;
        }
        for (int sweep = 0; sweep < 100; sweep++)
        {
            for (int p = 0; p < n; p++)
            {
                for (int r = p + 1; r < n; r++)
                {
                    if (Math.Abs(m[p, r]) < 1e-15)
                    {
                        continue;
                    }
                    double theta = 0.5 * Math.Atan2(2 * m[p, r], m[r, r] - m[p, p]);
                    double c = Math.Cos(theta), s = Math.Sin(theta);
                    for (int k = 0; k < n; k++)
                    {
                        double mkp = m[k, p], mkr = m[k, r];
                        m[k, p] = c * mkp - s * mkr;
                        m[k, r] = s * mkp + c * mkr;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double mpk = m[p, k], mrk = m[r, k];
                        m[p, k] = c * mpk - s * mrk;
                        m[r, k] = s * mpk + c * mrk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double qkp = q[k, p], qkr = q[k, r];
                        q[k, p] = c * qkp - s * qkr;
                        q[k, r] = s * qkp + c * qkr;
                    }
                }
            }
        }
        var result = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                result[i, j] = Enumerable.Range(0, n).Sum(k => q[i, k] * q[j, k] / Math.Sqrt(m[k, k]));
            }
        }
        return result;
    }
}
