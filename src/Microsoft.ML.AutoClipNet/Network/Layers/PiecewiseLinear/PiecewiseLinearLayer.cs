using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// Piecewise-linear encodings of numeric features (Gorishniy, Rubachev, Babenko, NeurIPS 2022), fixed when the network is
/// built: for each bin [a, b) of a feature's quantiles, 2·min(1, max(0, (x − a)·s)) − 1 with s the float nearest
/// 1/(b − a): −1 below the bin, 1 above it, in between inside it (centred on 0 like the scaled features beside it: this
/// measured better than 0 to 1 on hpc-jobs and cars). The output is the input unchanged, followed by every encoding,
/// feature after feature and bin after bin: F + n values. It learns nothing, so it sits before the first layer that
/// learns (right after the feature transform).
/// </summary>
internal sealed class PiecewiseLinearLayer : Layer
{
    private readonly int[] _source;  // n: the feature each encoding reads
    private readonly float[] _lower; // n: the bin's lower edge
    private readonly float[] _scale; // n: 1 / the bin's width
    private Lazy<(Tensor Index, Tensor Lower, Tensor Scale)> _tensors;

    public PiecewiseLinearLayer(int inputSize, int[] source, float[] lower, float[] scale)
    {
        if (inputSize < 1 || source.Length < 1 || lower.Length != source.Length || scale.Length != source.Length
            || source.Any(j => j < 0 || j >= inputSize))
        {
            throw new InvalidDataException($"Piecewise-linear encodings of {inputSize} features have {source.Length} bins, {lower.Length} lower edges and {scale.Length} widths.");
        }
        if (!lower.All(float.IsFinite) || !scale.All(s => float.IsFinite(s) && s > 0))
        {
            throw new InvalidDataException("Piecewise-linear encodings need finite lower edges and finite positive scales.");
        }
        InputSize = inputSize;
        _source = source;
        _lower = lower;
        _scale = scale;
        _tensors = NewTensors();
    }

    /// <summary>
    /// The encodings of <paramref name="features"/> from their bin edges: <paramref name="edges"/>[i] holds feature i's
    /// increasing edges (as the layer before this one gives the values); a bin whose width is 0 or too small for a finite
    /// scale is left out. Null when no feature has a bin.
    /// </summary>
    public static PiecewiseLinearLayer? Create(int inputSize, IReadOnlyList<int> features, IReadOnlyList<float[]> edges)
    {
        var source = new List<int>();
        var lower = new List<float>();
        var scale = new List<float>();
        for (int i = 0; i < features.Count; i++)
        {
            var e = edges[i];
            for (int t = 1; t < e.Length; t++)
            {
                float a = e[t - 1], b = e[t];
                float s = 1f / (b - a);
                if (b > a && float.IsFinite(s))
                {
                    source.Add(features[i]);
                    lower.Add(a);
                    scale.Add(s);
                }
            }
        }
        return source.Count == 0 ? null : new PiecewiseLinearLayer(inputSize, source.ToArray(), lower.ToArray(), scale.ToArray());
    }

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.PiecewiseLinear;

    public override int InputSize { get; }

    public override int OutputSize => InputSize + _source.Length;

    /// <summary>The input passes through; each bin's encoding comes from the feature it reads.</summary>
    public override int[] ColumnSources => Enumerable.Range(0, InputSize).Concat(_source).ToArray();

    /// <summary>The encodings, each with the feature it reads.</summary>
    public IReadOnlyList<int> Sources => _source;

    /// <summary>The distinct features encoded.</summary>
    public int EncodedFeatures => _source.Distinct().Count();

