using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// A network being trained: every trainable tensor of every layer is a view of one contiguous
/// parameter buffer, and its gradient a view of one contiguous gradient buffer. So clipping is one
/// norm and one multiplication, and an optimizer step a handful of operations on two buffers, however
/// many layers there are. Built from a <see cref="NetworkDescription"/>; each layer's training step works on views of
/// its slices (<see cref="ValueViews"/>, <see cref="GradientViews"/>); <see cref="Snapshot"/> turns the current values
/// back into a network.
/// </summary>
internal sealed class TrainingModule : IDisposable
{
    private readonly NetworkDescription _initial;
    private readonly ParameterSpec[][] _specs;
    private readonly (long Offset, long Count)[][] _slices;
    private readonly Tensor[][] _valueViews;
    private readonly Tensor[][] _gradientViews;

    public TrainingModule(NetworkDescription initial)
    {
        AutoClip.TorchSharpNative.EnsureLoadable();
        _initial = initial;
        _specs = initial.Layers.Select(l => l.GetParameters().ToArray()).ToArray();
        long total = _specs.Sum(s => s.Sum(p => (long)p.Values.Length));
        if (total == 0)
        {
            throw new ArgumentException("The network has nothing to train.");
        }
        var raw = new float[total];
        var lrFactors = new float[total];
        var decayFactors = new float[total];
        _slices = new (long, long)[_specs.Length][];
        long offset = 0;
        for (int l = 0; l < _specs.Length; l++)
        {
            _slices[l] = new (long, long)[_specs[l].Length];
            for (int p = 0; p < _specs[l].Length; p++)
            {
                var spec = _specs[l][p];
                for (int i = 0; i < spec.Values.Length; i++)
                {
                    raw[offset + i] = spec.Scale == 1f ? spec.Values[i] : spec.Values[i] / spec.Scale;
                }
                Array.Fill(lrFactors, spec.LearningRateFactor, (int)offset, spec.Values.Length);
                Array.Fill(decayFactors, spec.WeightDecayFactor, (int)offset, spec.Values.Length);
                _slices[l][p] = (offset, spec.Values.Length);
                offset += spec.Values.Length;
            }
        }
        ParameterCount = total;
        // Every tensor below lives as long as the module, whatever dispose scope the caller has open.
        Values = TensorMemory.Copy(raw, total).DetachFromDisposeScope();
        Gradients = zeros(total).DetachFromDisposeScope();
        LearningRateFactors = lrFactors.All(f => f == 1f) ? null : TensorMemory.Copy(lrFactors, total).DetachFromDisposeScope();
        WeightDecayFactors = decayFactors.All(f => f == 1f) ? null : TensorMemory.Copy(decayFactors, total).DetachFromDisposeScope();
        _valueViews = new Tensor[_specs.Length][];
        _gradientViews = new Tensor[_specs.Length][];
        for (int l = 0; l < _specs.Length; l++)
        {
            _valueViews[l] = new Tensor[_specs[l].Length];
            _gradientViews[l] = new Tensor[_specs[l].Length];
            for (int p = 0; p < _specs[l].Length; p++)
            {
                var (start, count) = _slices[l][p];
                var shape = _specs[l][p].Shape;
                using var valueSlice = Values.narrow(0, start, count);
                _valueViews[l][p] = valueSlice.view(shape).DetachFromDisposeScope();
                using var gradientSlice = Gradients.narrow(0, start, count);
                _gradientViews[l][p] = gradientSlice.view(shape).DetachFromDisposeScope();
            }
        }
    }

    /// <summary>The network being trained (its layers' structure; the values are in <see cref="Values"/>).</summary>
    public NetworkDescription Network => _initial;

    /// <summary>Layer <paramref name="layer"/>'s parameters (raw), as views of <see cref="Values"/>.</summary>
    public IReadOnlyList<Tensor> ValueViews(int layer) => _valueViews[layer];

    /// <summary>Layer <paramref name="layer"/>'s gradients, as views of <see cref="Gradients"/>.</summary>
    public IReadOnlyList<Tensor> GradientViews(int layer) => _gradientViews[layer];

    /// <summary>Where layer <paramref name="layer"/>'s parameters sit in <see cref="Values"/> (and their gradients in <see cref="Gradients"/>): offset, count and shape of each.</summary>
    public IReadOnlyList<(long Offset, long Count, long[] Shape)> Layout(int layer)
        => _slices[layer].Select((slice, p) => (slice.Offset, slice.Count, _specs[layer][p].Shape)).ToArray();

    /// <summary>Every trainable value, raw (the layers multiply by their parametrization scale).</summary>
    public Tensor Values { get; }

    /// <summary>Every gradient, in the same order as <see cref="Values"/>.</summary>
    public Tensor Gradients { get; }

    /// <summary>Per-value learning-rate factors, or null when they are all 1.</summary>
    public Tensor? LearningRateFactors { get; }

    /// <summary>Per-value weight-decay factors, or null when they are all 1.</summary>
    public Tensor? WeightDecayFactors { get; }

    public long ParameterCount { get; }

    /// <summary>The network with the current values (value = raw · scale, in float).</summary>
    public NetworkDescription Snapshot()
    {
        var raw = new float[ParameterCount];
        using (var noGrad = no_grad())
        {
            TensorMemory.Floats(Values).CopyTo(raw);
        }
        var layers = new Layer[_specs.Length];
        for (int l = 0; l < _specs.Length; l++)
        {
            if (_specs[l].Length == 0)
            {
                layers[l] = _initial.Layers[l];
                continue;
            }
            var values = new float[_specs[l].Length][];
            for (int p = 0; p < values.Length; p++)
            {
                var (start, count) = _slices[l][p];
                float scale = _specs[l][p].Scale;
                values[p] = new float[count];
                for (int i = 0; i < count; i++)
                {
                    values[p][i] = scale == 1f ? raw[start + i] : raw[start + i] * scale;
                }
            }
            layers[l] = _initial.Layers[l].WithParameters(values);
        }
        return new NetworkDescription(_initial.InputSize, layers);
    }

    /// <summary>Whether every value is a finite number.</summary>
    public bool AllFinite() => Kernels.AllFinite(TensorMemory.Floats(Values)); // managed: LibTorch's isfinite().all() took four kernels and three tensors, once an epoch

    public void Dispose()
    {
        foreach (var view in _valueViews.SelectMany(v => v).Concat(_gradientViews.SelectMany(g => g)))
        {
            view.Dispose();
        }
        Values.Dispose();
        Gradients.Dispose();
        LearningRateFactors?.Dispose();
        WeightDecayFactors?.Dispose();
    }
}
