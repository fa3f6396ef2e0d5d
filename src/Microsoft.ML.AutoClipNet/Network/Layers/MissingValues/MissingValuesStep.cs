using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>The missing-value layer's training step: NaN → the fill value, then the indicators; fixed, and first: no parameters, no input gradient.</summary>
internal sealed class MissingValuesStep : LayerStep
{
    private readonly MissingValuesLayer _layer;
    private readonly float[] _fill;
    private readonly int[] _indicated;
    private readonly Tensor _output;

    public MissingValuesStep(MissingValuesLayer layer, StepContext context)
        : base(context, layer, supportsInputGradient: false)
    {
        _layer = layer;
        _fill = System.Linq.Enumerable.ToArray(layer.Fill);
        _indicated = System.Linq.Enumerable.ToArray(layer.Indicated);
        _output = Buffer(layer.OutputSize);
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        var y = Rows(_output, rows);
        if (!x.is_contiguous() || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32)
        {
            return _layer.Forward(x, y); // the layer's own batch forward copies the input first
        }
        MissingValuesLayer.ForwardRows(x, y, rows, _fill, _indicated);
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows) => null;
}
