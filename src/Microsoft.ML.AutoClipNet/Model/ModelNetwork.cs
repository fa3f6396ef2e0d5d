using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;

namespace Microsoft.ML.AutoClipNet.Model;

/// <summary>
/// The network a model scores with, as the model parameters see it: a network described by layers
/// (<see cref="DescribedNetwork"/>), or a model of format 1.1 scored exactly as the released version
/// did (<see cref="Legacy.Format11Network"/>).
/// </summary>
internal interface IModelNetwork : IDisposable
{
    int FeatureCount { get; }

    int OutputCount { get; }

    long ParameterCount { get; }

    /// <summary>The dense layers' output sizes, the last one excluded.</summary>
    IReadOnlyList<int> HiddenLayerSizes { get; }

    AutoClipNetActivation Activation { get; }

    int DenseLayerCount { get; }

    float[] GetWeights(int layer);

    float[] GetBiases(int layer);

    /// <summary>The per-feature center and scale of the preprocessing (zeros and ones without one).</summary>
    (float[] Center, float[] Scale) FeaturePreprocessing { get; }

    /// <summary>Scratch floats <see cref="Forward"/> needs.</summary>
    int ScratchSize { get; }

    /// <summary>The outputs of one row (managed, deterministic), written to <paramref name="outputs"/>.</summary>
    void Forward(ReadOnlySpan<float> features, Span<float> outputs, Span<float> scratch);

    IBatchScorer CreateBatchScorer(int capacity);

    /// <summary>The layer description (null for format 1.1 models).</summary>
    NetworkDescription? Description { get; }
}

/// <summary>A network described by layers (an ensemble's architecture is its first member's).</summary>
internal sealed class DescribedNetwork : IModelNetwork
{
    private readonly DenseLayer[] _dense;

    public DescribedNetwork(NetworkDescription description)
    {
        Description = description;
        _dense = description.DenseLayers.ToArray();
        HiddenLayerSizes = _dense.Take(_dense.Length - 1).Select(d => d.OutputSize).ToArray();
        Activation = description.ActivationLayers.Select(a => a.Activation).FirstOrDefault();
    }

    public NetworkDescription Description { get; }

    public int FeatureCount => Description.InputSize;

    public int OutputCount => Description.OutputSize;

    public long ParameterCount => Description.ParameterCount;

    public IReadOnlyList<int> HiddenLayerSizes { get; }

    public AutoClipNetActivation Activation { get; }

    public int DenseLayerCount => _dense.Length;

    public float[] GetWeights(int layer) => _dense[layer].Weights.ToArray();

    public float[] GetBiases(int layer) => _dense[layer].Bias.ToArray();

    public (float[] Center, float[] Scale) FeaturePreprocessing => Description.Layers.FirstOrDefault() is FeatureTransformLayer t
        ? (t.Center.ToArray(), t.Scale.ToArray())
        : (new float[FeatureCount], Enumerable.Repeat(1f, FeatureCount).ToArray());

    public int ScratchSize => 2 * Description.MaxWidth;

    public void Forward(ReadOnlySpan<float> features, Span<float> outputs, Span<float> scratch)
        => Description.Forward(features, scratch).CopyTo(outputs);

    public IBatchScorer CreateBatchScorer(int capacity) => Description.CreateBatchScorer(capacity);

    public void Dispose() => Description.Dispose();
}
