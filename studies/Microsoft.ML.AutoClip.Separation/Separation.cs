using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Separation;

/// <summary>A two-speaker mixture and its sources (same length, 8 kHz).</summary>
public sealed record Mixture(float[] Mix, float[] First, float[] Second);

/// <summary>How the gradient is clipped in a run: AutoClip at a percentile (100: never clips), or another clipper.</summary>
public sealed record Clipping(string Name, double? Percentile, string Key, Func<Separation.SeparationNetwork, IGradientClipper>? Other = null,
    AutoClipScope Scope = AutoClipScope.Global)
{
    public override string ToString() => Name;

    /// <summary>AutoClip with one threshold per parameter tensor (the LSTM's weights and biases of each layer and direction, the output layer's).</summary>
    public static Clipping AutoClipPerParameter(double p) => new($"AutoClip p = {p}, per parameter", p, $"p{p}-param", Scope: AutoClipScope.PerParameter);

    public static Clipping AutoClip(double p) => p >= 100 ? new("no clipping (p = 100)", null, "p100") : new($"AutoClip p = {p}", p, $"p{p}");

    /// <summary>A hand-set threshold (the study uses 0.05: set after a 200-step trial run whose AutoClip p = 10 threshold ended at 0.031).</summary>
    public static Clipping FixedNorm(double norm) => new($"fixed norm {norm}", null, $"fixed{norm}", _ => new FixedNormClipper(norm));

    public static Clipping ZScore() => new("ZClip-style z-score (α 0.97, z 2.5)", null, "zclip", _ => new ZScoreClipper());

    public static Clipping UnitWise() => new("AGC unit-wise (λ 0.01)", null, "agc", n => new UnitWiseClipper(n.OutputParameters));
}

/// <summary>One training run's outcome and its recorded dynamics (every <see cref="Separation.DiagnosticsInterval"/> steps).</summary>
public sealed record RunResult(Objective Objective, Clipping Clipping, int Seed, double SiSdrImprovement, double FinalLoss, int Steps, double Seconds, int ClippedSteps,
    double FinalThreshold, IReadOnlyList<(int Step, double Loss)> Losses, IReadOnlyList<(int Step, double GradientNorm, double StepSize, double Smoothness)> Diagnostics);

/// <summary>Sizes of a run (the full study, or the quick mode that CI runs).</summary>
public sealed record SeparationSettings(int Steps, int BatchSize, int Frames, int Hidden, int Layers, int TestMixtures, double LearningRate, int? Threads = null)
{
    public static SeparationSettings Full => new(Steps: 1000, BatchSize: 8, Frames: 100, Hidden: 64, Layers: 2, TestMixtures: 100, LearningRate: 1e-3);

    public static SeparationSettings Quick => new(Steps: 12, BatchSize: 4, Frames: 40, Hidden: 16, Layers: 1, TestMixtures: 4, LearningRate: 1e-3);
}

/// <summary>
/// Mask-inference speech separation (the AutoClip paper's L_MI setting, small): STFT with a 256-sample √Hann window
/// and hop 64 (129 bins), normalized log-magnitude input, a BLSTM, two sigmoid masks, the L1 phase-sensitive
/// approximation loss with permutation-invariant training, Adam; scored by the SI-SDR improvement on held-out
/// mixtures of unseen sentences.
/// </summary>
public static class Separation
{
    public const int FftSize = 256;
    public const int Hop = 64;
    public const int Bins = FftSize / 2 + 1;
    public const int DiagnosticsInterval = 20;

    // LibTorch scalars held for the process (a temporary Scalar can be freed by the finalizer while LibTorch reads it).
    private static readonly Scalar Epsilon = 1e-6f.ToScalar();
    private static readonly Scalar Zero = 0f.ToScalar();
    private static readonly Scalar One = 1f.ToScalar();
    private static readonly Scalar Tiny = 1e-12f.ToScalar();
    private static readonly Scalar Half = 0.5f.ToScalar();

