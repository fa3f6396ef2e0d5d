using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip;

/// <summary>
/// An optimizer that applies AutoClip before every step of the optimizer it wraps:
/// <c>step()</c> clips the gradients of the inner optimizer's parameters, then steps the inner
/// optimizer, unless the gradient was not finite (see <see cref="AutoClipOptions.NonFiniteGradients"/>).
/// Everything else (<c>zero_grad</c>, parameter groups, learning-rate schedulers) goes to the inner optimizer.
/// </summary>
/// <example>
/// <code>
/// var optimizer = torch.optim.Adam(model.parameters(), lr: 1e-3).WithAutoClip();
/// </code>
/// </example>
public sealed class AutoClipOptimizer : optim.Optimizer
{
    private readonly Parameter[] _parameters;

    /// <summary>Wraps <paramref name="inner"/>; clipping uses <paramref name="clipper"/> (a new one with default options if null).</summary>
    /// <remarks>The parameters are read from <paramref name="inner"/> once, here.</remarks>
    public AutoClipOptimizer(optim.Optimizer inner, AutoClipper? clipper = null)
        : base(IntPtr.Zero)
    {
        ArgumentNullException.ThrowIfNull(inner);
        TorchSharpNative.EnsureLoadable();
        if (inner is AutoClipOptimizer)
        {
            throw new ArgumentException("The optimizer is already wrapped with AutoClip; clipping twice would record every norm twice.", nameof(inner));
        }
        Inner = inner;
        Clipper = clipper ?? new AutoClipper();
        _parameters = inner.parameters().ToArray();
        // With the PerParameterGroup scope, one threshold per parameter group of the inner optimizer, read once here.
        _groups = inner.ParamGroups.OfType<TorchSharp.Modules.ParamGroup>().Select(g => (IEnumerable<Parameter>)g.Parameters.ToArray()).ToArray();
        _perGroup = Clipper.Options.Scope == AutoClipScope.PerParameterGroup;
    }

    private readonly IReadOnlyList<IEnumerable<Parameter>> _groups;
    private readonly bool _perGroup;

    /// <summary>The optimizer that applies the updates.</summary>
    public optim.Optimizer Inner { get; }

    /// <summary>The clipper, with its history and state.</summary>
    public AutoClipper Clipper { get; }

    /// <summary>What AutoClip did at the latest step (default before the first).</summary>
    public AutoClipStep LastStep { get; private set; }

    /// <summary>How many steps were skipped because the gradient was not finite.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>
    /// Clips the gradients, then performs the inner optimizer's step, unless the gradient was not
    /// finite. With a <paramref name="closure"/>, the closure (which computes the loss and calls
    /// <c>backward()</c>) runs first, once; optimizers that re-evaluate the closure several times per
    /// step (LBFGS) are not supported.
    /// </summary>
    /// <returns>The closure's loss, or null.</returns>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using var enableGrad = enable_grad();
            loss = closure();
        }
        var record = _perGroup ? Clipper.ClipGradients(_groups) : Clipper.ClipGradients(_parameters);
        LastStep = record;
        if (record.Skipped)
        {
            SkippedSteps++;
            return loss!;
        }
        using (var scope = NewDisposeScope())
        {
            Inner.step();
        }
        return loss!;
    }

    /// <inheritdoc/>
    public override void zero_grad() => Inner.zero_grad();

    /// <inheritdoc/>
    public override IEnumerable<Parameter> parameters() => _parameters;

    /// <inheritdoc/>
    public override IEnumerable<optim.ILearningRateController> ParamGroups => Inner.ParamGroups;

    /// <inheritdoc/>
    public override void add_param_group(TorchSharp.Modules.ParamGroup param_group)
        => throw new NotSupportedException("Add parameter groups to the inner optimizer before wrapping it with AutoClip.");

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Inner.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>Extension methods that add AutoClip to TorchSharp optimizers.</summary>
public static class AutoClipOptimizerExtensions
{
    /// <summary>
    /// Wraps <paramref name="optimizer"/> so that every <c>step()</c> first applies AutoClip.
    /// With no options, exactly the paper's method (p = 10 over the whole history).
    /// </summary>
    public static AutoClipOptimizer WithAutoClip(this optim.Optimizer optimizer, AutoClipOptions? options = null)
        => new(optimizer, new AutoClipper(options));

    /// <summary>Wraps <paramref name="optimizer"/> with an existing (for example restored) <paramref name="clipper"/>.</summary>
    public static AutoClipOptimizer WithAutoClip(this optim.Optimizer optimizer, AutoClipper clipper)
        => new(optimizer, clipper ?? throw new ArgumentNullException(nameof(clipper)));
}
