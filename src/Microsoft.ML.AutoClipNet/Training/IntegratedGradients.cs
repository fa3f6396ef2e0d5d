using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// Per-prediction feature contributions by integrated gradients (Sundararajan, Taly and Yan, ICML 2017), with the completeness
/// property: a row's contributions add up to the network's output for the row minus its output for the baseline.
/// <para>
/// The network's fixed leading layers (missing values, feature transform, piecewise-linear encodings: nothing learned, each
/// output column made from one feature) are applied first; the path runs straight from the baseline's encoded row to this
/// row's, through the layers that learn, whose training steps give the gradients (one batch of path points forward and
/// back). Each encoded column's share goes to the feature it comes from: a feature's value and its missing indicator, or its
/// piecewise-linear bins, count together. An ensemble's contribution is the mean of its members' (each member's own encoding).
/// The integral is Gauss–Legendre quadrature on 16 points, doubled (up to 512) until the contributions add up to the output
/// difference within 1e-4 of max(1, |difference|) in the network's output units (smooth activations and periodic
/// embeddings make the integrand analytic along the path, where Gauss–Legendre converges fast; ReLU-like kinks slow it).
/// </para>
/// </summary>
internal sealed class IntegratedGradients : IDisposable
{
    public const int InitialPoints = 16;
    public const int MaxPoints = 512;
    public const double Tolerance = 1e-4;

    private readonly Layer[] _shared;
    private readonly Path[] _paths;
    private readonly float _memberWeight;
    private readonly int _featureCount;
    private readonly float[] _sharedBaseline;

    /// <param name="network">The trained network (not owned).</param>
    /// <param name="baseline">The row the contributions are measured from (raw features, no missing values).</param>
    public IntegratedGradients(NetworkDescription network, ReadOnlySpan<float> baseline)
    {
        _featureCount = network.InputSize;
        if (baseline.Length != _featureCount)
        {
            throw new ArgumentException($"The baseline has {baseline.Length} values; the network takes {_featureCount}.", nameof(baseline));
        }
        var layers = network.Layers;
        int fixedCount = 0;
        while (fixedCount < layers.Count && layers[fixedCount].ColumnSources is not null)
        {
            fixedCount++;
        }
        _shared = layers.Take(fixedCount).ToArray();
        var sources = Compose(Enumerable.Range(0, _featureCount).ToArray(), _shared);
        _sharedBaseline = Apply(_shared, baseline.ToArray());
        var rest = layers.Skip(fixedCount).ToArray();
        var members = rest.Length == 1 && rest[0] is EnsembleLayer ensemble
            ? ensemble.Members
            : new[] { new NetworkDescription(_shared.Length == 0 ? network.InputSize : _shared[^1].OutputSize, rest) };
        if (members.Any(m => m.Layers.Any(l => l is EnsembleLayer)) || (rest.Length > 1 && rest.Any(l => l is EnsembleLayer)))
        {
            throw new NotSupportedException("This network's ensemble is not its last layer: its feature contributions are not supported.");
        }
        _memberWeight = 1f / members.Count;
        var paths = new List<Path>();
        try
        {
            foreach (var member in members)
            {
                paths.Add(new Path(member, sources, _sharedBaseline));
            }
        }
        catch
        {
            paths.ForEach(p => p.Dispose());
            throw;
        }
        _paths = paths.ToArray();
    }

