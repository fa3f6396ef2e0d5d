using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Model.Legacy;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The readable specification of every layer kind: its forward pass as a few differentiable LibTorch operations on the raw
/// training parameters (value = raw · scale, see <see cref="ParameterSpec"/>). Every engine of the library (the managed row
/// forward, the batch scorer, the written-out training step and its backward pass, ONNX) is held to this by the tests;
/// autograd through it gives the reference gradients. A kind the registry lists and this file does not know fails
/// <see cref="NetworkTests.Every_stored_layer_kind_has_a_reference_forward_and_an_example"/>.
/// </summary>
internal static class ReferenceForward
{
    /// <summary>
    /// Shape: x is rows × InputSize; the result rows × OutputSize. <paramref name="raw"/> are the layer's training tensors in the
    /// order of <see cref="Layer.GetParameters"/>.
    /// </summary>
    public static Tensor Of(Layer layer, Tensor x, IReadOnlyList<Tensor> raw) => layer switch
    {
        // y = (x − center)·scale, then y/√(1 + y²/9) for the features marked: every feature's clip factor is 1/9 or 0.
        FeatureTransformLayer t => SmoothClip(x.sub(Constant(t.CenterValues)).mul(Constant(t.ScaleValues)), Constant(t.ClipFactors)),
        // y = b + (w·s)ᵀx, with s the NTK scale.
        DenseLayer d => raw[1].add(x.matmul(raw[0].mul(Scalar(d.WeightScale)).t())),
        ActivationLayer a => Activations.Forward(a.Activation, x),
        // y = x ⊙ s.
        FeatureScaleLayer => x.mul(raw[0]),
        // Per embedded feature j: cos(2π·x_j·w_j + b_j)·V_j + c_j (d values); then the input unchanged.
        PeriodicEmbeddingLayer e => Embedding(e, x, raw),
        // The input, then per bin 2·clamp((x_j − lower)·scale, 0, 1) − 1.
        PiecewiseLinearLayer p => Encodings(p, x),
        // NaN → the fill value; then 1 where an indicated feature is NaN, else 0.
        MissingValuesLayer m => Missing(m, x),
        // The mean of the members' outputs (each member from its own values).
        EnsembleLayer e => stack(e.Members.Select(m => Network(m, x)).ToArray()).mean(new long[] { 0 }),
        // The release's network: standardization, dense layers, its activation, the label's standardization.
        Format11Layer r => Network(r.Parts[0], x).mul(Scalar(r.LabelStandardization.Scale)).add(Scalar(r.LabelStandardization.Mean)),
        _ => throw new AssertFailedException($"No reference forward for the {layer.Kind} layer ({layer}): write one in ReferenceForward.cs beside the others."),
    };

    /// <summary>The whole network, each layer from its own values (raw = value / scale, as the training module holds them).</summary>
    public static Tensor Network(NetworkDescription network, Tensor x)
    {
        foreach (var layer in network.Layers)
        {
            x = Of(layer, x, layer.GetParameters().Select(p => Constant(p.Scale == 1f ? p.Values : p.Values.Select(v => v / p.Scale).ToArray()).view(p.Shape)).ToArray());
        }
        return x;
    }

    /// <summary>The whole network over a training module's raw values as one leaf tensor: autograd through it gives the reference gradient buffer.</summary>
    public static Tensor Network(TrainingModule module, Tensor x, Tensor raw)
    {
        var layers = module.Network.Layers;
        for (int l = 0; l < layers.Count; l++)
        {
            x = Of(layers[l], x, module.Layout(l).Select(p => raw.narrow(0, p.Offset, p.Count).view(p.Shape)).ToArray());
        }
        return x;
    }

    private static Tensor Missing(MissingValuesLayer m, Tensor x)
    {
        var nan = x.isnan();
        var filled = where(nan, Constant(m.Fill.ToArray()), x);
        return m.Indicated.Count == 0 ? filled
            : cat(new[] { filled, nan.index_select(1, tensor(m.Indicated.Select(j => (long)j).ToArray())).to_type(ScalarType.Float32) }, 1);
    }

    private static Tensor SmoothClip(Tensor y, Tensor clipFactor) => y.div(y.mul(y).mul(clipFactor).add(Scalar(1f)).sqrt());

    private static Tensor Embedding(PeriodicEmbeddingLayer e, Tensor x, IReadOnlyList<Tensor> raw)
    {
        var (w, b, v, c) = (raw[0], raw[1], raw[2], raw[3]);                                   // m×k, m×k, m×k×d, m×d
        var xe = x.index_select(1, tensor(e.EmbeddedFeatures.Select(j => (long)j).ToArray()));  // rows×m
        var periodic = xe.unsqueeze(2).mul(w).mul(Scalar(2 * MathF.PI)).add(b).cos();             // rows×m×k
        var embedded = einsum("rmk,mkd->rmd", periodic, v).add(c);                               // rows×m×d
        return cat(new[] { embedded.reshape(x.shape[0], -1), x }, 1);
    }

    private static Tensor Encodings(PiecewiseLinearLayer p, Tensor x)
    {
        var values = p.DescribeValues().ToDictionary(v => v.Name, v => v.Values);
        var source = x.index_select(1, tensor(values["feature"].Select(f => (long)f).ToArray()));
        var t = source.sub(Constant(values["lower"])).mul(Constant(values["scale"])).clamp(Scalar(0f), Scalar(1f));
        return cat(new[] { x, t.mul(Scalar(2f)).sub(Scalar(1f)) }, 1);
    }

    private static Tensor Constant(ReadOnlySpan<float> values) => tensor(values.ToArray());

    private static Tensor Scalar(float value) => tensor(value);
}
