using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// One layer of a trained AutoClipNet network, as the model holds it (<see cref="IAutoClipNetModel.NetworkLayers"/>): its kind, its
/// widths, its stored values by name, and for an ensemble every member network. A description: the copies it hands out do not
/// change the model.
/// </summary>
public sealed class AutoClipNetLayer
{
    private readonly Layer _layer;
    private readonly IReadOnlyList<(string Name, long[] Shape, float[] Values)> _values;

    internal AutoClipNetLayer(Layer layer)
    {
        _layer = layer;
        _values = layer.DescribeValues();
        Members = layer.Parts.Select(Describe).ToArray();
    }

    /// <summary>The layers of a network, in order.</summary>
    internal static IReadOnlyList<AutoClipNetLayer> Describe(NetworkDescription network) => network.Layers.Select(l => new AutoClipNetLayer(l)).ToArray();

    /// <summary>What the layer does.</summary>
    public AutoClipNetLayerKind Kind => _layer.Kind;

    /// <summary>Values per row going in.</summary>
    public int InputSize => _layer.InputSize;

    /// <summary>Values per row coming out.</summary>
    public int OutputSize => _layer.OutputSize;

    /// <summary>Trained values (weights, biases, embeddings, scales) of the layer, its members' included.</summary>
    public long ParameterCount => _layer.ParameterCount;

    /// <summary>The activation of an <see cref="AutoClipNetLayerKind.Activation"/> layer or of a released network; null otherwise (an ensemble's members say theirs).</summary>
    public AutoClipNetActivation? Activation => _layer switch
    {
        ActivationLayer a => a.Activation,
        Model.Legacy.Format11Layer r => r.Activation,
        _ => null,
    };

    /// <summary>An ensemble's member networks, each its layers in order (or a released network's equivalent layers, as one member); empty for other layers.</summary>
    public IReadOnlyList<IReadOnlyList<AutoClipNetLayer>> Members { get; }

    /// <summary>The names of the values the layer stores: "weight" and "bias" (dense), "center" and "scale" (feature transform), ...</summary>
    public IReadOnlyList<string> ValueNames => _values.Select(v => v.Name).ToArray();

    /// <summary>The shape of the named values (row-major: a dense layer's "weight" is outputs × inputs).</summary>
    public IReadOnlyList<long> GetShape(string name) => Find(name).Shape.ToArray();

    /// <summary>A copy of the named values, row-major.</summary>
    public float[] GetValues(string name) => (float[])Find(name).Values.Clone();

    /// <summary>"dense 26→64", "ensemble of 5 (mean) of: ...".</summary>
    public override string ToString() => _layer.ToString();

    private (string Name, long[] Shape, float[] Values) Find(string name)
    {
        foreach (var value in _values)
        {
            if (value.Name == name)
            {
                return value;
            }
        }
        throw new ArgumentOutOfRangeException(nameof(name), name, $"The {_layer} layer stores {(_values.Count == 0 ? "no values" : string.Join(", ", _values.Select(v => $"'{v.Name}'")))}.");
    }
}
