using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// Missing values inside the model (AutoClipNetOptionsBase.MissingValues): every NaN feature is replaced by its fill value (the
/// training rows' center of the feature: the median under robust scaling, the mean under standardization, so that a filled
/// value is exactly 0 after the feature transform), and each feature that had a missing value in the training rows gains a
/// 0/1 indicator, appended after the features: F values in, F + M out. Learns nothing; it is the network's first layer, ahead of
/// every layer with parameters, so that no NaN ever reaches a product or a gradient. The same rule in every engine: the managed
/// forward, the batch forward, the training step and ONNX (IsNaN, Where, Cast, Gather, Concat).
/// </summary>
internal sealed class MissingValuesLayer : Layer
{
    private readonly float[] _fill;     // F: the value a missing feature takes
    private readonly int[] _indicated;  // M: the features with an indicator, increasing
    private Lazy<(Tensor Fill, Tensor Index)> _tensors;

    public MissingValuesLayer(float[] fill, int[] indicated)
    {
        if (fill.Length == 0 || !fill.All(float.IsFinite))
        {
            throw new InvalidDataException($"A missing-value layer needs a finite fill value for each of its {fill.Length} features, at least one.");
        }
        for (int k = 0; k < indicated.Length; k++)
        {
            if (indicated[k] < 0 || indicated[k] >= fill.Length || (k > 0 && indicated[k] <= indicated[k - 1]))
            {
                throw new InvalidDataException($"A missing-value layer's indicated features must increase within 0 to {fill.Length - 1}; indicator {k} reads feature {indicated[k]}.");
            }
        }
        _fill = fill;
        _indicated = indicated;
        _tensors = NewTensors();
    }

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.MissingValues;

    public override int InputSize => _fill.Length;

    public override int OutputSize => _fill.Length + _indicated.Length;

    /// <summary>Each feature's value when it is missing.</summary>
    public IReadOnlyList<float> Fill => _fill;

    /// <summary>A feature's filled value comes from it, and so does its indicator.</summary>
    public override int[] ColumnSources => Enumerable.Range(0, _fill.Length).Concat(_indicated).ToArray();

    /// <summary>The features that gained an indicator (they had a missing value in the training rows), in the order of the indicators.</summary>
    public IReadOnlyList<int> Indicated => _indicated;

    public override void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckInput(input, output);
        Apply(input, output, _fill, _indicated);
    }

    /// <summary>One row: NaN → fill, then the indicators (1 where the indicated feature is NaN, else 0).</summary>
    internal static void Apply(ReadOnlySpan<float> input, Span<float> output, ReadOnlySpan<float> fill, ReadOnlySpan<int> indicated)
    {
        int f = fill.Length;
        for (int j = 0; j < f; j++)
        {
            float v = input[j];
            output[j] = float.IsNaN(v) ? fill[j] : v;
        }
        for (int k = 0; k < indicated.Length; k++)
        {
            output[f + k] = float.IsNaN(input[indicated[k]]) ? 1f : 0f;
        }
    }

    /// <summary>The batch: the rows in managed code over the tensors' memory (selections and copies only: nothing to round).</summary>
    public override Tensor Forward(Tensor input, Tensor? output)
    {
        var y = output ?? throw new ArgumentNullException(nameof(output));
        using var scope = NewDisposeScope(); // the contiguous copy and its conversion, when the input needs them
        var contiguous = input.is_contiguous() && input.device_type == DeviceType.CPU && input.dtype == ScalarType.Float32 ? input : input.contiguous().to_type(ScalarType.Float32);
        ForwardRows(contiguous, y, (int)input.shape[0], _fill, _indicated);
        return y;
    }

    internal static void ForwardRows(Tensor x, Tensor y, int rows, ReadOnlySpan<float> fill, ReadOnlySpan<int> indicated)
    {
        int f = fill.Length, width = f + indicated.Length;
        ReadOnlySpan<float> input = TensorMemory.Floats(x)[..(rows * f)];
        Span<float> output = TensorMemory.Floats(y)[..(rows * width)];
        for (int r = 0; r < rows; r++)
        {
            Apply(input.Slice(r * f, f), output.Slice(r * width, width), fill, indicated);
        }
    }

    public override string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        long[] dims = { _fill.Length };
        var missing = graph.Unary("IsNaN", input);
        var filled = graph.Node("Where", new[] { missing, graph.Constant(_fill, dims, "MissingFill"), input });
        if (_indicated.Length == 0)
        {
            return filled;
        }
        var flags = graph.Unary("Cast", missing, ("to", typeof(float)));
        var indicators = graph.Node("Gather", new[] { flags, graph.Constant(_indicated.Select(j => (long)j), new long[] { _indicated.Length }, "MissingIndicated") }, null, ("axis", 1L));
        return graph.Node("Concat", new[] { filled, indicators }, null, ("axis", 1L));
    }

    public override ILayerStep CreateStep(StepContext context) => new MissingValuesStep(this, context);

    /// <summary>"fill" (per feature) and "indicated" (the features with an indicator, as numbers).</summary>
    public override IReadOnlyList<(string Name, long[] Shape, float[] Values)> DescribeValues() => new[]
    {
        ("fill", new long[] { InputSize }, _fill),
        ("indicated", new long[] { _indicated.Length }, _indicated.Select(j => (float)j).ToArray()),
    };

    public override void Write(BinaryWriter writer)
    {
        writer.Write(_fill.Length);
        Serialization.WriteFloats(writer, _fill);
        Serialization.WriteIndices(writer, _indicated);
    }

    public static MissingValuesLayer Read(BinaryReader reader, LayerReadContext context)
    {
        int features = Serialization.ReadCount(reader, "feature count", 1, Serialization.MaxWidth);
        CheckWidth("missing-value layer", features, context.InputSize);
        var fill = Serialization.ReadFloats(reader, features, "fill values");
        var indicated = Serialization.ReadIndices(reader, "indicator count", features, "indicated features", features, minCount: 0);
        return new MissingValuesLayer(fill, indicated);
    }

    internal (Tensor Fill, Tensor Index) Tensors => _tensors.Value;

    public override void Dispose()
    {
        if (_tensors.IsValueCreated)
        {
            _tensors.Value.Fill.Dispose();
            _tensors.Value.Index.Dispose();
        }
        _tensors = NewTensors();
    }

    private Lazy<(Tensor Fill, Tensor Index)> NewTensors() => new(() => (
        TensorMemory.Copy(_fill, _fill.Length).DetachFromDisposeScope(),
        tensor(_indicated.Select(j => (long)j).ToArray(), ScalarType.Int64).DetachFromDisposeScope()), System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    public override string ToString() => $"missing values {InputSize}" + (_indicated.Length > 0 ? $" (+{_indicated.Length} indicators)" : " (filled)");
}
