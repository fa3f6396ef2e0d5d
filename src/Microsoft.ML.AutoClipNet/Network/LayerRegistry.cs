using System;
using System.Collections.Generic;
using System.IO;

namespace Microsoft.ML.AutoClipNet
{
    /// <summary>
    /// The kind of a layer of a trained AutoClipNet network. The number is what the model format stores for the kind (the one list
    /// of stored kinds and their readers: Network/LayerRegistry.cs); <see cref="ReleasedNetwork"/> is never stored.
    /// </summary>
    public enum AutoClipNetLayerKind
    {
        /// <summary>Per-feature (x − center)·scale, then smooth clipping x/√(1 + x²/9) for the features marked: the scaling learned from the training rows.</summary>
        FeatureTransform = 1,

        /// <summary>A fully connected layer, x·Wᵀ + b (values "weight", outputs × inputs, and "bias").</summary>
        Dense = 2,

        /// <summary>An elementwise nonlinearity (<see cref="AutoClipNetLayer.Activation"/>).</summary>
        Activation = 3,

        /// <summary>A learned factor per value, x·s (value "scale").</summary>
        FeatureScale = 4,

        /// <summary>Periodic embeddings of the numeric features: cos(2π·x·w + b)·V + c per embedded feature, then the input unchanged.</summary>
        PeriodicEmbedding = 5,

        /// <summary>The mean of its member networks' outputs (<see cref="AutoClipNetLayer.Members"/>).</summary>
        Ensemble = 6,

        /// <summary>Piecewise-linear encodings of the numeric features over quantile bins: the input, then 2·clamp((x − lower)·scale, 0, 1) − 1 per bin.</summary>
        PiecewiseLinear = 7,

        /// <summary>
        /// Missing values: each NaN feature takes its fill value (the training rows' center), and each feature that had a missing
        /// value in training gains a 0/1 indicator after the features (values "fill" and "indicated"). Always the first layer.
        /// </summary>
        MissingValues = 8,

        /// <summary>
        /// A network saved by the first release (format 1.1), scored as that release scored it: standardization, dense layers and
        /// one activation, and the label's standardization; its equivalent layers are its one member (<see cref="AutoClipNetLayer.Members"/>).
        /// Read and written only by the 1.1 format's own code, never stored as a layer of a 2.x network.
        /// </summary>
        ReleasedNetwork = 100,
    }
}

namespace Microsoft.ML.AutoClipNet.Network
{
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
        private static readonly Dictionary<AutoClipNetLayerKind, Func<BinaryReader, LayerReadContext, Layer>> Readers = new()
        {
            [AutoClipNetLayerKind.FeatureTransform] = FeatureTransformLayer.Read,
            [AutoClipNetLayerKind.Dense] = DenseLayer.Read,
            [AutoClipNetLayerKind.Activation] = ActivationLayer.Read,
            [AutoClipNetLayerKind.FeatureScale] = FeatureScaleLayer.Read,
            [AutoClipNetLayerKind.PeriodicEmbedding] = PeriodicEmbeddingLayer.Read,
            [AutoClipNetLayerKind.Ensemble] = EnsembleLayer.Read,
            [AutoClipNetLayerKind.PiecewiseLinear] = PiecewiseLinearLayer.Read,
            [AutoClipNetLayerKind.MissingValues] = MissingValuesLayer.Read,
        };

        /// <summary>Every kind a saved network may hold.</summary>
        public static IReadOnlyCollection<AutoClipNetLayerKind> StoredKinds => Readers.Keys;

        /// <summary>Reads a layer of the stored kind number <paramref name="kind"/>; <paramref name="index"/> names it in errors.</summary>
        public static Layer Read(int kind, int index, BinaryReader reader, LayerReadContext context)
        {
            if (!Readers.TryGetValue((AutoClipNetLayerKind)kind, out var read))
            {
                throw new InvalidDataException($"Layer {index} has the unknown kind {kind}.");
            }
            return read(reader, context);
        }
    }
}
