using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Separation;

/// <summary>A gradient clipper the study compares with AutoClip; returns whether it scaled any gradient this step.</summary>
public interface IGradientClipper
{
    bool Clip(IReadOnlyList<Parameter> parameters);
}

internal static class Norms
{
    /// <summary>The total L2 norm of the gradients (norm(float) passes p as a float: no temporary LibTorch Scalar).</summary>
    public static double Total(IReadOnlyList<Parameter> parameters)
    {
        double sum = 0;
        foreach (var p in parameters)
        {
            if (p.grad is { } g)
            {
                using var n = g.norm(2f);
                double v = n.item<float>();
                sum += v * v;
            }
        }
        return Math.Sqrt(sum);
    }

    public static void Scale(IReadOnlyList<Parameter> parameters, double factor)
    {
        using var scalar = ((float)factor).ToScalar(); // held for the calls
        using var noGrad = no_grad();
        foreach (var p in parameters)
        {
            p.grad?.mul_(scalar);
        }
    }
}

/// <summary>A hand-set threshold on the total norm (what torch's clip_grad_norm_ does).</summary>
public sealed class FixedNormClipper : IGradientClipper
{
    private readonly double _maxNorm;

    public FixedNormClipper(double maxNorm) => _maxNorm = maxNorm;

    public bool Clip(IReadOnlyList<Parameter> parameters)
    {
        double norm = Norms.Total(parameters);
        if (norm <= _maxNorm || !double.IsFinite(norm))
        {
            return false;
        }
        Norms.Scale(parameters, _maxNorm / norm);
        return true;
    }
}

/// <summary>
/// ZClip-style z-score clipping (after bluorion-com/ZClip, arXiv 2504.02507, its "zscore" mode): exponential moving
/// mean and variance of the total norm (α = 0.97), initialized from the first 25 norms (not clipped); a norm more than
/// z = 2.5 standard deviations above the mean is scaled to mean + z·std, and the statistics are updated with the
/// norm as clipped.
/// </summary>
public sealed class ZScoreClipper : IGradientClipper
{
    private readonly double _alpha, _z;
    private readonly int _warmup;
    private readonly List<double> _first = new();
    private double _mean, _variance;

    public ZScoreClipper(double alpha = 0.97, double z = 2.5, int warmup = 25)
    {
        _alpha = alpha;
        _z = z;
        _warmup = warmup;
    }

    public bool Clip(IReadOnlyList<Parameter> parameters)
    {
        double norm = Norms.Total(parameters);
        if (!double.IsFinite(norm))
        {
            return false;
        }
        if (_first.Count < _warmup)
        {
            _first.Add(norm);
            if (_first.Count == _warmup)
            {
                _mean = _first.Average();
                _variance = _first.Sum(x => (x - _mean) * (x - _mean)) / _first.Count;
            }
            return false;
        }
        double std = Math.Sqrt(_variance);
        double limit = _mean + _z * std;
        bool clipped = std > 0 && norm > limit;
        if (clipped)
        {
            Norms.Scale(parameters, limit / norm);
            norm = limit;
        }
        _mean = _alpha * _mean + (1 - _alpha) * norm;
        _variance = _alpha * _variance + (1 - _alpha) * (norm - _mean) * (norm - _mean);
        return clipped;
    }
}

/// <summary>
/// Adaptive gradient clipping, unit-wise (Brock et al. 2021, NFNets): for each output unit (row) of each weight, the
/// gradient is scaled down where ||G_i|| / max(||W_i||, ε) exceeds λ (λ = 0.01, ε = 1e-3); vectors (biases) as one
/// unit; the output layer is not clipped.
/// </summary>
public sealed class UnitWiseClipper : IGradientClipper
{
    private static readonly Scalar One = 1f.ToScalar();
    private static readonly Scalar Tiny = 1e-12f.ToScalar();
    private readonly Scalar _lambda, _epsilon;
    private readonly HashSet<Parameter> _exempt;

    public UnitWiseClipper(IEnumerable<Parameter> outputLayer, double lambda = 0.01, double epsilon = 1e-3)
    {
        _lambda = ((float)lambda).ToScalar();
        _epsilon = ((float)epsilon).ToScalar();
        _exempt = outputLayer.ToHashSet();
    }

    public bool Clip(IReadOnlyList<Parameter> parameters)
    {
        bool any = false;
        using var noGrad = no_grad();
        foreach (var p in parameters)
        {
            if (p.grad is not { } g || _exempt.Contains(p))
            {
                continue;
            }
            using var scope = NewDisposeScope();
            var w = p.ndim > 1 ? p.detach().flatten(1) : p.detach().reshape(1, -1);
            var gv = p.ndim > 1 ? g.flatten(1) : g.reshape(1, -1);
            var weightNorm = w.norm(1, keepdim: true, p: 2f).clamp_min(_epsilon);  // rows × 1
            var gradientNorm = gv.norm(1, keepdim: true, p: 2f);
            var limit = weightNorm.mul(_lambda);
            // factor = min(1, limit / ||G_i||) per row.
            var factor = limit.div(gradientNorm.clamp_min(Tiny)).clamp_max(One);
            if (factor.lt(One).any().item<bool>())
            {
                any = true;
                gv.mul_(factor);
            }
        }
        return any;
    }
}
