using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip;

public sealed partial class AutoClipper
{
    private long _clipCalls;
    private Func<double, double>? _observe; // Observe as a delegate, made once

    /// <summary>
    /// One AutoClip step on the gradients of <paramref name="parameters"/>, in place: computes the
    /// total L2 norm once (one device synchronisation), records it, and multiplies every gradient by
    /// <c>min(1, threshold / (norm + 1e-6))</c> when the norm exceeds the threshold (see <see cref="ClipScale"/>).
    /// Call it between <c>backward()</c> and <c>optimizer.step()</c>.
    /// </summary>
    /// <returns>
    /// What was done. When the norm is NaN or infinite nothing is recorded or changed, and
    /// <see cref="AutoClipStep.Skipped"/> is true (or <see cref="NonFiniteGradientException"/> is thrown,
    /// per <see cref="AutoClipOptions.NonFiniteGradients"/>): do not apply that step.
    /// Parameters without a gradient are ignored; when none has one, nothing is recorded.
    /// </returns>
    public AutoClipStep ClipGradients(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        TorchSharpNative.EnsureLoadable();
        switch (_options.Scope)
        {
            case AutoClipScope.PerParameter:
                return ClipGroups(parameters.Select(p => (IEnumerable<Parameter>)new[] { p }).ToList());
            case AutoClipScope.PerParameterGroup:
                throw new InvalidOperationException("AutoClip's scope is PerParameterGroup, but ClipGradients was given parameters without their groups: " +
                    "pass the groups (ClipGradients(groups)), or wrap the optimizer with AutoClipOptimizer, which reads them from the optimizer.");
        }
        long step = ++_clipCalls;
        // Temporaries are disposed one by one rather than through a dispose scope: on a small model the
        // step is a few microseconds of work per tensor, and a scope's bookkeeping would be a visible share.
        var grads = new List<Tensor>();
        try
        {
            foreach (var parameter in parameters)
            {
                var grad = parameter.grad;
                if (grad is not null)
                {
                    grads.Add(grad);
                }
            }
            if (grads.Count == 0)
            {
                return new AutoClipStep(step, 0, Threshold, 1.0, Skipped: false);
            }
            return Apply(step, grads);
        }
        finally
        {
            foreach (var grad in grads)
            {
                grad.Dispose(); // the handle obtained from parameter.grad, not the gradient itself
            }
        }
    }

