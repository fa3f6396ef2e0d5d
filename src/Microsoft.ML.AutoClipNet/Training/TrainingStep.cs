using System;
using Microsoft.ML.AutoClipNet.Network;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// The training step's forward and backward passes, written out layer by layer without autograd: each layer's own step
/// (<see cref="Layer.CreateStep"/>, in the layer's folder) chained from the first layer to the loss and back. Every tensor a
/// batch needs (each layer's output, each input gradient, the embeddings' periodic features) is allocated once, for the batch
/// size, and reused by every step; matrix products write in place (addmm_), and the small elementwise work between them runs
/// in managed SIMD passes over the tensors' memory. Per step, LibTorch allocates only a few small tensors (sums over the
/// batch). Autograd, with its graph and fresh tensors for every intermediate, cost a third to a half of each step, most of it
/// in page faults as freed memory went back to the system, and LibTorch's per-call cost dominated the small elementwise work
/// (bench/README.md). Autograd remains for the loss alone (rows × outputs). The gradients equal autograd's to float
/// rounding: a test compares them with the reference forward of every layer kind and activation.
/// </summary>
internal sealed class TrainingStep : IDisposable
{
    private readonly Objective _objective;
    private readonly ILayerStep[] _steps;
    private readonly bool[] _needsInputGradient;
    private readonly bool[] _learns;

    /// <param name="module">The network being trained: its layers, parameter views and gradient views.</param>
    /// <param name="objective">The loss.</param>
    /// <param name="capacity">The most rows one step takes.</param>
    /// <param name="forwardOnly">For validation: the forward pass only, without the buffers of input gradients.</param>
    public TrainingStep(TrainingModule module, Objective objective, int capacity, bool forwardOnly = false)
    {
        _objective = objective;
        var layers = module.Network.Layers;
        _steps = new ILayerStep[layers.Count];
        _needsInputGradient = new bool[layers.Count];
        _learns = new bool[layers.Count];
        bool learnsBefore = false;
        try
        {
            for (int l = 0; l < layers.Count; l++)
            {
                _needsInputGradient[l] = learnsBefore && !forwardOnly;
                _learns[l] = layers[l].ParameterCount > 0;
                _steps[l] = layers[l].CreateStep(new StepContext(module.ValueViews(l), module.GradientViews(l), capacity, _needsInputGradient[l]));
                learnsBefore |= _learns[l];
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        Capacity = capacity;
        ForwardOnly = forwardOnly;
    }

    /// <summary>Whether this step only runs forward (<see cref="Step(Tensor, Tensor, int, Tensor?)"/> refuses).</summary>
    public bool ForwardOnly { get; }

    /// <summary>The most rows one step takes.</summary>
    public int Capacity { get; }

    /// <summary>
    /// Forward and backward over the first <paramref name="rows"/> rows of <paramref name="x"/> (rows × inputs) against
    /// <paramref name="targets"/>, each row's loss weighted by <paramref name="weights"/> when given: writes every gradient
    /// into the module's gradient buffer and returns the mean loss.
    /// </summary>
    public float Step(Tensor x, Tensor targets, int rows, Tensor? weights = null) => Step(x, targets, rows, weights, null);

    /// <summary>The step, calling <paramref name="mark"/> after the forward pass (0), the loss (1) and the backward pass (2): for the benchmark's breakdown.</summary>
    internal float Step(Tensor x, Tensor targets, int rows, Tensor? weights, Action<int>? mark)
    {
        CheckRows(rows);
        if (ForwardOnly)
        {
            throw new InvalidOperationException("This training step was made for the forward pass only.");
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var output = ForwardLayers(x, rows);
        mark?.Invoke(0);
        // The loss and its gradient with respect to the outputs: autograd on the rows × outputs logits alone.
        float loss;
        Tensor gradient;
        using (var withGrad = enable_grad(true))
        {
            var leaf = output.detach().requires_grad_(true);
            var value = _objective.Loss(leaf, targets, weights);
            value.backward();
            loss = value.item<float>();
            gradient = leaf.grad ?? throw new InvalidOperationException("The loss has no gradient.");
        }
        mark?.Invoke(1);
        // Every layer that learns writes all its gradients (no accumulation): nothing needs zeroing first. The pass stops at
        // the first layer that needs no input gradient: nothing before it learns.
        for (int l = _steps.Length - 1; l >= 0; l--)
        {
            if (!_needsInputGradient[l] && !_learns[l])
            {
                break;
            }
            gradient = _steps[l].Backward(gradient, rows)!;
            if (!_needsInputGradient[l])
            {
                break;
            }
        }
        mark?.Invoke(2);
        return loss;
    }

    /// <summary>
    /// The forward pass alone (no gradients), as training computes it: the outputs of the first <paramref name="rows"/> rows,
    /// a buffer of the last layer's step, valid until the next call. Validation scores through it.
    /// </summary>
    public Tensor Forward(Tensor x, int rows)
    {
        CheckRows(rows);
        using var noGrad = no_grad();
        return ForwardLayers(x, rows);
    }

    private Tensor ForwardLayers(Tensor x, int rows)
    {
        foreach (var step in _steps)
        {
            x = step.Forward(x, rows);
        }
        return x;
    }

    private void CheckRows(int rows)
    {
        if (rows < 1 || rows > Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"A step takes 1 to {Capacity} rows.");
        }
    }

    public void Dispose()
    {
        foreach (var step in _steps)
        {
            step?.Dispose();
        }
    }
}
