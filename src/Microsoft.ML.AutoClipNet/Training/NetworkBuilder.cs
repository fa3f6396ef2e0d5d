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
        if (Preprocessing(recipe.FeatureScaling, statistics) is { } transform)
        {
            layers.Add(transform);
        }
        int width = features;
        if (recipe.EmbeddingFrequencies > 0)
        {
            // Numeric features only: one-hot slots and constants gain nothing from periodic embeddings.
            int[] numeric = Enumerable.Range(0, features).Where(j => !statistics.IsBinary(j) && statistics.Min(j) < statistics.Max(j)).ToArray();
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
            layers.Add(DenseLayer.Create(width, size, recipe.HiddenInit, random, 1f, recipe.BiasLearningRateFactor, 1f, BiasDecay(recipe)));
            layers.Add(new ActivationLayer(size, recipe.Activation));
            width = size;
        }
        layers.Add(DenseLayer.Create(width, outputs, recipe.OutputInit, random, 1f, recipe.BiasLearningRateFactor, 1f, BiasDecay(recipe)));
        return new NetworkDescription(features, layers);
    }

    /// <summary>The previous network decayed every parameter (Adam's L2); the tabular recipe leaves biases alone.</summary>
    private static float BiasDecay(Recipe recipe) => recipe.Architecture == AutoClipNetArchitecture.Mlp ? 1f : 0f;

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
