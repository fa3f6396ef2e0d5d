using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>Builds the initial network a training run starts from, out of the recipe and the training rows' statistics.</summary>
internal static class NetworkBuilder
{
    public static NetworkDescription Build(Recipe recipe, FeatureStatistics statistics, int outputs, Random random)
    {
        int features = statistics.FeatureCount;
        var layers = new List<Layer>();
        var transform = Preprocessing(recipe.FeatureScaling, statistics);
        if (transform is not null)
        {
            layers.Add(transform);
        }
        int width = features;
        // Numeric features only: one-hot slots and constants gain nothing from encodings or embeddings.
        int[] numeric = Enumerable.Range(0, features).Where(j => !statistics.IsBinary(j) && statistics.Min(j) < statistics.Max(j)).ToArray();
        if (recipe.PiecewiseLinearBins > 0 && numeric.Length > 0 && PiecewiseLinear(recipe.PiecewiseLinearBins, numeric, statistics, transform) is { } encodings)
        {
            layers.Add(encodings);
            width = encodings.OutputSize;
        }
        if (recipe.EmbeddingFrequencies > 0)
        {
            if (numeric.Length > 0)
            {
                var embedding = PeriodicEmbeddingLayer.Create(width, numeric, recipe.EmbeddingFrequencies, recipe.EmbeddingSize, recipe.EmbeddingSigma, random,
                    recipe.EmbeddingLearningRateFactor, recipe.EmbeddingLearningRateFactor);
                layers.Add(embedding);
                width = embedding.OutputSize;
            }
        }
        if (recipe.FeatureScaleLayer)
        {
            layers.Add(FeatureScaleLayer.Create(width, recipe.ScaleLearningRateFactor, recipe.ScaleLearningRateFactor));
        }
        foreach (int size in recipe.HiddenLayerSizes)
        {
            layers.Add(DenseLayer.Create(width, size, recipe.HiddenInit, random, 1f, recipe.BiasLearningRateFactor, 1f, recipe.BiasWeightDecayFactor));
            layers.Add(new ActivationLayer(size, recipe.Activation));
            width = size;
        }
        layers.Add(DenseLayer.Create(width, outputs, recipe.OutputInit, random, 1f, recipe.BiasLearningRateFactor, 1f, recipe.BiasWeightDecayFactor));
        return new NetworkDescription(features, layers);
    }

    /// <summary>
    /// Piecewise-linear encodings of the numeric features over <paramref name="bins"/> bins between quantiles of the training
    /// rows (the statistics' sample), the edges mapped through the feature transform (monotone per feature) so that they
    /// apply to the values the encodings read; repeated edges (discrete features) merge their bins. Null when no bin is left.
    /// </summary>
    public static PiecewiseLinearLayer? PiecewiseLinear(int bins, int[] numeric, FeatureStatistics statistics, FeatureTransformLayer? transform)
    {
        int features = statistics.FeatureCount;
        var levels = Enumerable.Range(0, bins + 1).Select(t => (double)t / bins).ToArray();
        var raw = new float[bins + 1][];
        var mapped = new float[bins + 1][];
        for (int t = 0; t <= bins; t++)
        {
            raw[t] = new float[features];
        }
        foreach (int j in numeric)
        {
            var quantiles = statistics.Quantiles(j, levels);
            for (int t = 0; t <= bins; t++)
            {
                raw[t][j] = (float)quantiles[t];
            }
        }
        for (int t = 0; t <= bins; t++)
        {
            mapped[t] = new float[features];
            if (transform is null)
            {
                raw[t].CopyTo(mapped[t], 0);
            }
            else
            {
                transform.Forward(raw[t], mapped[t]);
            }
        }
        var edges = numeric.Select(j =>
        {
            var e = new List<float>();
            for (int t = 0; t <= bins; t++)
            {
                float v = mapped[t][j];
                if (e.Count == 0 || v > e[^1])
                {
                    e.Add(v);
                }
            }
            return e.ToArray();
        }).ToArray();
        return PiecewiseLinearLayer.Create(features, numeric, edges);
    }

    /// <summary>The feature transform the scaling asks for, from the training rows' statistics (null: none).</summary>
    public static FeatureTransformLayer? Preprocessing(AutoClipNetFeatureScaling scaling, FeatureStatistics statistics)
    {
        int features = statistics.FeatureCount;
        var center = new float[features];
        var scale = new float[features];
        var clip = new bool[features];
        switch (scaling)
        {
            case AutoClipNetFeatureScaling.None:
                return null;
            case AutoClipNetFeatureScaling.Standardize:
                for (int j = 0; j < features; j++)
                {
                    double std = statistics.StandardDeviation(j);
                    center[j] = (float)statistics.Mean(j);
                    scale[j] = std > 0 ? (float)(1.0 / std) : 1f;
                }
                break;
            case AutoClipNetFeatureScaling.RobustSmoothClip:
                for (int j = 0; j < features; j++)
                {
                    var (q25, median, q75) = statistics.Quartiles(j);
                    double spread = q75 - q25;
                    if (spread <= 0)
                    {
                        spread = 0.5 * ((double)statistics.Max(j) - statistics.Min(j));
                    }
                    center[j] = (float)median;
                    scale[j] = spread > 0 ? (float)(1.0 / spread) : 0f; // a constant feature carries nothing: 0
                    clip[j] = true;
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(scaling), scaling, "Unknown feature scaling.");
        }
        return new FeatureTransformLayer(center, scale, clip);
    }
}
