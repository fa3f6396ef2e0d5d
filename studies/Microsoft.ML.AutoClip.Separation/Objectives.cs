using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Separation;

/// <summary>The training objectives of the AutoClip paper's table (its five columns).</summary>
public enum Objective
{
    /// <summary>L_MI: two sigmoid masks, the L1 phase-sensitive approximation loss, permutation-invariant.</summary>
    MaskInference,

    /// <summary>L_DC: deep clustering (Hershey et al. 2016), unit-norm embeddings of every time-frequency bin, ||VVᵀ − YYᵀ||²_F.</summary>
    DeepClustering,

    /// <summary>L_WKM: whitened k-means (Wang, Le Roux and Hershey 2018), D − tr((VᵀV)⁻¹ VᵀY (YᵀY)⁻¹ YᵀV).</summary>
    WhitenedKMeans,

    /// <summary>L_MI+WKM: the chimera, a mask head and an embedding head on one BLSTM trunk, the two losses summed with equal weights.</summary>
    Chimera,

    /// <summary>L_SNR: the negative SNR of the time-domain estimates (masked mixture, inverse STFT), permutation-invariant.</summary>
    Snr,
}

/// <summary>The objectives' loss functions and the test-time clustering of the embedding objectives.</summary>
public static class Objectives
{
    /// <summary>Every objective in the paper's column order (L_DC, L_WKM, L_MI, L_MI+WKM, L_SNR).</summary>
    public static readonly Objective[] All = { Objective.DeepClustering, Objective.WhitenedKMeans, Objective.MaskInference, Objective.Chimera, Objective.Snr };

    /// <summary>The embedding dimension of the embedding objectives (chimera++ and the whitened k-means paper use 20).</summary>
    public const int EmbeddingDimension = 20;

    /// <summary>Bins more than this many dB below an excerpt's loudest bin get weight 0 in the embedding losses and are not clustered (Hershey et al. 2016: 40 dB).</summary>
    public const double SilenceDb = 40;

    private static readonly Scalar Epsilon = 1e-8f.ToScalar();
    private static readonly Scalar One = 1f.ToScalar();
    private static readonly Scalar MinusTwo = (-2f).ToScalar();
    private static readonly Scalar Zero = 0f.ToScalar();
    private static readonly Scalar Half = 0.5f.ToScalar();

    /// <summary>The short name used in run keys, command lines and file names.</summary>
    public static string Key(this Objective objective) => objective switch
    {
        Objective.MaskInference => "mi",
        Objective.DeepClustering => "dc",
        Objective.WhitenedKMeans => "wkm",
        Objective.Chimera => "chimera",
        Objective.Snr => "snr",
        _ => throw new ArgumentOutOfRangeException(nameof(objective)),
    };

    /// <summary>The paper's name of the objective.</summary>
    public static string Title(this Objective objective) => objective switch
    {
        Objective.MaskInference => "L_MI (mask inference)",
        Objective.DeepClustering => "L_DC (deep clustering)",
        Objective.WhitenedKMeans => "L_WKM (whitened k-means)",
        Objective.Chimera => "L_MI+WKM (chimera)",
        Objective.Snr => "L_SNR (time-domain SNR)",
        _ => throw new ArgumentOutOfRangeException(nameof(objective)),
    };

    public static Objective Parse(string key) => Enum.GetValues<Objective>().FirstOrDefault(o => o.Key() == key.Trim(), (Objective)(-1)) is var o && Enum.IsDefined(o)
        ? o
        : throw new ArgumentException($"Unknown objective '{key}': expected one of {string.Join(", ", All.Select(x => x.Key()))}.", nameof(key));

    /// <summary>Whether the network has the mask head (mask inference, the chimera, SNR) and the embedding head (deep clustering, whitened k-means, the chimera).</summary>
    public static bool HasMasks(this Objective objective) => objective is Objective.MaskInference or Objective.Chimera or Objective.Snr;

    public static bool HasEmbeddings(this Objective objective) => objective is Objective.DeepClustering or Objective.WhitenedKMeans or Objective.Chimera;

    /// <summary>Whether the test-time separation clusters the embeddings (the chimera separates with its mask head, as chimera++ does).</summary>
    public static bool SeparatesByClustering(this Objective objective) => objective is Objective.DeepClustering or Objective.WhitenedKMeans;

