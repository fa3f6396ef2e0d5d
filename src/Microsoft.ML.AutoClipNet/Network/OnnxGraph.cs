using System;
using System.Collections.Generic;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// What a layer needs to write itself as ONNX: constants and nodes of standard ops (domain ""), at opset 9 to 12.
/// The network stays free of ML.NET types; Model/OnnxExport.cs implements this over ML.NET's ONNX context.
/// Every name returned is unique in the graph.
/// </summary>
internal interface IOnnxGraph
{
    /// <summary>A float tensor constant of shape <paramref name="dims"/>.</summary>
    string Constant(IEnumerable<float> values, long[] dims, string name);

    /// <summary>An int64 tensor constant of shape <paramref name="dims"/>.</summary>
    string Constant(IEnumerable<long> values, long[] dims, string name);

    /// <summary>
    /// A node of op <paramref name="op"/> with one output, a new intermediate variable (or <paramref name="output"/>
    /// when given: a name the caller owns). Attribute values are long, float, long[] or a System.Type (Cast's "to").
    /// </summary>
    string Node(string op, string[] inputs, string? output = null, params (string Name, object Value)[] attributes);
}

/// <summary>Helpers for the ops the layers share.</summary>
internal static class OnnxOps
{
    /// <summary>A float constant of shape [1], for broadcasting (ML.NET's context cannot make a 0-d one).</summary>
    public static string Scalar(this IOnnxGraph graph, float value, string name) => graph.Constant(new[] { value }, new[] { 1L }, name);

    public static string Unary(this IOnnxGraph graph, string op, string x, params (string Name, object Value)[] attributes) => graph.Node(op, new[] { x }, null, attributes);

    public static string Binary(this IOnnxGraph graph, string op, string a, string b) => graph.Node(op, new[] { a, b });
}
