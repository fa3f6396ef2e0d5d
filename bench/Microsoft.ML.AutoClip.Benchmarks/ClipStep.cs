using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// Target 2: one clip step on real gradients of an MLP, AutoClip's (norm, record, threshold, scale),
/// per parameter tensor and on a contiguous gradient buffer, against TorchSharp's fixed
/// clip_grad_norm_. All three clip by half at every step: before each measured call the gradients
/// are restored from a copy, outside the measurement. Measured in interleaved rounds by
/// <see cref="Measurements.ClipSpeed"/>.
/// </summary>
public sealed class ClipStep : IDisposable
{
    public static IEnumerable<string> Models => Run.Quick ? new[] { "100k" } : new[] { "100k", "10M" };

    public ClipStep(string model)
    {
        Model = model;
        Setup();
    }

    public string Model { get; }

    private Sequential _network = null!;
    private Parameter[] _parameters = Array.Empty<Parameter>();
    private Tensor[] _savedGradients = Array.Empty<Tensor>();
    private AutoClipper _clipper = null!;
    private AutoClipper _contiguousClipper = null!;
    private Tensor _buffer = null!;
    private double _fixedNorm;

    public long ParameterCount => _parameters.Sum(p => p.numel());

    private void Setup()
    {
        random.manual_seed(0);
        // 100k: 256-256-128-1 (98,945 parameters). 10M: 2048-2048-2048-512-1 (9,441,793 parameters).
        int[] sizes = Model == "100k" ? new[] { 256, 256, 128, 1 } : new[] { 2048, 2048, 2048, 512, 1 };
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (int i = 0; i < sizes.Length - 1; i++)
        {
            layers.Add(($"linear{i}", nn.Linear(sizes[i], sizes[i + 1])));
            if (i < sizes.Length - 2)
            {
                layers.Add(($"relu{i}", nn.ReLU()));
            }
        }
        _network = nn.Sequential(layers);
        _parameters = _network.parameters().ToArray();
        using (var scope = NewDisposeScope())
        {
            var x = randn(64, sizes[0]);
            var y = randn(64, 1);
            nn.functional.mse_loss(_network.call(x), y).backward();
        }
        // Every gradient becomes a view of one contiguous buffer (as AutoClipNet trains); the values are unchanged,
        // and all three methods below clip these same gradients.
        _buffer = AutoClipper.CreateContiguousGradients(_parameters);
        _savedGradients = _parameters.Select(p => { using var g = p.grad!; return g.clone().DetachFromDisposeScope(); }).ToArray();
        double norm = nn.utils.clip_grad_norm_(_parameters, double.PositiveInfinity); // the norm, gradients unchanged
        _fixedNorm = norm / 2;
        // A history whose 10th percentile is half the current norm: AutoClip clips by half too.
        _clipper = new AutoClipper();
        _contiguousClipper = new AutoClipper();
        for (int i = 0; i < 1000; i++)
        {
            _clipper.Observe(_fixedNorm);
            _contiguousClipper.Observe(_fixedNorm);
        }
    }

    public void RestoreGradients()
    {
        using var noGrad = no_grad();
        for (int i = 0; i < _parameters.Length; i++)
        {
            using var g = _parameters[i].grad!;
            g.copy_(_savedGradients[i]);
        }
    }

    public double ClipGradNorm() => nn.utils.clip_grad_norm_(_parameters, _fixedNorm);

    /// <summary>AutoClipper.ClipGradients: one norm per parameter tensor, combined in double precision.</summary>
    public double AutoClip() => _clipper.ClipGradients(_parameters).Scale;

    /// <summary>AutoClipper.ClipGradient on the contiguous buffer all gradients are views of (AutoClipNet's path).</summary>
    public double AutoClipContiguous() => _contiguousClipper.ClipGradient(_buffer).Scale;

    public void Dispose()
    {
        foreach (var g in _savedGradients)
        {
            g.Dispose();
        }
        _buffer.Dispose();
        _network.Dispose();
    }
}
