using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// One trainable tensor of a layer as the training module needs it: the current values (what scoring
/// uses), and how training parametrizes them. Training keeps raw = value / <see cref="Scale"/> in its
/// parameter buffer and the layer's training step multiplies by <see cref="Scale"/> (NTK-style
/// parametrization when Scale = 1/√fan-in); <see cref="LearningRateFactor"/> multiplies the base
/// learning rate for it, and <see cref="WeightDecayFactor"/> the weight decay (0: none).
/// </summary>
internal sealed record ParameterSpec(string Name, long[] Shape, float[] Values, float Scale = 1f, float LearningRateFactor = 1f, float WeightDecayFactor = 1f);

/// <summary>
/// A layer of an immutable network description. A layer kind owns all of its arithmetic, in the folder of its kind
/// (<c>Network/Layers/&lt;Kind&gt;/</c>): the same object defines the layer in each of the ways the library runs a network:
/// <list type="bullet">
/// <item>the managed forward of one row (<see cref="Forward(ReadOnlySpan{float}, Span{float})"/>): fixed summation order, no fused
/// multiply-add, so the same bits on any CPU (PredictionEngine, classification's Transform);</item>
/// <item>the LibTorch forward of a batch (<see cref="Forward(Tensor, Tensor?)"/>, run through <see cref="CreateBatchForward"/> by
/// <see cref="BatchScorer"/>): regression's Transform, calibration;</item>
/// <item>the training step, forward and backward, written out without autograd (<see cref="CreateStep"/>): a kind that cannot be
/// trained says so in its own file;</item>
/// <item>its ONNX nodes (<see cref="SaveAsOnnx"/>);</item>
/// <item>its persistence (<see cref="Write"/>, and a static <c>Read</c> that <see cref="LayerRegistry"/> lists).</item>
/// </list>
/// The tests hold every engine to one readable reference forward per kind (test/.../ReferenceForward.cs, autograd), found
/// through the registry so that no kind is left out. Layers never change: training produces new ones (<see cref="WithParameters"/>).
/// </summary>
internal abstract class Layer : IDisposable
{
    public abstract AutoClipNetLayerKind Kind { get; }

    /// <summary>Values per row going in.</summary>
    public abstract int InputSize { get; }

    /// <summary>Values per row coming out.</summary>
    public abstract int OutputSize { get; }

    /// <summary>Trainable values.</summary>
    public virtual long ParameterCount => 0;

    /// <summary>The multiply-adds of the layer's matrix products for one row, forward (elementwise work not counted).</summary>
    public virtual long MultiplyAddsPerRow => 0;

    /// <summary>
    /// For a fixed layer whose every output column is a function of one input column (or a constant given by it), with
    /// nothing to learn: the input column of each output column. Explanations credit an output column to the feature it
    /// comes from (Training/IntegratedGradients.cs). Null for every other layer.
    /// </summary>
    public virtual int[]? ColumnSources => null;

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
    /// The batch forward for up to <paramref name="capacity"/> rows with its buffers allocated once (a scorer owns one per
    /// layer): by default one output buffer, none for in-place layers. Kinds that need more (an ensemble's members, the
    /// released network's layers) make their own.
    /// </summary>
    public virtual BatchForward CreateBatchForward(int capacity) => new BufferedBatchForward(this, capacity);

    /// <summary>The bytes <see cref="CreateBatchForward"/> allocates per row of capacity (the scorer sizes its batches by them).</summary>
    public virtual long BatchBytesPerRow => BatchInPlace ? 0 : sizeof(float) * (long)OutputSize;

    /// <summary>
    /// The layer's part of a training step (<see cref="ILayerStep"/>), over the parameter views and gradient views of
    /// <paramref name="context"/>, with buffers for its capacity. Every kind must say how it trains: a kind that is never
    /// trained as one layer throws here, in its own file, with the reason.
    /// </summary>
    public abstract ILayerStep CreateStep(StepContext context);

    /// <summary>
    /// Writes the layer as ONNX nodes of standard ops (opset 9 to 12) reading <paramref name="input"/> (rows ×
    /// <see cref="InputSize"/>); returns the variable holding rows × <see cref="OutputSize"/>. The same arithmetic as
    /// the batch forward; ONNX Runtime's kernels may round differently, by a few units in the last place.
    /// </summary>
    public abstract string SaveAsOnnx(IOnnxGraph graph, string input);

    /// <summary>The trainable tensors, with their current values (empty for fixed layers).</summary>
    public virtual IReadOnlyList<ParameterSpec> GetParameters() => Array.Empty<ParameterSpec>();

    /// <summary>The values the layer stores, by name, for the model's public description (by default its parameters; fixed layers add their constants).</summary>
    public virtual IReadOnlyList<(string Name, long[] Shape, float[] Values)> DescribeValues() => GetParameters().Select(p => (p.Name, p.Shape, p.Values)).ToArray();

    /// <summary>The networks inside this layer: an ensemble's members, the released network's equivalent layers; empty for the others.</summary>
    public virtual IReadOnlyList<NetworkDescription> Parts => Array.Empty<NetworkDescription>();

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