    /// <summary>
    /// Mixtures of two utterances of different speakers, the second scaled to a level 0 to 5 dB below the first,
    /// both cut to the shorter one (WSJ0-2mix's "min" mode).
    /// </summary>
    public static Mixture Mix(Utterance a, Utterance b, Random random)
    {
        int n = Math.Min(a.Samples.Length, b.Samples.Length);
        var first = a.Samples[..n];
        var second = b.Samples[..n];
        double energyA = first.Sum(x => (double)x * x), energyB = second.Sum(x => (double)x * x);
        double db = -5 * random.NextDouble();
        float gain = (float)Math.Sqrt(energyA / Math.Max(energyB, 1e-12) * Math.Pow(10, db / 10));
        second = second.Select(x => x * gain).ToArray();
        // Keep the mixture in range: scale both sources alike.
        float peak = 0;
        for (int i = 0; i < n; i++)
        {
            peak = Math.Max(peak, Math.Abs(first[i] + second[i]));
        }
        float scale = peak > 0.9f ? 0.9f / peak : 1f;
        var mix = new float[n];
        for (int i = 0; i < n; i++)
        {
            first[i] *= scale;
            second[i] *= scale;
            mix[i] = first[i] + second[i];
        }
        return new Mixture(mix, first, second);
    }

    /// <summary>Pairs of different speakers, drawn with <paramref name="random"/>.</summary>
    public static Mixture RandomMixture(IReadOnlyList<Utterance> utterances, Random random)
    {
        while (true)
        {
            var a = utterances[random.Next(utterances.Count)];
            var b = utterances[random.Next(utterances.Count)];
            if (a.Speaker != b.Speaker)
            {
                return Mix(a, b, random);
            }
        }
    }

    /// <summary>
    /// The BLSTM separator: [batch, frames, bins] log magnitudes in; a mask head (two sigmoid masks
    /// [batch, frames, 2, bins]) and/or an embedding head (a <see cref="Objectives.EmbeddingDimension"/>-dimensional
    /// unit-norm embedding of every bin after tanh, [batch, frames × bins, D]) on one trunk, as the objective needs.
    /// </summary>
    public sealed class SeparationNetwork : nn.Module<Tensor, Tensor>
    {
        private readonly LSTM _lstm;
        private readonly Linear? _output;
        private readonly Linear? _embedding;

        /// <summary>The heads' parameters (AGC leaves them unclipped).</summary>
        public IEnumerable<Parameter> OutputParameters => (_output?.parameters() ?? Enumerable.Empty<Parameter>()).Concat(_embedding?.parameters() ?? Enumerable.Empty<Parameter>());

        // The mask head is made right after the trunk, so a mask-inference network draws the same initial weights as before the embedding head existed.
        public SeparationNetwork(int hidden, int layers, bool masks = true, int embeddingDimension = 0) : base(nameof(SeparationNetwork))
        {
            _lstm = nn.LSTM(Bins, hidden, numLayers: layers, batchFirst: true, bidirectional: true);
            _output = masks ? nn.Linear(2 * hidden, 2 * Bins) : null;
            _embedding = embeddingDimension > 0 ? nn.Linear(2 * hidden, Bins * embeddingDimension) : null;
            EmbeddingDimension = embeddingDimension;
            RegisterComponents();
        }

        public int EmbeddingDimension { get; }

        private static Tensor UnitNorm(Tensor x) => x.div(x.norm(2, keepdim: true, p: 2f).clamp_min(Tiny));

        /// <summary>The masks (the mask head is required).</summary>
        public override Tensor forward(Tensor input) => Heads(input).Masks ?? throw new InvalidOperationException("This network has no mask head.");

        /// <summary>Both heads' outputs from one pass through the trunk (null for a head the network lacks).</summary>
        public (Tensor? Masks, Tensor? Embeddings) Heads(Tensor input)
        {
            var (hidden, h, c) = _lstm.call(input);
            h.Dispose();
            c.Dispose();
            var masks = _output?.call(hidden).sigmoid().view(input.shape[0], input.shape[1], 2, Bins);
            var embeddings = _embedding is null ? null
                : UnitNorm(_embedding.call(hidden).tanh().view(input.shape[0], -1, EmbeddingDimension));
            return (masks, embeddings);
        }
    }

    private static Tensor Window() => hann_window(FftSize, periodic: true).sqrt();

