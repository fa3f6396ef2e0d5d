using System;
using System.Collections.Generic;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>Builds the initial network a training run starts from, out of the training rows' statistics.</summary>
internal static class NetworkBuilder
{
    /// <summary>
    /// The multilayer perceptron of the first release: features standardized to mean 0 and variance 1
    /// (a constant feature keeps scale 1), dense layers initialised as PyTorch's nn.Linear, one
    /// activation after each hidden layer.
    /// </summary>
    public static NetworkDescription Mlp(FeatureStatistics statistics, bool standardize, IReadOnlyList<int> hiddenSizes, AutoClipNetActivation activation,
        int outputs, Random random)
    {
        int features = statistics.FeatureCount;
        var layers = new List<Layer>();
        if (standardize)
        {
            var center = new float[features];
            var scale = new float[features];
            for (int j = 0; j < features; j++)
            {
                double std = statistics.StandardDeviation(j);
                center[j] = (float)statistics.Mean(j);
                scale[j] = std > 0 ? (float)(1.0 / std) : 1f;
            }
            layers.Add(new FeatureTransformLayer(center, scale, new bool[features]));
        }
        int width = features;
        foreach (int size in hiddenSizes)
        {
            layers.Add(DenseLayer.Create(width, size, DenseInit.Uniform, random));
            layers.Add(new ActivationLayer(size, activation));
            width = size;
        }
        layers.Add(DenseLayer.Create(width, outputs, DenseInit.Uniform, random));
        return new NetworkDescription(features, layers);
    }
}