    public override void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckInput(input, output);
        input.CopyTo(output);
        var encodings = output.Slice(InputSize, _source.Length);
        for (int i = 0; i < _source.Length; i++)
        {
            float t = (input[_source[i]] - _lower[i]) * _scale[i];
            encodings[i] = (t < 0f ? 0f : t > 1f ? 1f : t) * 2f - 1f; // the batch forward's clamp
        }
    }

    /// <summary>The output buffer and the encoded features' gathered copy.</summary>
    public override long BatchBytesPerRow => base.BatchBytesPerRow + sizeof(float) * (long)_source.Length;

    public override Tensor Forward(Tensor input, Tensor? output)
    {
        var (index, lower, scale) = _tensors.Value;
        var y = output ?? throw new ArgumentNullException(nameof(output));
        y.narrow(1, 0, InputSize).copy_(input);
        y.narrow(1, InputSize, _source.Length).copy_(input.index_select(1, index)).sub_(lower).mul_(scale).clamp_(Scalars.Zero, Scalars.One).mul_(Scalars.Two).sub_(Scalars.One);
        return y;
    }

    public override string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        long n = _source.Length;
        var x = graph.Node("Gather", new[] { input, graph.Constant(_source.Select(j => (long)j), new[] { n }, "EncodedFeatures") }, null, ("axis", 1L)); // rows × n
        var t = graph.Binary("Sub", x, graph.Constant(_lower, new[] { n }, "BinLowerEdges"));
        t = graph.Binary("Mul", t, graph.Constant(_scale, new[] { n }, "BinScales"));
        t = graph.Binary("Max", graph.Binary("Min", t, graph.Scalar(1f, "One")), graph.Scalar(0f, "Zero"));
        t = graph.Binary("Sub", graph.Binary("Mul", t, graph.Scalar(2f, "Two")), graph.Scalar(1f, "One"));
        return graph.Node("Concat", new[] { input, t }, null, ("axis", 1L));
    }

    public override ILayerStep CreateStep(StepContext context) => new PiecewiseLinearStep(this, context);

    /// <summary>Per bin: "feature" (the input it reads), "lower" (its lower edge) and "scale" (1 / its width).</summary>
    public override IReadOnlyList<(string Name, long[] Shape, float[] Values)> DescribeValues() => new[]
    {
        ("feature", new long[] { _source.Length }, _source.Select(j => (float)j).ToArray()),
        ("lower", new long[] { _source.Length }, _lower),
        ("scale", new long[] { _source.Length }, _scale),
    };

    // Layout: int F; int n; int[n] the feature each encoding reads; float[n] lower edges; float[n] scales.
    public override void Write(BinaryWriter writer)
    {
        writer.Write(InputSize);
        Serialization.WriteIndices(writer, _source);
        Serialization.WriteFloats(writer, _lower);
        Serialization.WriteFloats(writer, _scale);
    }

    public static PiecewiseLinearLayer Read(BinaryReader reader, LayerReadContext context)
    {
        int features = Serialization.ReadCount(reader, "piecewise-linear encodings' input count", 1, Serialization.MaxWidth);
        CheckWidth("piecewise-linear encodings", features, context.InputSize);
        var source = Serialization.ReadIndices(reader, "number of piecewise-linear encodings", Serialization.MaxWidth, "encoded feature", features);
        int n = source.Length;
        var lower = Serialization.ReadFloats(reader, n, "bins' lower edges");
        var scale = Serialization.ReadFloats(reader, n, "bins' scales");
        return new PiecewiseLinearLayer(features, source, lower, scale);
    }

    /// <summary>The encoded features' indices (int64), the lower edges and the scales as new LibTorch tensors (the batch forward's and the training step's).</summary>
    internal (Tensor Index, Tensor Lower, Tensor Scale) CreateTensors()
    {
        var index = empty(new long[] { _source.Length }, ScalarType.Int64);
        var indices = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(index.bytes);
        for (int i = 0; i < _source.Length; i++)
        {
            indices[i] = _source[i];
        }
        return (index.DetachFromDisposeScope(), TensorMemory.Copy(_lower, _lower.Length).DetachFromDisposeScope(),
            TensorMemory.Copy(_scale, _scale.Length).DetachFromDisposeScope());
    }

    /// <summary>Frees the LibTorch copies, if a batch forward made any; a later batch forward makes them again.</summary>
    public override void Dispose()
    {
        if (_tensors.IsValueCreated)
        {
            var t = _tensors.Value;
            t.Index.Dispose();
            t.Lower.Dispose();
            t.Scale.Dispose();
        }
        _tensors = NewTensors();
    }

    private Lazy<(Tensor Index, Tensor Lower, Tensor Scale)> NewTensors() => new(CreateTensors, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    public override string ToString() => $"piecewise-linear encodings of {EncodedFeatures} features ({_source.Length} bins)";
}