    /// <summary>The complex STFT of a batch of signals [batch, samples]: [batch, frames, bins].</summary>
    public static Tensor Stft(Tensor signals, Tensor window)
        => stft(signals, FftSize, hop_length: Hop, win_length: FftSize, window: window, center: true, return_complex: true).transpose(1, 2);

    /// <summary>The L1 phase-sensitive approximation loss, permutation-invariant over the two speakers: a scalar.</summary>
    public static Tensor PitPsaLoss(Tensor masks, Tensor mixture, Tensor first, Tensor second)
    {
        var magnitude = mixture.abs();
        // |S| cos(∠Y − ∠S) = Re(S · conj(Y)) / |Y|, truncated to [0, |Y|].
        Tensor Target(Tensor source) => (source * mixture.conj()).real.div(magnitude.add(Epsilon, One)).clamp_min(Zero).minimum(magnitude);
        var t1 = Target(first);
        var t2 = Target(second);
        var e1 = masks.select(2, 0) * magnitude;
        var e2 = masks.select(2, 1) * magnitude;
        var same = (e1 - t1).abs().mean(new long[] { 1, 2 }).add((e2 - t2).abs().mean(new long[] { 1, 2 }), One);
        var swapped = (e1 - t2).abs().mean(new long[] { 1, 2 }).add((e2 - t1).abs().mean(new long[] { 1, 2 }), One);
        return minimum(same, swapped).mean();
    }

    /// <summary>Normalized log magnitude: (log(|Y| + ε) − mean) / std.</summary>
    private static Tensor Features(Tensor mixture, (float Mean, float Std) normalization)
    {
        using var mean = normalization.Mean.ToScalar();
        using var inverse = (1 / normalization.Std).ToScalar();
        return mixture.abs().add(Epsilon, One).log().sub(mean).mul(inverse);
    }

    /// <summary>One run: trains a fresh network for <paramref name="objective"/> with <paramref name="clipping"/> and scores the test mixtures.</summary>
    public static RunResult Train(IReadOnlyList<Utterance> train, IReadOnlyList<Mixture> test, Objective objective, Clipping clipping, int seed, SeparationSettings settings)
    {
        torch.manual_seed(seed);
        torch.set_num_threads(settings.Threads ?? Environment.ProcessorCount);
        var random = new Random(seed);
        using var window = Window();
        var normalization = Normalization(train, window);
        using var network = new SeparationNetwork(settings.Hidden, settings.Layers, objective.HasMasks(), objective.HasEmbeddings() ? Objectives.EmbeddingDimension : 0);
        var parameters = network.parameters().ToList();
        using var adam = optim.Adam(parameters, lr: settings.LearningRate);
        AutoClipOptimizer? autoClip = clipping.Percentile is double p ? adam.WithAutoClip(new AutoClipOptions { Percentile = p, Scope = clipping.Scope }) : null;
        optim.Optimizer optimizer = (optim.Optimizer?)autoClip ?? adam;
        var other = clipping.Other?.Invoke(network);

        int samples = (settings.Frames - 1) * Hop;
        var losses = new List<(int, double)>();
        var diagnostics = new List<(int, double, double, double)>();
        Tensor? previousWeights = null, previousGradient = null;
        int clipped = 0;
        double lastLoss = double.NaN;
        var watch = Stopwatch.StartNew();
        for (int step = 1; step <= settings.Steps; step++)
        {
            using var scope = NewDisposeScope();
            var (mix, first, second) = Batch(train, random, settings.BatchSize, samples);
            var loss = Loss(network, objective, mix, first, second, window, normalization);
            optimizer.zero_grad();
            loss.backward();
            lastLoss = loss.item<float>();
            losses.Add((step, lastLoss));

            bool measure = step % DiagnosticsInterval == 0 && previousWeights is not null;
            bool snapshot = (step + 1) % DiagnosticsInterval == 0;
            if (measure || snapshot)
            {
                using var noGrad = no_grad();
                var weights = cat(parameters.Select(q => q.detach().reshape(-1)).ToList()).DetachFromDisposeScope();
                var gradient = cat(parameters.Select(q => q.grad!.detach().reshape(-1)).ToList()).DetachFromDisposeScope();
                if (measure)
                {
                    double stepSize = weights.sub(previousWeights!).norm(2f).item<float>();
                    double change = gradient.sub(previousGradient!).norm(2f).item<float>();
                    double norm = gradient.norm(2f).item<float>();
                    diagnostics.Add((step, norm, stepSize, stepSize > 0 ? change / stepSize : double.NaN));
                }
                previousWeights?.Dispose();
                previousGradient?.Dispose();
                previousWeights = weights;
                previousGradient = gradient;
            }
            if (other?.Clip(parameters) == true)
            {
                clipped++;
            }
            optimizer.step();
            if (autoClip?.LastStep.Clipped == true)
            {
                clipped++;
            }
        }
        double seconds = watch.Elapsed.TotalSeconds;
        previousWeights?.Dispose();
        previousGradient?.Dispose();
        double improvement = Evaluate(network, objective, test, window, normalization);
        double threshold = autoClip?.Clipper.Threshold ?? double.NaN;
        return new RunResult(objective, clipping, seed, improvement, lastLoss, settings.Steps, seconds, clipped, threshold, losses, diagnostics);
    }

