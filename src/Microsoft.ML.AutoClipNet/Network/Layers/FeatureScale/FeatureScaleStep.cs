using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>The feature scale's training step: y = x ⊙ s, one learnable factor per feature; ∂s = Σ_rows g ⊙ x, ∂x = g ⊙ s.</summary>
internal sealed class FeatureScaleStep : LayerStep
{
    private readonly Tensor _scale, _scaleGradient;
    private readonly Tensor _output, _product, _inputGradient;
    private Tensor? _input;

    public FeatureScaleStep(FeatureScaleLayer layer, StepContext context)
        : base(context, layer)
    {
        _scale = context.Values[0];
        _scaleGradient = context.Gradients[0];
        _output = Buffer(layer.OutputSize);
        _product = Buffer(layer.OutputSize);
        _inputGradient = NeedInputGradient ? Buffer(layer.InputSize) : null!; // a forward-only step (validation) needs none
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        _input = x;
        return Rows(_output, rows).copy_(x).mul_(_scale);
    }

    public override Tensor? Backward(Tensor outputGradient, int rows)
    {
        _scaleGradient.copy_(Rows(_product, rows).copy_(outputGradient).mul_(_input!).sum(0L));
        return NeedInputGradient ? Rows(_inputGradient, rows).copy_(outputGradient).mul_(_scale) : null;
    }
}

