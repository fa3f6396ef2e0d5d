using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip;

public sealed partial class AutoClipper
{
    private AutoClipper[]? _groups;
    private AutoClipStep[] _groupSteps = Array.Empty<AutoClipStep>();

    /// <summary>
    /// With <see cref="AutoClipScope.PerParameterGroup"/> or <see cref="AutoClipScope.PerParameter"/>: one clipper per
    /// group, each with its own history and <see cref="Threshold"/> (created at the first step, then fixed). Empty with
    /// <see cref="AutoClipScope.Global"/>.
    /// </summary>
    public IReadOnlyList<AutoClipper> Groups => _groups ?? (IReadOnlyList<AutoClipper>)Array.Empty<AutoClipper>();

    /// <summary>What each group's clipping did at the latest step (grouped scopes; empty with <see cref="AutoClipScope.Global"/>).</summary>
    public IReadOnlyList<AutoClipStep> LastGroupSteps => _groupSteps;

    /// <summary>
    /// One AutoClip step on parameter groups. With a grouped scope, each group's gradient norm is recorded in that
    /// group's own history and the group is clipped to its own threshold; the result's <see cref="AutoClipStep.GradientNorm"/>
    /// is the total norm, its <see cref="AutoClipStep.Threshold"/> NaN and its <see cref="AutoClipStep.Scale"/> the smallest
    /// group's (<see cref="LastGroupSteps"/> has each). A NaN or infinite norm in any group skips (or throws for) the whole
    /// step, recording nothing anywhere. A group without gradients this step records nothing. With
    /// <see cref="AutoClipScope.Global"/>, the groups are clipped together, as <see cref="ClipGradients(IEnumerable{Parameter})"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The number of groups differs from the first step's.</exception>
    public AutoClipStep ClipGradients(IReadOnlyList<IEnumerable<Parameter>> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        if (_options.Scope == AutoClipScope.Global)
        {
            return ClipGradients(groups.SelectMany(g => g));
        }
        TorchSharpNative.EnsureLoadable();
        return ClipGroups(groups.Select(g => (IEnumerable<Parameter>)g.ToList()).ToList());
    }

    private AutoClipStep ClipGroups(IReadOnlyList<IEnumerable<Parameter>> groups)
    {
        long step = ++_clipCalls;
        var grads = groups.Select(g => g.Select(p => p.grad).Where(t => t is not null).Select(t => t!).ToList()).ToList();
        try
        {
            return ApplyGroups(step, grads);
        }
        finally
        {
            foreach (var grad in grads.SelectMany(g => g))
            {
                grad.Dispose(); // the handles obtained from parameter.grad
            }
        }
    }

    private AutoClipStep ApplyGroups(long step, IReadOnlyList<List<Tensor>> grads)
    {
        if (_groups is null)
        {
            var groupOptions = _options.Clone();
            groupOptions.Scope = AutoClipScope.Global;
            _groups = Enumerable.Range(0, grads.Count).Select(_ => new AutoClipper(groupOptions)).ToArray();
        }
        else if (_groups.Length != grads.Count)
        {
            throw new ArgumentException($"AutoClip ({_options.Scope}) was given {grads.Count} parameter groups; its first step had {_groups.Length}. The groups must stay the same.", "groups");
        }

        var norms = new double[grads.Count];
        var managed = new bool[grads.Count];
        double sum = 0;
        for (int g = 0; g < grads.Count; g++)
        {
            norms[g] = grads[g].Count == 0 ? 0 : TotalNorm(grads[g], out managed[g]);
            sum += norms[g] * norms[g];
        }
        double total = Math.Sqrt(sum);
        var steps = new AutoClipStep[grads.Count];
        if (!double.IsFinite(total))
        {
            NonFiniteSteps++;
            if (_options.NonFiniteGradients == NonFiniteGradientPolicy.Throw)
            {
                throw new NonFiniteGradientException(step, total);
            }
            for (int g = 0; g < grads.Count; g++)
            {
                steps[g] = new AutoClipStep(step, norms[g], double.NaN, 1.0, Skipped: true);
            }
            _groupSteps = steps;
            return new AutoClipStep(step, total, double.NaN, 1.0, Skipped: true);
        }

        RecordedSteps++;
        double smallest = 1.0;
        for (int g = 0; g < grads.Count; g++)
        {
            if (grads[g].Count == 0)
            {
                steps[g] = new AutoClipStep(step, 0, _groups[g].Threshold, 1.0, Skipped: false);
                continue;
            }
            double threshold = _groups[g].Observe(norms[g]);
            steps[g] = ScaleToThreshold(step, norms[g], threshold, _options.NonFiniteGradients, grads[g], scaleInManagedCode: managed[g]);
            smallest = Math.Min(smallest, steps[g].Scale);
        }
        _groupSteps = steps;
        return new AutoClipStep(step, total, double.NaN, smallest, Skipped: false);
    }

    private void RestoreGroups(IReadOnlyList<AutoClipperState> groups)
    {
        if (groups.Count > 0)
        {
            _groups = groups.Select(g => new AutoClipper(g)).ToArray();
        }
    }

    private InvalidOperationException GroupedScopeError(string what) => new(
        $"{what} takes one global norm, but this clipper's scope is {_options.Scope}: clip with ClipGradients(groups) " +
        "(or ClipGradients(parameters) for PerParameter), or wrap the optimizer with AutoClipOptimizer; each group's own clipper is in Groups.");
}
