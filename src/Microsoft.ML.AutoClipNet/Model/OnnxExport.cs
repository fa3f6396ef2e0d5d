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
