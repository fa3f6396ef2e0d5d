using System;
using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip;

public sealed partial class AutoClipper
{
    private long _clipCalls;

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
        long step = ++_clipCalls;
        using var scope = NewDisposeScope();
        var grads = new List<Tensor>();
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

        return Apply(step, TotalNorm(grads), grads);
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
        long step = ++_clipCalls;
        using var scope = NewDisposeScope();
        // One reduction in the gradient's own precision (LibTorch accumulates it in blocks), then one read back.
        using var total = linalg.vector_norm(gradient);
        double norm = total.to_type(ScalarType.Float64).item<double>();
        return Apply(step, norm, new[] { gradient });
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

    /// <summary>Records the norm and scales the gradients, per the options.</summary>
    private AutoClipStep Apply(long step, double norm, IReadOnlyList<Tensor> grads)
        => ScaleToThreshold(step, norm, Observe(norm), _options.NonFiniteGradients, grads);

    /// <summary>
    /// The clipping step shared by AutoClip and a fixed threshold: a non-finite
    /// <paramref name="norm"/> throws or skips the step as <paramref name="policy"/> says (gradients
    /// untouched); otherwise <paramref name="grads"/> are multiplied in place by
    /// <see cref="ClipScale"/> when it is below 1.
    /// </summary>
    internal static AutoClipStep ScaleToThreshold(long step, double norm, double threshold, NonFiniteGradientPolicy policy, IReadOnlyList<Tensor> grads)
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
        if (scale < 1.0)
        {
            using var noGrad = no_grad();
            foreach (var grad in grads)
            {
                grad.mul_(scale);
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
    /// sqrt(sum of squared per-tensor norms), accumulated in double precision as the reference does,
    /// with a single read back from the device.
    /// </summary>
    internal static double TotalNorm(IReadOnlyList<Tensor> grads)
    {
        if (grads.Count == 1)
        {
            return linalg.vector_norm(grads[0]).to_type(ScalarType.Float64).item<double>();
        }
        var norms = new Tensor[grads.Count];
        for (int i = 0; i < norms.Length; i++)
        {
            norms[i] = linalg.vector_norm(grads[i]);
        }
        return linalg.vector_norm(stack(norms).to_type(ScalarType.Float64)).item<double>();
    }
}
