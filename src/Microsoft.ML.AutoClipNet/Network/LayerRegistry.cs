using System;
using System.Collections.Generic;
using System.IO;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>The kinds of layer a saved network can hold; the number is what the model format stores.</summary>
internal enum LayerKind
{
    /// <summary>Not a stored kind: the released format 1.1 network, which its own reader builds (Model/Legacy), never written in a 2.x stream.</summary>
    Released11 = 0,

    /// <summary>Per-feature (x − center)·scale, optionally followed by smooth clipping.</summary>
    FeatureTransform = 1,

    /// <summary>A fully connected layer, x·Wᵀ + b.</summary>
    Dense = 2,

    /// <summary>An elementwise nonlinearity.</summary>
    Activation = 3,

    /// <summary>A learnable per-feature factor, x·s.</summary>
    FeatureScale = 4,

    /// <summary>Periodic embeddings of numeric features.</summary>
    PeriodicEmbedding = 5,

    /// <summary>The mean of several member networks' outputs (format 2.4).</summary>
    Ensemble = 6,

    /// <summary>Piecewise-linear encodings of numeric features over quantile bins (format 2.4).</summary>
    PiecewiseLinear = 7,
}

/// <summary>What a layer's reader knows: the width the layer before it gives, and whether it sits inside an ensemble's member.</summary>
internal sealed record LayerReadContext(int InputSize, bool InsideEnsemble);

/// <summary>
/// The one list of the layer kinds a saved network may hold, each with its reader (the layer's own static <c>Read</c>):
/// <see cref="NetworkDescription.Read"/> reads through it, and the tests enumerate it so that every kind is held to the
/// reference forward and the format's fuzzing. A new kind is a folder under <c>Network/Layers/</c> and one line here (and a
/// new format version, Model/ModelFormat.cs).
/// </summary>
internal static class LayerRegistry
{
    private static readonly Dictionary<LayerKind, Func<BinaryReader, LayerReadContext, Layer>> Readers = new()
    {
        [LayerKind.FeatureTransform] = FeatureTransformLayer.Read,
        [LayerKind.Dense] = DenseLayer.Read,
        [LayerKind.Activation] = ActivationLayer.Read,
        [LayerKind.FeatureScale] = FeatureScaleLayer.Read,
        [LayerKind.PeriodicEmbedding] = PeriodicEmbeddingLayer.Read,
        [LayerKind.Ensemble] = EnsembleLayer.Read,
        [LayerKind.PiecewiseLinear] = PiecewiseLinearLayer.Read,
    };

    /// <summary>Every kind a saved network may hold.</summary>
    public static IReadOnlyCollection<LayerKind> StoredKinds => Readers.Keys;

    /// <summary>Reads a layer of the stored kind number <paramref name="kind"/>; <paramref name="index"/> names it in errors.</summary>
    public static Layer Read(int kind, int index, BinaryReader reader, LayerReadContext context)
    {
        if (!Readers.TryGetValue((LayerKind)kind, out var read))
        {
            throw new InvalidDataException($"Layer {index} has the unknown kind {kind}.");
        }
        return read(reader, context);
    }
}
