using System;
using System.IO;
using System.Linq;

namespace Microsoft.ML.AutoClip;

/// <summary>
/// AutoClip: adaptive gradient clipping (Seetharaman, Wichern, Pardo, Le Roux, MLSP 2020). At each
/// step the total gradient norm is recorded and the gradient is clipped to the p-th percentile of
/// every norm recorded so far (or of the last <see cref="AutoClipOptions.HistoryWindow"/> norms).
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Observe"/> is the bookkeeping alone (no tensors): it records a norm and returns the
/// threshold. <see cref="ClipGradients(System.Collections.Generic.IEnumerable{TorchSharp.Modules.Parameter})"/>
/// does a whole step on TorchSharp parameters, and <see cref="AutoClipOptimizer"/> wraps an optimizer
/// so that an existing training loop changes one line.
/// </para>
/// <para>
/// Each step costs O(log n) in the history size n (O(log W) with a window of W), exactly: the
/// threshold is the same number NumPy's <c>percentile</c> returns over the whole history.
/// An instance is not thread-safe; use one per training loop.
/// </para>
/// </remarks>
public sealed partial class AutoClipper
{
    private readonly AutoClipOptions _options;
    private readonly PercentileHistory _history;

    /// <summary>Creates a clipper; with no options, exactly the paper's method (p = 10, whole history).</summary>
    public AutoClipper(AutoClipOptions? options = null)
    {
        _options = (options ?? new AutoClipOptions()).Clone();
        _history = new PercentileHistory(_options.Percentile, _options.HistoryWindow);
    }

    /// <summary>Restores a clipper from a state taken with <see cref="GetState"/>; it continues exactly where that one stood (its steps numbered on from the recorded and non-finite ones).</summary>
    public AutoClipper(AutoClipperState state)
        : this((state ?? throw new ArgumentNullException(nameof(state))).Options)
    {
        foreach (double norm in state.History)
        {
            _history.Add(norm);
        }
        RecordedSteps = state.RecordedSteps;
        NonFiniteSteps = state.NonFiniteSteps;
        Threshold = state.Threshold;
        RestoreGroups(state.Groups);
        // Steps are numbered on from where the saved clipper stood.
        _clipCalls = state.RecordedSteps + state.NonFiniteSteps;
    }

    /// <summary>A copy of the options this clipper runs with.</summary>
    public AutoClipOptions Options => _options.Clone();

    /// <summary>How many finite gradient norms have been recorded since the start (not bounded by the window).</summary>
    public long RecordedSteps { get; private set; }

    /// <summary>How many steps had a NaN or infinite gradient norm (never recorded).</summary>
    public long NonFiniteSteps { get; private set; }

    /// <summary>How many norms the percentile is currently taken over (at most the window).</summary>
    public int HistoryCount => _history.Count;

    /// <summary>
    /// The threshold of the latest recorded step (<see cref="double.PositiveInfinity"/> during warm-up,
    /// <see cref="double.NaN"/> before the first step).
    /// </summary>
    public double Threshold { get; private set; } = double.NaN;

    /// <summary>
    /// Records one gradient norm and returns the threshold to clip this step to: the p-th percentile
    /// of the history including this norm (NumPy's linear interpolation), as the reference
    /// implementation computes it. During warm-up the norm is recorded and the threshold is
    /// <see cref="double.PositiveInfinity"/> (no clipping).
    /// </summary>
    /// <param name="gradientNorm">The total L2 norm of this step's gradient.</param>
    /// <returns>
    /// The clipping threshold, or <see cref="double.NaN"/> when <paramref name="gradientNorm"/> is NaN or
    /// infinite: such a norm is counted in <see cref="NonFiniteSteps"/> but never recorded, so later
    /// thresholds are exactly what they would have been without it.
    /// </returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gradientNorm"/> is negative.</exception>
    public double Observe(double gradientNorm)
    {
        if (_options.Scope != AutoClipScope.Global)
        {
            throw GroupedScopeError(nameof(Observe));
        }
        if (!double.IsFinite(gradientNorm))
        {
            NonFiniteSteps++;
            return double.NaN;
        }
        if (gradientNorm < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(gradientNorm), gradientNorm, "A gradient norm cannot be negative.");
        }
        _history.Add(gradientNorm);
        RecordedSteps++;
        Threshold = RecordedSteps <= _options.WarmupSteps ? double.PositiveInfinity : _history.Percentile();
        return Threshold;
    }

    /// <summary>
    /// The factor a gradient of norm <paramref name="gradientNorm"/> is multiplied by to respect
    /// <paramref name="threshold"/>: <c>min(1, threshold / (norm + 1e-6))</c>, as <c>clip_grad_norm_</c>
    /// computes it, except that a gradient already within the threshold (norm &lt;= threshold) is left
    /// exactly as it is (factor 1). The formula alone would shrink such a gradient by up to 1e-6 / norm,
    /// for example at the first step, where the threshold equals the norm.
    /// </summary>
    public static double ClipScale(double gradientNorm, double threshold)
        => gradientNorm <= threshold ? 1.0 : Math.Min(1.0, threshold / (gradientNorm + 1e-6));

    /// <summary>The recorded norms: oldest first when a window is set, otherwise in no particular order.</summary>
    public double[] GetHistory() => _history.ToArray();

    /// <summary>A snapshot of the whole state, enough to resume bit-identically.</summary>
    public AutoClipperState GetState() => new(_options.Clone(), RecordedSteps, NonFiniteSteps, Threshold, _history.ToArray(),
        _groups?.Select(g => g.GetState()).ToArray());

    /// <summary>Writes the whole state (see <see cref="AutoClipperState.Save(BinaryWriter)"/>).</summary>
    public void Save(BinaryWriter writer) => GetState().Save(writer);

    /// <summary>Writes the whole state to <paramref name="stream"/>, leaving it open.</summary>
    public void Save(Stream stream)
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        Save(writer);
    }

    /// <summary>Reads a clipper written by <see cref="Save(BinaryWriter)"/>.</summary>
    public static AutoClipper Load(BinaryReader reader) => new(AutoClipperState.Load(reader));

    /// <summary>Reads a clipper written by <see cref="Save(Stream)"/>, leaving the stream open.</summary>
    public static AutoClipper Load(Stream stream)
    {
        using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        return Load(reader);
    }

    internal PercentileHistory History => _history;
}