    /// <summary>
    /// The ideal binary assignment of every bin to its dominant source, Y [batch, frames × bins, 2] (one-hot), and the
    /// bins' weights [batch, frames × bins] from <see cref="SilenceWeights"/>.
    /// </summary>
    public static (Tensor Assignments, Tensor Weights) Targets(Tensor mixture, Tensor first, Tensor second)
    {
        using var scope = NewDisposeScope();
        long batch = mixture.shape[0];
        var dominant = first.abs().ge(second.abs()).reshape(batch, -1).to_type(ScalarType.Float32);
        var assignments = stack(new[] { dominant, dominant.neg().add(One, One) }, 2);
        var weights = SilenceWeights(mixture);
        return (assignments.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The bins' weights [batch, frames × bins] of a mixture's spectrogram [batch, frames, bins]: 1 where the mixture is
    /// within <see cref="SilenceDb"/> of the excerpt's loudest bin, else 0 (the training losses and the test-time
    /// clustering both leave the near-silent bins out).
    /// </summary>
    public static Tensor SilenceWeights(Tensor mixture)
    {
        using var scope = NewDisposeScope();
        var magnitude = mixture.abs().reshape(mixture.shape[0], -1);
        var loudest = magnitude.amax(new long[] { 1 }, keepdim: true);
        using var floor = ((float)Math.Pow(10, -SilenceDb / 20)).ToScalar();
        return magnitude.ge(loudest.mul(floor)).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Deep clustering's affinity loss, ||VVᵀ − YYᵀ||²_F with the bins weighted, in its low-rank form
    /// ||VᵀV||²_F − 2||VᵀY||²_F + ||YᵀY||²_F (V and Y scaled row by row by √w), divided by (Σw)² so that it lies in [0, 1]
    /// for unit-norm embeddings; the mean over the batch. <paramref name="embeddings"/>: [batch, bins, D];
    /// <paramref name="assignments"/>: [batch, bins, C]; <paramref name="weights"/>: [batch, bins].
    /// </summary>
    public static Tensor DeepClusteringLoss(Tensor embeddings, Tensor assignments, Tensor weights)
    {
        using var scope = NewDisposeScope();
        var root = weights.sqrt().unsqueeze(2);
        var v = embeddings * root;
        var y = assignments * root;
        var vt = v.transpose(1, 2);
        var yt = y.transpose(1, 2);
        var vv = SquaredNorm(vt.bmm(v));
        var vy = SquaredNorm(vt.bmm(y));
        var yy = SquaredNorm(yt.bmm(y));
        var sum = weights.sum(1);
        var total = sum.mul(sum).clamp_min(One);
        return vv.add(vy, MinusTwo).add(yy, One).div(total).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The whitened k-means loss, D − tr((VᵀV)⁻¹ VᵀY (YᵀY)⁻¹ YᵀV): the k-means cost of the whitened embeddings
    /// U = V(VᵀV)^(−1/2) around the means of the oracle clusters, with the bins weighted as in deep clustering (V and Y
    /// scaled by √w); it lies in [D − C, D]. A ridge of 1e-4 · tr(VᵀV)/D keeps VᵀV invertible, and an empty source
    /// (no bin it dominates) contributes nothing. The mean over the batch.
    /// </summary>
    public static Tensor WhitenedKMeansLoss(Tensor embeddings, Tensor assignments, Tensor weights)
    {
        using var scope = NewDisposeScope();
        long d = embeddings.shape[2];
        var root = weights.sqrt().unsqueeze(2);
        var v = embeddings * root;
        var y = assignments * root;
        var vt = v.transpose(1, 2);
        var gram = vt.bmm(v); // [batch, D, D]
        using var ridgeScale = (1e-4f / d).ToScalar();
        var ridge = gram.diagonal(0, 1, 2).sum(1).mul(ridgeScale).clamp_min(Epsilon); // [batch]
        var eye = torch.eye(d, dtype: gram.dtype).unsqueeze(0) * ridge.view(-1, 1, 1);
        var cross = vt.bmm(y); // [batch, D, C]
        var counts = y.mul(y).sum(1); // diag(YᵀY): [batch, C]
        var inverseCounts = counts.gt(Epsilon).to_type(counts.dtype).div(counts.clamp_min(Epsilon)); // 1/count, 0 for an empty source
        var between = (cross * inverseCounts.unsqueeze(1)).bmm(cross.transpose(1, 2)); // VᵀY (YᵀY)⁻¹ YᵀV: [batch, D, D]
        var solved = linalg.solve(gram.add(eye, One), between);
        var trace = solved.diagonal(0, 1, 2).sum(1);
        using var dimension = ((float)d).ToScalar();
        return trace.neg().add(dimension, One).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The negative SNR (dB) of the time-domain estimates, permutation-invariant over the two speakers:
    /// −max over the two pairings of the mean of 10 log10(||s||² / ||s − ŝ||²), the mean over the batch.
    /// <paramref name="estimates"/>: [batch, 2, samples]; <paramref name="first"/>, <paramref name="second"/>: [batch, samples].
    /// </summary>
    public static Tensor PitSnrLoss(Tensor estimates, Tensor first, Tensor second)
    {
        using var scope = NewDisposeScope();
        using var ten = 10f.ToScalar();
        Tensor Snr(Tensor estimate, Tensor source)
            => SquaredNorm(source).add(Epsilon, One).log10().sub(SquaredNorm(source.sub(estimate)).add(Epsilon, One).log10()).mul(ten);
        var e1 = estimates.select(1, 0);
        var e2 = estimates.select(1, 1);
        var straight = Snr(e1, first).add(Snr(e2, second), One);
        var crossed = Snr(e1, second).add(Snr(e2, first), One);
        return maximum(straight, crossed).mul(Half).mean().neg().MoveToOuterDisposeScope();
    }

    /// <summary>The squared Frobenius norm of each item of a batch (every dimension but the first summed): [batch].</summary>
    private static Tensor SquaredNorm(Tensor x) => x.mul(x).sum(Enumerable.Range(1, (int)x.ndim - 1).Select(i => (long)i).ToArray());

    /// <summary>
    /// Two-means clustering of the embeddings [bins, D] of one mixture: Lloyd's iterations on the bins of weight 1 from
    /// <paramref name="restarts"/> seeded starts (two distinct active bins each), the run of least within-cluster cost
    /// kept; every bin (silent ones too) is then given its nearest center. Returns the binary masks [bins, 2].
    /// </summary>
    public static Tensor TwoMeans(Tensor embeddings, Tensor weights, int restarts = 5, int iterations = 30)
    {
        using var scope = NewDisposeScope();
        var active = embeddings.index(weights.gt(Half));
        if (active.shape[0] < 2)
        {
            active = embeddings;
        }
        long n = active.shape[0];
        var random = new Random(7);
        Tensor? bestCenters = null;
        double bestCost = double.PositiveInfinity;
        for (int r = 0; r < restarts; r++)
        {
            long a = random.NextInt64(n), b = random.NextInt64(n - 1);
            if (b >= a)
            {
                b++;
            }
            var centers = stack(new[] { active[a], active[b] });
            Tensor nearest = zeros(n, dtype: ScalarType.Int64);
            for (int i = 0; i < iterations; i++)
            {
                nearest = cdist(active, centers).argmin(1);
                var updated = centers.clone();
                for (int c = 0; c < 2; c++)
                {
                    var members = nearest.eq(c == 0 ? Zero : One);
                    if (members.any().item<bool>())
                    {
                        updated[c] = active.index(members).mean(new long[] { 0 });
                    }
                }
                bool converged = updated.sub(centers).abs().max().item<float>() < 1e-6f;
                centers = updated;
                if (converged)
                {
                    break;
                }
            }
            var distance = cdist(active, centers).amin(1);
            double cost = distance.mul(distance).sum().item<float>();
            if (cost < bestCost)
            {
                bestCost = cost;
                bestCenters = centers;
            }
        }
        var labels = cdist(embeddings, bestCenters!).argmin(1);
        var masks = stack(new[] { labels.eq(Zero), labels.eq(One) }, 1).to_type(ScalarType.Float32);
        return masks.MoveToOuterDisposeScope();
    }
}