    /// <summary>The objective's loss on one batch of excerpts [batch, samples].</summary>
    public static Tensor Loss(SeparationNetwork network, Objective objective, Tensor mix, Tensor first, Tensor second, Tensor window, (float Mean, float Std) normalization)
    {
        var y = Stft(mix, window);
        var s1 = Stft(first, window);
        var s2 = Stft(second, window);
        var (masks, embeddings) = network.Heads(Features(y, normalization));
        switch (objective)
        {
            case Objective.MaskInference:
                return PitPsaLoss(masks!, y, s1, s2);
            case Objective.DeepClustering:
            {
                var (assignments, weights) = Objectives.Targets(y, s1, s2);
                return Objectives.DeepClusteringLoss(embeddings!, assignments, weights);
            }
            case Objective.WhitenedKMeans:
            {
                var (assignments, weights) = Objectives.Targets(y, s1, s2);
                return Objectives.WhitenedKMeansLoss(embeddings!, assignments, weights);
            }
            case Objective.Chimera:
            {
                // Equal weights on the two losses brought to comparable ranges: the whitened k-means loss as 1 − tr/C in [0, 1]
                // (C = 2 speakers; D − tr lies in [D − C, D]), the PSA loss as it is (about 0.2 to 0.5 here).
                var (assignments, weights) = Objectives.Targets(y, s1, s2);
                var wkm = Objectives.WhitenedKMeansLoss(embeddings!, assignments, weights);
                using var offset = ((float)(Objectives.EmbeddingDimension - 2)).ToScalar();
                return wkm.sub(offset).mul(Half).mul(Half).add(PitPsaLoss(masks!, y, s1, s2).mul(Half), One);
            }
            case Objective.Snr:
            {
                long samples = mix.shape[1];
                var estimates = stack(new[] { Resynthesize(y, masks!.select(2, 0), window, samples), Resynthesize(y, masks!.select(2, 1), window, samples) }, 1);
                return Objectives.PitSnrLoss(estimates, first, second);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(objective));
        }
    }

    /// <summary>The time-domain signal [batch, samples] of the masked mixture spectrum (the mixture's phase), by the inverse STFT.</summary>
    public static Tensor Resynthesize(Tensor mixture, Tensor mask, Tensor window, long samples)
        => istft((mixture * mask).transpose(1, 2), FftSize, hop_length: Hop, win_length: FftSize, window: window, center: true, length: samples);

    /// <summary>A batch of random excerpts of random training mixtures: [batch, samples] each.</summary>
    private static (Tensor Mix, Tensor First, Tensor Second) Batch(IReadOnlyList<Utterance> train, Random random, int batchSize, int samples)
    {
        var mix = new float[batchSize * samples];
        var first = new float[batchSize * samples];
        var second = new float[batchSize * samples];
        for (int b = 0; b < batchSize; b++)
        {
            var m = RandomMixture(train, random);
            int start = m.Mix.Length > samples ? random.Next(m.Mix.Length - samples) : 0;
            int n = Math.Min(samples, m.Mix.Length - start);
            Array.Copy(m.Mix, start, mix, b * samples, n);
            Array.Copy(m.First, start, first, b * samples, n);
            Array.Copy(m.Second, start, second, b * samples, n);
        }
        return (tensor(mix, new long[] { batchSize, samples }), tensor(first, new long[] { batchSize, samples }), tensor(second, new long[] { batchSize, samples }));
    }

