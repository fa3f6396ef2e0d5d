using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>Builds the initial network a training run starts from, out of the recipe and the training rows' statistics.</summary>
internal static class NetworkBuilder
{
    public static NetworkDescription Build(Recipe recipe, FeatureStatistics features, int outputs, Random random)
    {
        var layers = new List<Layer>();
        // Missing values first (unless they are refused): the features with a NaN in the training rows gain an indicator, and the
        // layers after it see those indicators as columns of their own (one-hot-like: scaled, never encoded or embedded).
        int[] indicated = recipe.MissingValues == AutoClipNetMissingValues.FillAndIndicate
            ? Enumerable.Range(0, features.FeatureCount).Where(j => features.MissingCount(j) > 0).ToArray() : Array.Empty<int>();
        IColumnStatistics statistics = indicated.Length > 0 ? new IndicatedStatistics(features, indicated) : features;
        var transform = Preprocessing(recipe.FeatureScaling, statistics);
        if (recipe.MissingValues != AutoClipNetMissingValues.Error)
        {
            layers.Add(MissingValues(features, indicated, transform));
        }
        if (transform is not null)
        {
            layers.Add(transform);
        }
        int width = statistics.FeatureCount;
        // Numeric features only: one-hot slots and constants gain nothing from encodings or embeddings.
        int[] numeric = Enumerable.Range(0, width).Where(j => !statistics.IsBinary(j) && statistics.Min(j) < statistics.Max(j)).ToArray();
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
        return new NetworkDescription(features.FeatureCount, layers);
    }

    /// <summary>
    /// The missing-value layer: each feature's fill value is its center in the feature transform (the median under robust
    /// scaling, the mean under standardization: a filled value becomes exactly 0), or its mean when the features are not
    /// scaled; a feature with no value at all in the training rows is filled with 0.
    /// </summary>
    public static MissingValuesLayer MissingValues(FeatureStatistics features, int[] indicated, FeatureTransformLayer? transform)
    {
        var fill = new float[features.FeatureCount];
        for (int j = 0; j < fill.Length; j++)
        {
            fill[j] = features.MissingCount(j) == features.Count ? 0f : transform is not null ? transform.Center[j] : (float)features.Mean(j);
        }
        return new MissingValuesLayer(fill, indicated);
    }

    /// <summary>
    /// Piecewise-linear encodings of the numeric features over <paramref name="bins"/> bins between quantiles of the training
    /// rows (the statistics' sample), the edges mapped through the feature transform (monotone per feature) so that they
    /// apply to the values the encodings read; repeated edges (discrete features) merge their bins. Null when no bin is left.
    /// </summary>
    public static PiecewiseLinearLayer? PiecewiseLinear(int bins, int[] numeric, IColumnStatistics statistics, FeatureTransformLayer? transform)
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
    public static FeatureTransformLayer? Preprocessing(AutoClipNetFeatureScaling scaling, IColumnStatistics statistics)
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
