using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// A learnable factor per feature, y = x·s (RealMLP's scaling layer: it lets training turn features
/// up or down before the first dense layer). Starts at 1.
/// </summary>
internal sealed class FeatureScaleLayer : Layer
{
    private readonly float[] _scale;
    private Lazy<Tensor> _tensor;

    public FeatureScaleLayer(float[] scale, float learningRateFactor = 1f, float weightDecayFactor = 1f)
    {
        if (scale.Length == 0 || !scale.All(float.IsFinite))
        {
            throw new InvalidDataException("A feature scale layer needs at least one finite factor.");
        }
        _scale = scale;
        LearningRateFactor = learningRateFactor;
        WeightDecayFactor = weightDecayFactor;
        _tensor = NewTensors();
    }

    public static FeatureScaleLayer Create(int features, float learningRateFactor, float weightDecayFactor)
        => new(Enumerable.Repeat(1f, features).ToArray(), learningRateFactor, weightDecayFactor);

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.FeatureScale;

    public override int InputSize => _scale.Length;

    public override int OutputSize => _scale.Length;

    public override long ParameterCount => _scale.Length;

    public override bool BatchInPlace => true;

    public float LearningRateFactor { get; }

    public float WeightDecayFactor { get; }

    public IReadOnlyList<float> Factors => _scale;

    public override void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckInput(input, output);
        for (int i = 0; i < _scale.Length; i++)
        {
            output[i] = input[i] * _scale[i];
        }
    }

    public override Tensor Forward(Tensor input, Tensor? output) => input.mul_(_tensor.Value);

    public override string SaveAsOnnx(IOnnxGraph graph, string input)
        => graph.Binary("Mul", input, graph.Constant(_scale, new long[] { _scale.Length }, "LearnedFeatureScale"));

    public override IReadOnlyList<ParameterSpec> GetParameters() => new[]
    {
        new ParameterSpec("scale", new long[] { _scale.Length }, _scale, 1f, LearningRateFactor, WeightDecayFactor),
    };

    public override ILayerStep CreateStep(StepContext context) => new FeatureScaleStep(this, context);

    public override Layer WithParameters(IReadOnlyList<float[]> values) => new FeatureScaleLayer(values[0], LearningRateFactor, WeightDecayFactor);

    public override void Write(BinaryWriter writer) => Serialization.WriteFloats(writer, _scale);

    public static FeatureScaleLayer Read(BinaryReader reader, LayerReadContext context) => new(Serialization.ReadFloats(reader, context.InputSize, "feature scale factors"));

    /// <summary>Frees the LibTorch copies of the weights, if a batch forward made any; a later batch forward makes them again.</summary>
    public override void Dispose()
    {
        if (_tensor.IsValueCreated)
        {
            _tensor.Value.Dispose();
        }
        _tensor = NewTensors();
    }

    private Lazy<Tensor> NewTensors() => new(() => TensorMemory.Copy(_scale, _scale.Length).DetachFromDisposeScope(), System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    public override string ToString() => $"feature scale {InputSize}";
}
