using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>The piecewise-linear encodings' training step: the input, then 2·min(1, max(0, (x_j − a)·s)) − 1 for every bin: fixed encodings, before any layer that learns.</summary>
internal sealed class PiecewiseLinearStep : LayerStep
{
    private readonly PiecewiseLinearLayer _layer;
    private readonly Tensor _index, _lower, _scale;
    private readonly Tensor _output;

    public PiecewiseLinearStep(PiecewiseLinearLayer layer, StepContext context)
        : base(context, layer, supportsInputGradient: false)
    {
        _layer = layer;
        var (index, lower, scale) = layer.CreateTensors();
        (_index, _lower, _scale) = (Own(index), Own(lower), Own(scale));
        _output = Buffer(layer.OutputSize);
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        var y = Rows(_output, rows);
        y.narrow(1, 0, _layer.InputSize).copy_(x);
        y.narrow(1, _layer.InputSize, _layer.Sources.Count).copy_(x.index_select(1, _index)).sub_(_lower).mul_(_scale).clamp_(Scalars.Zero, Scalars.One).mul_(Scalars.Two).sub_(Scalars.One);
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows) => null; // fixed, before every layer that learns: no input gradient
}