    /// <summary>
    /// One AutoClip step on a single gradient tensor, in place: for example one contiguous buffer of
    /// which every parameter's gradient is a view, which makes the step a few tensor operations
    /// (norm, read back, scale) whatever the number of parameters. Same record and policy as
    /// <see cref="ClipGradients(IEnumerable{Parameter})"/>.
    /// </summary>
    public AutoClipStep ClipGradient(Tensor gradient)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        TorchSharpNative.EnsureLoadable();
        if (_options.Scope != AutoClipScope.Global)
        {
            throw GroupedScopeError(nameof(ClipGradient));
        }
        long step = ++_clipCalls;
        return Apply(step, new[] { gradient });
    }

    /// <summary>
    /// Makes the gradients of <paramref name="parameters"/> views of one new contiguous buffer, which
    /// it returns, so that <see cref="ClipGradient(Tensor)"/> can clip them all with a few operations.
    /// Backward passes accumulate into the views in place; clear them with <c>buffer.zero_()</c> or an
    /// optimizer's <c>zero_grad()</c>, which zero in place. Anything that sets a gradient to a new tensor
    /// (or to null) detaches that parameter from the buffer. The parameters must share one dtype and device.
    /// </summary>
    public static Tensor CreateContiguousGradients(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        TorchSharpNative.EnsureLoadable();
        var list = new List<Parameter>(parameters);
        if (list.Count == 0)
        {
            throw new ArgumentException("There are no parameters.", nameof(parameters));
        }
        var dtype = list[0].dtype;
        var device = list[0].device;
        long total = 0;
        foreach (var p in list)
        {
            if (p.dtype != dtype || p.device.type != device.type || p.device.index != device.index)
            {
                throw new ArgumentException($"Every parameter must be {dtype} on {device}; one is {p.dtype} on {p.device}.", nameof(parameters));
            }
            total += p.numel();
        }
        var buffer = zeros(new[] { total }, dtype, device).DetachFromDisposeScope();
        long offset = 0;
        foreach (var p in list)
        {
            using (var existing = p.grad)
            using (var slice = buffer.narrow(0, offset, p.numel()))
            using (var view = slice.view(p.shape))
            {
                if (existing is not null)
                {
                    using var noGrad = no_grad();
                    view.copy_(existing);
                }
                p.grad = view;
            }
            offset += p.numel();
        }
        return buffer;
    }

    /// <summary>Takes the gradients' norm, records it, and scales the gradients, per the options.</summary>
    private AutoClipStep Apply(long step, IReadOnlyList<Tensor> grads)
        => ClipToThreshold(step, grads, _observe ??= Observe, _options.NonFiniteGradients);

    /// <summary>
    /// One clipping step, shared by AutoClip and a fixed threshold: the gradients' norm (in managed
    /// code or by LibTorch, see <see cref="TotalNorm"/>), the threshold <paramref name="thresholdFor"/>
    /// gives for it (asked even when the norm is not finite, so that AutoClip counts that step), then
    /// <see cref="ScaleToThreshold"/> on the same path the norm took.
    /// </summary>
    internal static AutoClipStep ClipToThreshold(long step, IReadOnlyList<Tensor> grads, Func<double, double> thresholdFor, NonFiniteGradientPolicy policy)
    {
        double norm = TotalNorm(grads, out bool managed);
        return ScaleToThreshold(step, norm, thresholdFor(norm), policy, grads, scaleInManagedCode: managed);
    }

    /// <summary>
    /// The clipping step shared by AutoClip and a fixed threshold: a non-finite
    /// <paramref name="norm"/> throws or skips the step as <paramref name="policy"/> says (gradients
    /// untouched); otherwise <paramref name="grads"/> are multiplied in place by
    /// <see cref="ClipScale"/> when it is below 1, by LibTorch or, for gradients
    /// <see cref="ManagedGradients"/> handles, in managed code.
    /// </summary>
    internal static AutoClipStep ScaleToThreshold(long step, double norm, double threshold, NonFiniteGradientPolicy policy, IReadOnlyList<Tensor> grads,
        bool scaleInManagedCode = false)
    {
        if (!double.IsFinite(norm))
        {
            if (policy == NonFiniteGradientPolicy.Throw)
            {
                throw new NonFiniteGradientException(step, norm);
            }
            return new AutoClipStep(step, norm, double.NaN, 1.0, Skipped: true);
        }

        double scale = ClipScale(norm, threshold);
        if (scale < 1.0 && scaleInManagedCode)
        {
            ManagedGradients.Scale(grads, (float)scale);
        }
        else if (scale < 1.0)
        {
            using var noGrad = no_grad();
            using var factor = scale.ToScalar();
            foreach (var grad in grads)
            {
                grad.mul_(factor);
            }
        }
        return new AutoClipStep(step, norm, threshold, scale, Skipped: false);
    }

    /// <summary>One AutoClip step on the gradients of every parameter of <paramref name="module"/>.</summary>
    public AutoClipStep ClipGradients(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return ClipGradients(module.parameters());
    }

    /// <summary>
    /// The L2 norm of all the gradients together. Small CPU float32 gradients are read in managed code
    /// (<see cref="ManagedGradients"/>; <paramref name="managed"/> is then true, and the scaling should
    /// be done there too); otherwise sqrt(sum of squared per-tensor norms), each norm taken by LibTorch
    /// in the gradient's precision and the sum accumulated in double precision, as the reference does,
    /// with one read back from the device. Every temporary tensor is disposed here.
    /// </summary>
    internal static double TotalNorm(IReadOnlyList<Tensor> grads, out bool managed)
    {
        managed = ManagedGradients.Applies(grads);
        return managed ? ManagedGradients.Norm(grads) : LibTorchNorm(grads);
    }

    private static double LibTorchNorm(IReadOnlyList<Tensor> grads)
    {
        var norms = new Tensor[grads.Count];
        try
        {
            for (int i = 0; i < norms.Length; i++)
            {
                norms[i] = grads[i].norm(2f); // norm(float) passes p as a float: vector_norm's double would become a temporary LibTorch Scalar
            }
            if (Array.TrueForAll(norms, n => n.device_type == DeviceType.CPU && n.dtype is ScalarType.Float32 or ScalarType.Float64))
            {
                // On the CPU each norm is read directly: no further tensor operation.
                double sum = 0;
                foreach (var norm in norms)
                {
                    double value = norm.dtype == ScalarType.Float32 ? norm.item<float>() : norm.item<double>();
                    sum += value * value;
                }
                return Math.Sqrt(sum);
            }
            using var stacked = stack(norms);
            using var wide = stacked.to_type(ScalarType.Float64);
            using var total = wide.norm(2f);
            return total.item<double>();
        }
        finally
        {
            foreach (var norm in norms)
            {
                norm?.Dispose();
            }
        }
    }
}
