using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// The dense layer's training step: y = b + α·x·Wᵀ with W the raw (NTK-parametrized) weights and α = <see cref="DenseLayer.WeightScale"/>;
/// backward ∂W = α·gᵀx, ∂b = Σ_rows g, ∂x = α·g·W. LibTorch matrix products written in place into buffers allocated once.
/// </summary>
internal sealed class DenseStep : LayerStep
{
    private readonly Tensor _weight, _weightT, _bias, _weightGradient, _biasGradient;
    private readonly float _alpha;
    private readonly Tensor _output, _inputGradient;
    private Tensor? _input;

    public DenseStep(DenseLayer layer, StepContext context)
        : base(context, layer)
    {
        _weight = context.Values[0];
        _weightT = Own(context.Values[0].t());
        _bias = context.Values[1];
        _weightGradient = context.Gradients[0];
        _biasGradient = context.Gradients[1];
        _alpha = layer.WeightScale;
        _output = Buffer(layer.OutputSize);
        _inputGradient = NeedInputGradient ? Buffer(layer.InputSize) : null!; // a forward-only step (validation) needs none
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        _input = x;
        var y = Rows(_output, rows);
        y.copy_(_bias.expand(rows, _bias.shape[0]));
        return y.addmm_(x, _weightT, beta: 1, alpha: _alpha); // beta and alpha are floats here, no Scalar
    }

    public override Tensor? Backward(Tensor outputGradient, int rows)
    {
        _weightGradient.addmm_(outputGradient.t(), _input!, beta: 0, alpha: _alpha);
        _biasGradient.copy_(outputGradient.sum(0L)); // 0L: a plain 0 would pick sum(ScalarType?)
        return NeedInputGradient ? Rows(_inputGradient, rows).addmm_(outputGradient, _weight, beta: 0, alpha: _alpha) : null;
    }
}