    /// <summary>
    /// Adds to <paramref name="contributions"/> (one per feature, zeroed by the caller) each feature's share of
    /// output <paramref name="output"/>(x) − output(baseline), and returns that difference.
    /// </summary>
    public double Explain(ReadOnlySpan<float> features, int output, Span<float> contributions)
    {
        if (features.Length != _featureCount || contributions.Length != _featureCount)
        {
            throw new ArgumentException($"A row has {_featureCount} features; {features.Length} values and {contributions.Length} contributions were given.");
        }
        var encoded = Apply(_shared, features.ToArray());
        double difference = 0;
        foreach (var path in _paths)
        {
            difference += _memberWeight * path.Explain(encoded, output, _memberWeight, contributions);
        }
        return difference;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, (double[] Nodes, double[] Weights)> s_rules = new();

    /// <summary>The nodes and weights of n-point Gauss–Legendre quadrature on [0, 1] (Newton's method on the Legendre polynomial's roots).</summary>
    internal static (double[] Nodes, double[] Weights) GaussLegendre(int n) => s_rules.GetOrAdd(n, static n =>
    {
        var nodes = new double[n];
        var weights = new double[n];
        for (int i = 0; i < n; i++)
        {
            double t = Math.Cos(Math.PI * (i + 0.75) / (n + 0.5)), derivative = 0;
            for (int iteration = 0; iteration < 100; iteration++)
            {
                double p0 = 1, p1 = t;
                for (int j = 2; j <= n; j++)
                {
                    double p2 = ((2 * j - 1) * t * p1 - (j - 1) * p0) / j;
                    p0 = p1;
                    p1 = p2;
                }
                derivative = n * (t * p1 - p0) / (t * t - 1);
                double step = p1 / derivative;
                t -= step;
                if (Math.Abs(step) < 1e-15)
                {
                    break;
                }
            }
            nodes[i] = (1 - t) / 2;
            weights[i] = 1 / ((1 - t * t) * derivative * derivative);
        }
        return (nodes, weights);
    });

    private static int[] Compose(int[] sources, IEnumerable<Layer> layers)
    {
        foreach (var layer in layers)
        {
            var map = layer.ColumnSources!;
            sources = map.Select(c => sources[c]).ToArray();
        }
        return sources;
    }

    private static float[] Apply(IEnumerable<Layer> layers, float[] row)
    {
        foreach (var layer in layers)
        {
            var next = new float[layer.OutputSize];
            layer.Forward(row, next);
            row = next;
        }
        return row;
    }

    public void Dispose()
    {
        foreach (var path in _paths)
        {
            path.Dispose();
        }
    }

    /// <summary>One member's path: its own fixed layers, then its learning layers' training steps with input gradients.</summary>
    private sealed class Path : IDisposable
    {
        private readonly Layer[] _fixed;
        private readonly int[] _sources;
        private readonly float[] _baseline;
        private readonly TrainingModule _module;
        private readonly ILayerStep[] _steps;
        private readonly int _width;
        private readonly int _outputs;

        public Path(NetworkDescription member, int[] sharedSources, float[] sharedBaseline)
        {
            int fixedCount = 0;
            while (fixedCount < member.Layers.Count && member.Layers[fixedCount].ColumnSources is not null)
            {
                fixedCount++;
            }
            _fixed = member.Layers.Take(fixedCount).ToArray();
            _sources = Compose(sharedSources, _fixed);
            _baseline = Apply(_fixed, sharedBaseline);
            _width = _baseline.Length;
            _outputs = member.OutputSize;
            var learning = new NetworkDescription(_width, member.Layers.Skip(fixedCount).ToArray());
            if (learning.Layers.Count == 0)
            {
                throw new NotSupportedException("The network has no layer that learns: nothing to explain.");
            }
            _module = new TrainingModule(learning);
            _steps = new ILayerStep[learning.Layers.Count];
            try
            {
                for (int l = 0; l < _steps.Length; l++)
                {
                    _steps[l] = learning.Layers[l].CreateStep(new StepContext(_module.ValueViews(l), _module.GradientViews(l), MaxPoints + 2, NeedInputGradient: true));
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>Adds weight × this member's contributions; returns its output difference.</summary>
        public double Explain(float[] sharedEncoded, int output, float weight, Span<float> contributions)
        {
            var x = Apply(_fixed, sharedEncoded);
            var delta = new float[_width];
            for (int j = 0; j < _width; j++)
            {
                delta[j] = x[j] - _baseline[j];
            }
            var share = new double[_width];
            double difference = 0;
            for (int points = InitialPoints; ; points *= 2)
            {
                difference = Integrate(delta, output, points, share);
                double sum = share.Sum();
                if (Math.Abs(sum - difference) <= Tolerance * Math.Max(1, Math.Abs(difference)) || points >= MaxPoints)
                {
                    break;
                }
            }
            for (int j = 0; j < _width; j++)
            {
                contributions[_sources[j]] += (float)(weight * share[j]);
            }
            return difference;
        }

        /// <summary>
        /// Gauss–Legendre quadrature on <paramref name="points"/> nodes αₖ with weights wₖ on [0, 1]:
        /// share_j = Δ_j · Σₖ wₖ ∂F/∂z_j(b + αₖ·Δ); returns F(x) − F(b), both ends computed in the same batch.
        /// </summary>
        private double Integrate(float[] delta, int output, int points, double[] share)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var (nodes, weights) = GaussLegendre(points);
            int rows = points + 2;
            var input = new float[rows * _width];
            for (int k = 0; k < points; k++)
            {
                float alpha = (float)nodes[k];
                for (int j = 0; j < _width; j++)
                {
                    input[k * _width + j] = _baseline[j] + alpha * delta[j];
                }
            }
            for (int j = 0; j < _width; j++)
            {
                input[points * _width + j] = _baseline[j];
                input[(points + 1) * _width + j] = _baseline[j] + delta[j];
            }
            var x = TensorMemory.Copy(input, rows, _width); // LibTorch's aligned memory: the products round alike in every process
            foreach (var step in _steps)
            {
                x = step.Forward(x, rows);
            }
            var outputs = x.narrow(1, output, 1).to_type(TorchSharp.torch.ScalarType.Float64).contiguous().data<double>().ToArray();
            double difference = outputs[points + 1] - outputs[points];
            var seed = new float[rows * _outputs];
            for (int k = 0; k < points; k++)
            {
                seed[k * _outputs + output] = (float)weights[k];
            }
            Tensor gradient = TensorMemory.Copy(seed, rows, _outputs);
            for (int l = _steps.Length - 1; l >= 0; l--)
            {
                gradient = _steps[l].Backward(gradient, rows)!;
            }
            // Σ over the nodes of wₖ·∂F/∂z (each row seeded with its weight): the path's mean gradient, per encoded column.
            var mean = gradient.narrow(0, 0, points).to_type(TorchSharp.torch.ScalarType.Float64).sum(0L).contiguous().data<double>().ToArray();
            for (int j = 0; j < _width; j++)
            {
                share[j] = delta[j] * mean[j];
            }
            return difference;
        }

        public void Dispose()
        {
            if (_steps is not null)
            {
                foreach (var step in _steps)
                {
                    step?.Dispose();
                }
            }
            _module?.Dispose();
        }
    }
}
