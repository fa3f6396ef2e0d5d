using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// The preprocessing the trainer learned from the training data, as the network's first layer:
/// y = (x − center)·scale per feature, then, for the features marked to be clipped, smooth clipping
/// y / √(1 + (y/3)²), which maps any value into (−3, 3) while leaving small values almost unchanged.
/// Standardization is center = mean, scale = 1/std; robust scaling is center = median, scale = 1/IQR.
/// Features that are only 0 or 1 (one-hot slots) keep center 0, scale 1 and no clipping.
/// Not trainable.
/// </summary>
internal sealed class FeatureTransformLayer : Layer
{
    /// <summary>Values are smoothly clipped into (−ClipRange, ClipRange).</summary>
    public const float ClipRange = 3f;

    private const float ClipFactor = 1f / (ClipRange * ClipRange);

    private readonly float[] _center;
    private readonly float[] _scale;
    private readonly bool[] _clip;
    private readonly float[] _clipFactor; // 1/9 where clipped, 0 elsewhere: √(1 + y²·0) = 1 leaves y as it is
    private readonly bool _anyClip;
    private Lazy<(Tensor Center, Tensor Scale, Tensor ClipFactor)> _tensors;

    public FeatureTransformLayer(float[] center, float[] scale, bool[] clip)
    {
        if (center.Length != scale.Length || center.Length != clip.Length || center.Length == 0)
        {
            throw new InvalidDataException($"A feature transform needs as many centers ({center.Length}), scales ({scale.Length}) and clip flags ({clip.Length}), at least one.");
        }
        if (!center.All(float.IsFinite) || !scale.All(float.IsFinite))
        {
            throw new InvalidDataException("The feature transform has centers or scales that are not finite numbers.");
        }
        _center = center;
        _scale = scale;
        _clip = clip;
        _clipFactor = clip.Select(c => c ? ClipFactor : 0f).ToArray();
        _anyClip = clip.Any(c => c);
        _tensors = NewTensors();
    }

    /// <summary>The identity transform on <paramref name="features"/> values.</summary>
    public static FeatureTransformLayer Identity(int features)
        => new(new float[features], Enumerable.Repeat(1f, features).ToArray(), new bool[features]);

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.FeatureTransform;

    public override int InputSize => _center.Length;

    public override int OutputSize => _center.Length;

    public IReadOnlyList<float> Center => _center;

    /// <summary>Elementwise: column j comes from feature j.</summary>
    public override int[] ColumnSources => Enumerable.Range(0, _center.Length).ToArray();

    public IReadOnlyList<float> Scale => _scale;

    public IReadOnlyList<bool> Clip => _clip;

    internal ReadOnlySpan<float> CenterValues => _center;

    internal ReadOnlySpan<float> ScaleValues => _scale;

    /// <summary>1/9 for the features that are clipped, 0 for the others (√(1 + y²·0) = 1 leaves y as it is).</summary>
    internal ReadOnlySpan<float> ClipFactors => _clipFactor;

    public override void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckInput(input, output);
        for (int i = 0; i < _center.Length; i++)
        {
            float y = (input[i] - _center[i]) * _scale[i];
            if (_clip[i])
            {
                // The same operations, in the same order, as the batch forward: y / √(1 + y·y·(1/9)).
                float t = y * y;
                t *= ClipFactor;
                t += 1f;
                y /= MathF.Sqrt(t);
            }
            output[i] = y;
        }
    }

    public override Tensor Forward(Tensor input, Tensor? output)
    {
        var (center, scale, clipFactor) = _tensors.Value;
        input.sub_(center).mul_(scale);
        if (_anyClip)
        {
            // output is scratch here: √(1 + y²·k), then y is divided by it in place.
            var t = output ?? throw new ArgumentNullException(nameof(output));
            t.copy_(input).mul_(input).mul_(clipFactor).add_(Scalars.One, Scalars.One).sqrt_();
            input.div_(t);
        }
        return input;
    }

    public override string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        long[] dims = { _center.Length };
        var y = graph.Binary("Sub", input, graph.Constant(_center, dims, "FeatureCenter"));
        y = graph.Binary("Mul", y, graph.Constant(_scale, dims, "FeatureScale"));
        if (!_anyClip)
        {
            return y;
        }
        // y / √(1 + y·y·k), k = 1/9 for the clipped features and 0 for the others.
        var t = graph.Binary("Mul", y, y);
        t = graph.Binary("Mul", t, graph.Constant(_clipFactor, dims, "ClipFactor"));
        t = graph.Binary("Add", t, graph.Scalar(1f, "One"));
        return graph.Binary("Div", y, graph.Unary("Sqrt", t));
    }

    public override ILayerStep CreateStep(StepContext context) => new FeatureTransformStep(this, context);

    /// <summary>"center", "scale" and "clip" (1 where the feature is smoothly clipped, else 0).</summary>
    public override IReadOnlyList<(string Name, long[] Shape, float[] Values)> DescribeValues() => new[]
    {
        ("center", new long[] { InputSize }, _center),
        ("scale", new long[] { InputSize }, _scale),
        ("clip", new long[] { InputSize }, _clip.Select(c => c ? 1f : 0f).ToArray()),
    };

    public override void Write(BinaryWriter writer)
    {
        writer.Write(_center.Length);
        Serialization.WriteFloats(writer, _center);
        Serialization.WriteFloats(writer, _scale);
        foreach (bool c in _clip)
        {
            writer.Write((byte)(c ? 1 : 0));
        }
    }

    public static FeatureTransformLayer Read(BinaryReader reader, LayerReadContext context)
    {
        int features = Serialization.ReadCount(reader, "feature count", 1, Serialization.MaxWidth);
        CheckWidth("feature transform", features, context.InputSize);
        var center = Serialization.ReadFloats(reader, features, "feature centers");
        var scale = Serialization.ReadFloats(reader, features, "feature scales");
        Serialization.CheckAvailable(reader, features, 1, "clip flags");
        var clip = new bool[features];
        for (int i = 0; i < features; i++)
        {
            clip[i] = reader.ReadByte() switch
            {
                0 => false,
                1 => true,
                var b => throw new InvalidDataException($"Bad clip flag {b} for feature {i}."),
            };
        }
        return new FeatureTransformLayer(center, scale, clip);
    }

    /// <summary>Frees the LibTorch copies of the weights, if a batch forward made any; a later batch forward makes them again.</summary>
    public override void Dispose()
    {
        if (_tensors.IsValueCreated)
        {
            _tensors.Value.Center.Dispose();
            _tensors.Value.Scale.Dispose();
            _tensors.Value.ClipFactor.Dispose();
        }
        _tensors = NewTensors();
    }

    private Lazy<(Tensor Center, Tensor Scale, Tensor ClipFactor)> NewTensors() => new(() => (
            TensorMemory.Copy(_center, _center.Length).DetachFromDisposeScope(),
            TensorMemory.Copy(_scale, _scale.Length).DetachFromDisposeScope(),
            TensorMemory.Copy(_clipFactor, _clipFactor.Length).DetachFromDisposeScope()), System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    public override string ToString()
        => $"feature transform {InputSize}" + (_anyClip ? $" ({_clip.Count(c => c)} smoothly clipped)" : "");
}