    /// <summary>The check every reader makes: a layer's declared input width is the width the layer before it gives.</summary>
    protected static void CheckWidth(string what, int declared, int given)
    {
        if (declared != given)
        {
            throw new InvalidDataException($"The {what} takes {declared} inputs where the layer before it gives {given}.");
        }
    }
}

/// <summary>
/// One layer's batch forward for up to <see cref="Capacity"/> rows, with the buffers it needs allocated once in LibTorch's
/// aligned memory (see <see cref="TensorMemory"/>). Not thread-safe: a scorer owns one per layer.
/// </summary>
internal abstract class BatchForward : IDisposable
{
    private readonly List<Tensor> _owned = new();

    protected BatchForward(int capacity) => Capacity = capacity;

    public int Capacity { get; }

    /// <summary>The output for the first <paramref name="rows"/> rows of <paramref name="x"/> (which it may overwrite), valid until the next call.</summary>
    public abstract Tensor Forward(Tensor x, int rows);

    /// <summary>A buffer of Capacity × <paramref name="width"/> floats owned by this forward, outliving any dispose scope the caller has open.</summary>
    protected Tensor Buffer(long width)
    {
        var buffer = empty(Capacity, width).DetachFromDisposeScope();
        _owned.Add(buffer);
        return buffer;
    }

    /// <summary>The first <paramref name="rows"/> rows of a buffer (the buffer itself when full).</summary>
    protected Tensor Rows(Tensor buffer, int rows) => rows == Capacity ? buffer : buffer.narrow(0, 0, rows);

    public virtual void Dispose()
    {
        foreach (var buffer in _owned)
        {
            buffer.Dispose();
        }
    }
}

/// <summary>The usual batch forward: the layer's <see cref="Layer.Forward(Tensor, Tensor?)"/> into one output buffer (none in place).</summary>
internal sealed class BufferedBatchForward : BatchForward
{
    private readonly Layer _layer;
    private readonly Tensor? _output;

    public BufferedBatchForward(Layer layer, int capacity)
        : base(capacity)
    {
        _layer = layer;
        _output = layer.BatchInPlace ? null : Buffer(layer.OutputSize);
    }

    public override Tensor Forward(Tensor x, int rows) => _layer.Forward(x, _output is null ? null : Rows(_output, rows));
}

/// <summary>
/// What a layer's training step works on: its parameters' raw values and their gradients (views of the training module's two
/// contiguous buffers, in the order of <see cref="Layer.GetParameters"/>), the most rows a step takes, and whether the step
/// must return the gradient of its input (a layer before it learns).
/// </summary>
internal sealed record StepContext(IReadOnlyList<Tensor> Values, IReadOnlyList<Tensor> Gradients, int Capacity, bool NeedInputGradient);

/// <summary>
/// One layer's part of a training step, written out without autograd: <see cref="Forward"/> keeps what <see cref="Backward"/>
/// needs; <see cref="Backward"/> writes every gradient of the layer's parameters (no accumulation) and returns the gradient of
/// its input when the context asked for it (else null).
/// </summary>
internal interface ILayerStep : IDisposable
{
    /// <summary>The layer's output for the first <paramref name="rows"/> rows of <paramref name="x"/>, in a buffer of the step, valid until the next call.</summary>
    Tensor Forward(Tensor x, int rows);

    /// <summary>From the gradient of the output: the parameters' gradients, and the input's gradient when asked for (else null).</summary>
    Tensor? Backward(Tensor outputGradient, int rows);
}

/// <summary>The helpers every step shares: buffers for Capacity rows that the step owns and disposes.</summary>
internal abstract class LayerStep : ILayerStep
{
    private readonly List<Tensor> _buffers = new();

    protected LayerStep(StepContext context, Layer layer, bool supportsInputGradient = true)
    {
        if (context.NeedInputGradient && !supportsInputGradient)
        {
            throw new NotSupportedException($"The training step of the {layer} layer has no input gradient: it must come before every layer that learns.");
        }
        Capacity = context.Capacity;
        NeedInputGradient = context.NeedInputGradient;
    }

    protected int Capacity { get; }

    protected bool NeedInputGradient { get; }

    /// <summary>A buffer of Capacity × <paramref name="shape"/>, owned by the step.</summary>
    protected Tensor Buffer(params long[] shape) => Own(empty(shape.Prepend(Capacity).ToArray()));

    /// <summary>A tensor the step keeps and disposes.</summary>
    protected Tensor Own(Tensor tensor)
    {
        var kept = tensor.DetachFromDisposeScope();
        _buffers.Add(kept);
        return kept;
    }

    /// <summary>The first <paramref name="rows"/> rows of a buffer (the buffer itself when full).</summary>
    protected Tensor Rows(Tensor buffer, int rows) => rows == Capacity ? buffer : buffer.narrow(0, 0, rows);

    public abstract Tensor Forward(Tensor x, int rows);

    public abstract Tensor? Backward(Tensor outputGradient, int rows);

    public virtual void Dispose()
    {
        foreach (var buffer in _buffers)
        {
            buffer.Dispose();
        }
    }
}