    /// <summary>The mean and standard deviation of the log magnitudes of 32 training mixtures (fixed seed).</summary>
    private static (float Mean, float Std) Normalization(IReadOnlyList<Utterance> train, Tensor window)
    {
        using var scope = NewDisposeScope();
        var random = new Random(12345);
        var values = new List<Tensor>();
        for (int i = 0; i < 32; i++)
        {
            var m = RandomMixture(train, random);
            values.Add(Stft(tensor(m.Mix).unsqueeze(0), window).abs().add(Epsilon, One).log().reshape(-1));
        }
        var all = cat(values);
        return (all.mean().item<float>(), all.std().item<float>());
    }

    /// <summary>
    /// Mean SI-SDR improvement (dB) over the test mixtures, each at full length, best speaker permutation. Mask
    /// inference, the chimera and SNR separate with the mask head; deep clustering and whitened k-means by two-means
    /// clustering of each mixture's embeddings (<see cref="Objectives.TwoMeans"/>), the clusters as binary masks.
    /// </summary>
    public static double Evaluate(SeparationNetwork network, Objective objective, IReadOnlyList<Mixture> test, Tensor window, (float Mean, float Std) normalization)
    {
        network.eval();
        double total = 0;
        using (no_grad())
        {
            foreach (var m in test)
            {
                using var scope = NewDisposeScope();
                int n = m.Mix.Length;
                var y = Stft(tensor(m.Mix).unsqueeze(0), window); // [1, frames, bins]
                var (masks, embeddings) = network.Heads(Features(y, normalization));
                if (objective.SeparatesByClustering())
                {
                    var weights = Objectives.SilenceWeights(y);
                    var clusters = Objectives.TwoMeans(embeddings!.squeeze(0), weights.squeeze(0)); // [frames × bins, 2]
                    masks = clusters.view(1, y.shape[1], Bins, 2).permute(0, 1, 3, 2);
                }
                var estimates = new float[2][];
                for (int s = 0; s < 2; s++)
                {
                    estimates[s] = Resynthesize(y, masks!.select(2, s), window, n).squeeze(0).data<float>().ToArray();
                }
                double straight = (SiSdr(estimates[0], m.First) + SiSdr(estimates[1], m.Second)) / 2;
                double crossed = (SiSdr(estimates[0], m.Second) + SiSdr(estimates[1], m.First)) / 2;
                double baseline = (SiSdr(m.Mix, m.First) + SiSdr(m.Mix, m.Second)) / 2;
                total += Math.Max(straight, crossed) - baseline;
            }
        }
        network.train();
        return total / test.Count;
    }

    /// <summary>Scale-invariant SDR (Le Roux et al. 2019), means removed: 10 log10(||αs||² / ||αs − ŝ||²), α = ⟨ŝ, s⟩ / ||s||².</summary>
    public static double SiSdr(float[] estimate, float[] source)
    {
        int n = Math.Min(estimate.Length, source.Length);
        double meanE = 0, meanS = 0;
        for (int i = 0; i < n; i++)
        {
            meanE += estimate[i];
            meanS += source[i];
        }
        meanE /= n;
        meanS /= n;
        double dot = 0, energy = 0;
        for (int i = 0; i < n; i++)
        {
            dot += (estimate[i] - meanE) * (source[i] - meanS);
            energy += (source[i] - meanS) * (source[i] - meanS);
        }
        double alpha = dot / Math.Max(energy, 1e-20);
        double target = 0, noise = 0;
        for (int i = 0; i < n; i++)
        {
            double t = alpha * (source[i] - meanS);
            double e = (estimate[i] - meanE) - t;
            target += t * t;
            noise += e * e;
        }
        return 10 * Math.Log10(Math.Max(target, 1e-20) / Math.Max(noise, 1e-20));
    }
}
