using System;
using System.IO;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>An elementwise nonlinearity (its math in every engine: <see cref="Activations"/>; its training step: <see cref="ActivationStep"/>). Not trainable.</summary>
internal sealed class ActivationLayer : Layer
{
    public ActivationLayer(int size, AutoClipNetActivation activation)
    {
        if (size < 1)
        {
            throw new InvalidDataException($"An activation layer of {size} values.");
        }
        if (!Enum.IsDefined(activation))
        {
            throw new InvalidDataException($"Unknown activation {(int)activation}.");
        }
        InputSize = size;
        Activation = activation;
    }

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.Activation;

    public override int InputSize { get; }

    public override int OutputSize => InputSize;

    public AutoClipNetActivation Activation { get; }

    public override bool BatchInPlace => true;

    public override void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckInput(input, output);
        var values = output[..InputSize];
        input.CopyTo(values);
        Activations.Apply(Activation, values);
    }

    public override string SaveAsOnnx(IOnnxGraph graph, string input) => Activations.SaveAsOnnx(Activation, graph, input);

    /// <summary>In place, but Mish makes one temporary of the batch's size (its softplus).</summary>
    public override long BatchBytesPerRow => Activation == AutoClipNetActivation.Mish ? sizeof(float) * (long)OutputSize : 0;

    public override Tensor Forward(Tensor input, Tensor? output)
    {
        Activations.ApplyInPlace(Activation, input);
        return input;
    }

    public override ILayerStep CreateStep(StepContext context) => new ActivationStep(this, context);

    public override void Write(BinaryWriter writer)
    {
        writer.Write(InputSize);
        writer.Write((int)Activation);
    }

    public static ActivationLayer Read(BinaryReader reader, LayerReadContext context)
    {
        int size = Serialization.ReadCount(reader, "activation size", 1, Serialization.MaxWidth);
        CheckWidth("activation layer", size, context.InputSize);
        return new ActivationLayer(size, (AutoClipNetActivation)reader.ReadInt32());
    }

    public override string ToString() => Activation.ToString();
}
