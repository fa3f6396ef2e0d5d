using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>The feature transform's training step: (x − center)·scale, then smooth clipping x/√(1 + x²/9) where chosen: the preprocessing, first in the network.</summary>
internal sealed class FeatureTransformStep : LayerStep
{
    private readonly FeatureTransformLayer _layer;
    private readonly Tensor _center, _scale, _clipFactor;
    private readonly bool _anyClip;
    private readonly Tensor _output, _scratch;

    public FeatureTransformStep(FeatureTransformLayer layer, StepContext context)
        : base(context, layer, supportsInputGradient: false)
    {
        _layer = layer;
        _center = Own(TensorMemory.Copy(layer.CenterValues, layer.InputSize));
        _scale = Own(TensorMemory.Copy(layer.ScaleValues, layer.InputSize));
        _clipFactor = Own(TensorMemory.Copy(layer.ClipFactors, layer.InputSize));
        _anyClip = layer.Clip.Any(c => c);
        _output = Buffer(layer.OutputSize);
        _scratch = Buffer(layer.OutputSize);
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        var y = Rows(_output, rows);
        if (!x.is_contiguous() || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32)
        {
            return _layer.Forward(y.copy_(x), Rows(_scratch, rows)); // the layer's own LibTorch batch forward
        }
        // In managed code, row by row: the layer's LibTorch operations in the same order (LibTorch's kernels round a few
        // values differently in the last bit); one LibTorch call each cost more than the arithmetic.
        int width = _layer.OutputSize;
        ReadOnlySpan<float> input = TensorMemory.Floats(x)[..(rows * width)];
        Span<float> output = TensorMemory.Floats(y)[..(rows * width)];
        ReadOnlySpan<float> center = TensorMemory.Floats(_center), scale = TensorMemory.Floats(_scale), clip = TensorMemory.Floats(_clipFactor);
        for (int r = 0; r < rows; r++)
        {
            var from = input.Slice(r * width, width);
            var to = output.Slice(r * width, width);
            for (int j = 0; j < width; j++)
            {
                float v = (from[j] - center[j]) * scale[j];
                if (_anyClip)
                {
                    v /= MathF.Sqrt(v * v * clip[j] + 1f);
                }
                to[j] = v;
            }
        }
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows) => null; // fixed, and first: no parameters, no input gradient
}

