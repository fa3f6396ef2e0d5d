using System;
using System.Collections.Generic;
using System.IO;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>The kinds of layer a network can hold; the number is what the model format stores.</summary>
internal enum LayerKind
{
    /// <summary>Per-feature (x − center)·scale, optionally followed by smooth clipping.</summary>
    FeatureTransform = 1,

    /// <summary>A fully connected layer, x·Wᵀ + b.</summary>
    Dense = 2,

    /// <summary>An elementwise nonlinearity.</summary>
    Activation = 3,

    /// <summary>A learnable per-feature factor, x·s.</summary>
    FeatureScale = 4,

    /// <summary>Periodic embeddings of numeric features.</summary>
    PeriodicEmbedding = 5,

    /// <summary>The mean of several member networks' outputs (format 2.4).</summary>
    Ensemble = 6,

    /// <summary>Piecewise-linear encodings of numeric features over quantile bins (format 2.4).</summary>
    PiecewiseLinear = 7,
}

/// <summary>
/// One trainable tensor of a layer as the training module needs it: the current values (what scoring
/// uses), and how training parametrizes them. Training keeps raw = value / <see cref="Scale"/> in its
/// parameter buffer and the layer multiplies by <see cref="Scale"/> in its training forward (NTK-style
/// parametrization when Scale = 1/√fan-in); <see cref="LearningRateFactor"/> multiplies the base
/// learning rate for it, and <see cref="WeightDecayFactor"/> the weight decay (0: none).
/// </summary>
internal sealed record ParameterSpec(string Name, long[] Shape, float[] Values, float Scale = 1f, float LearningRateFactor = 1f, float WeightDecayFactor = 1f);

/// <summary>
/// A layer of an immutable network description. The same object defines the layer five ways:
/// the managed forward of one row (<see cref="Forward(ReadOnlySpan{float}, Span{float})"/>), the
/// LibTorch forward of a batch (<see cref="Forward(Tensor, Tensor?)"/>), the differentiable forward
/// for training (<see cref="TrainingForward"/>), its persistence (<see cref="Write"/>) and its ONNX
/// graph (<see cref="SaveAsOnnx"/>). Layers never
/// change: training produces new ones (<see cref="WithParameters"/>).
/// </summary>
internal abstract class Layer : IDisposable
{
    public abstract LayerKind Kind { get; }

    /// <summary>Values per row going in.</summary>
    public abstract int InputSize { get; }

    /// <summary>Values per row coming out.</summary>
    public abstract int OutputSize { get; }

    /// <summary>Trainable values.</summary>
    public virtual long ParameterCount => 0;

    /// <summary>The multiply-adds of the layer's matrix products for one row, forward (elementwise work not counted).</summary>
    public virtual long MultiplyAddsPerRow => 0;

    /// <summary>
    /// True when the batch forward overwrites its input instead of writing a separate output buffer
    /// (elementwise layers).
    /// </summary>
    public virtual bool BatchInPlace => false;

    /// <summary>
    /// Scores one row in managed code; <paramref name="output"/> holds at least <see cref="OutputSize"/>
    /// values and does not overlap <paramref name="input"/>. Deterministic: the result depends on the
    /// values only.
    /// </summary>
    public abstract void Forward(ReadOnlySpan<float> input, Span<float> output);

    /// <summary>
    /// Scores a batch with LibTorch (no autograd): <paramref name="input"/> is rows × <see cref="InputSize"/>;
    /// writes rows × <see cref="OutputSize"/> into <paramref name="output"/> (null for in-place layers,
    /// which change and return <paramref name="input"/>). Returns the result.
    /// </summary>
    public abstract Tensor Forward(Tensor input, Tensor? output);

    /// <summary>
    /// Writes the layer as ONNX nodes of standard ops (opset 9 to 12) reading <paramref name="input"/> (rows ×
    /// <see cref="InputSize"/>); returns the variable holding rows × <see cref="OutputSize"/>. The same arithmetic as
    /// the batch forward; ONNX Runtime's kernels may round differently, by a few units in the last place.
    /// </summary>
    public abstract string SaveAsOnnx(IOnnxGraph graph, string input);

    /// <summary>The trainable tensors, with their current values (empty for fixed layers).</summary>
    public virtual IReadOnlyList<ParameterSpec> GetParameters() => Array.Empty<ParameterSpec>();

    /// <summary>
    /// The fixed tensors the training forward needs (a feature transform's centers and scales), made once
    /// per training run and disposed with it; null when there are none.
    /// </summary>
    public virtual IReadOnlyList<Tensor>? CreateTrainingConstants() => null;

    /// <summary>
    /// The differentiable forward used in training. <paramref name="parameters"/> are the raw training
    /// tensors of <see cref="GetParameters"/>, in order (value = raw · Scale); <paramref name="constants"/>
    /// what <see cref="CreateTrainingConstants"/> made.
    /// </summary>
    public abstract Tensor TrainingForward(Tensor x, IReadOnlyList<Tensor> parameters, IReadOnlyList<Tensor>? constants, bool training);

    /// <summary>The same layer with trained values (in the order of <see cref="GetParameters"/>).</summary>
    public virtual Layer WithParameters(IReadOnlyList<float[]> values) => this;

    /// <summary>Writes the layer's own fields (the kind is written by the network).</summary>
    public abstract void Write(BinaryWriter writer);

    /// <summary>Frees the LibTorch copies of the weights, if a batch forward made any; a later batch forward makes them again.</summary>
    public virtual void Dispose()
    {
    }

    /// <summary>A one-line description for logs: "dense 26→64".</summary>
    public abstract override string ToString();

    protected void CheckInput(ReadOnlySpan<float> input, Span<float> output)
    {
        if (input.Length != InputSize || output.Length < OutputSize)
        {
            throw new ArgumentException($"The {this} layer takes {InputSize} values and writes {OutputSize}; it was given {input.Length} and room for {output.Length}.");
        }
    }
}
