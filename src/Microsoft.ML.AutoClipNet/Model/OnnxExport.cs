using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.Model.OnnxConverter;

namespace Microsoft.ML.AutoClipNet.Model;

/// <summary>
/// The network's ONNX graph inside ML.NET's converter (<c>mlContext.Model.ConvertToOnnx</c>): <see cref="IOnnxGraph"/>
/// over ML.NET's <see cref="OnnxContext"/>. Standard ops only (domain ""), opset 9 to 12; intermediate variables
/// carry no declared type, ONNX Runtime infers their shapes.
/// </summary>
internal sealed class OnnxContextGraph : IOnnxGraph
{
    /// <summary>Erf (GELU) needs opset 9; nothing else needs more.</summary>
    public const int MinimumOpSet = 9;

    private readonly OnnxContext _context;

    public OnnxContextGraph(OnnxContext context)
    {
        _context = context;
        _context.CheckOpSetVersion(MinimumOpSet, "AutoClipNet");
    }

    public string Constant(IEnumerable<float> values, long[] dims, string name) => _context.AddInitializer(values, dims, name);

    public string Constant(IEnumerable<long> values, long[] dims, string name) => _context.AddInitializer(values, dims, name);

    public string Node(string op, string[] inputs, string? output = null, params (string Name, object Value)[] attributes)
    {
        output ??= _context.AddIntermediateVariable(null, op + "Output", skip: true);
        var node = _context.CreateNode(op, inputs, new[] { output }, _context.GetNodeName(op), "");
        foreach (var (name, value) in attributes)
        {
            switch (value)
            {
                case long l:
                    node.AddAttribute(name, l);
                    break;
                case float f:
                    node.AddAttribute(name, (double)f);
                    break;
                case long[] ls:
                    node.AddAttribute(name, (IEnumerable<long>)ls);
                    break;
                case Type t:
                    node.AddAttribute(name, t);
                    break;
                default:
                    throw new ArgumentException($"ONNX attribute '{name}' of {op}: {value?.GetType().Name ?? "null"} is not supported.", nameof(attributes));
            }
        }
        return output;
    }
}

/// <summary>What the task adds after the network's raw outputs in the ONNX graph.</summary>
internal static class OnnxHeads
{
    /// <summary>Regression: Score = clamp(z·scale + mean, minimum, maximum), rows × 1.</summary>
    public static void Regression(IOnnxGraph graph, string raw, string score, float labelScale, float labelMean, float minimum, float maximum)
    {
        var y = graph.Binary("Mul", raw, graph.Scalar(labelScale, "LabelScale"));
        y = graph.Binary("Add", y, graph.Scalar(labelMean, "LabelMean"));
        y = graph.Binary("Max", y, graph.Scalar(minimum, "PredictionMinimum"));
        graph.Node("Min", new[] { y, graph.Scalar(maximum, "PredictionMaximum") }, score);
    }

    /// <summary>Binary: Score is the logit (ML.NET's Platt calibrator adds Probability and the scorer PredictedLabel).</summary>
    public static void Binary(IOnnxGraph graph, string raw, string score) => graph.Node("Identity", new[] { raw }, score);

    /// <summary>Multiclass: Score = softmax(z), PredictedLabel = the key (1-based, UInt32) of the largest score, the first of ties.</summary>
    public static void Multiclass(IOnnxGraph graph, string raw, string predictedLabel, string score)
    {
        graph.Node("Softmax", new[] { raw }, score, ("axis", 1L));
        var index = graph.Node("ArgMax", new[] { score }, null, ("axis", 1L), ("keepdims", 1L));
        var key = graph.Binary("Add", index, graph.Constant(new[] { 1L }, new[] { 1L }, "KeyOffset"));
        graph.Node("Cast", new[] { key }, predictedLabel, ("to", typeof(uint)));
    }
}
