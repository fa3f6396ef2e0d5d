using System;
using Microsoft.ML.AutoClip;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>What one clipping step did.</summary>
internal readonly record struct ClipResult(double Norm, double Threshold, double Scale, bool Skipped);

/// <summary>
/// The clipping of the contiguous gradient buffer: AutoClip (the product), a fixed norm, or none (for
/// comparisons). AutoClip and the fixed norm share AutoClip's one clip step.
/// </summary>
internal sealed class GradientClipping
{
    private readonly AutoClipNetClipping _mode;
    private readonly double _fixedNorm;
    private readonly NonFiniteGradientPolicy _policy;
    private readonly AutoClipper? _clipper;
    private readonly Func<double, double> _fixedThreshold;
    private long _steps;

    /// <summary>Clipping as <paramref name="mode"/> says; AutoClip continues from <paramref name="resume"/> when given (a warm start), else starts a new history.</summary>
    public GradientClipping(AutoClipNetClipping mode, AutoClipOptions autoClip, double fixedNorm, AutoClipperState? resume = null)
    {
        _mode = mode;
        _fixedNorm = fixedNorm;
        _policy = autoClip.NonFiniteGradients;
        _clipper = mode != AutoClipNetClipping.AutoClip ? null : resume is not null ? new AutoClipper(resume) : new AutoClipper(autoClip);
        _fixedThreshold = _ => _fixedNorm;
    }

    /// <summary>AutoClip's threshold after the latest step (NaN without AutoClip).</summary>
    public double Threshold => _clipper?.Threshold ?? double.NaN;

    /// <summary>AutoClip's whole state (null without AutoClip).</summary>
    public AutoClipperState? State => _clipper?.GetState();

    public ClipResult Clip(Tensor gradients)
    {
        _steps++;
        switch (_mode)
        {
            case AutoClipNetClipping.AutoClip:
                var record = _clipper!.ClipGradient(gradients);
                return new ClipResult(record.GradientNorm, record.Threshold, record.Scale, record.Skipped);
            case AutoClipNetClipping.FixedNorm:
                var step = AutoClipper.ClipToThreshold(_steps, new[] { gradients }, _fixedThreshold, _policy);
                return new ClipResult(step.GradientNorm, step.Threshold, step.Scale, step.Skipped);
            default:
                return new ClipResult(double.NaN, double.NaN, 1.0, false);
        }
    }

    public string Describe(AutoClipOptions autoClip) => _mode switch
    {
        AutoClipNetClipping.AutoClip => $"AutoClip p = {autoClip.Percentile}" + (autoClip.HistoryWindow is int w ? $" over the last {w} norms" : ""),
        AutoClipNetClipping.FixedNorm => $"fixed norm {_fixedNorm}",
        _ => "off",
    };
}
