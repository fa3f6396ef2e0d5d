using System;
using System.Collections.Generic;
using System.IO;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>An elementwise nonlinearity (see <see cref="Activations"/>). Not trainable.</summary>
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

    public override LayerKind Kind => LayerKind.Activation;

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

    public override Tensor Forward(Tensor input, Tensor? output)
    {
        Activations.ApplyInPlace(Activation, input);
        return input;
    }

    public override Tensor TrainingForward(Tensor x, IReadOnlyList<Tensor> parameters, IReadOnlyList<Tensor>? constants, bool training) => Activations.Forward(Activation, x);

    public override void Write(BinaryWriter writer)
    {
        writer.Write(InputSize);
        writer.Write((int)Activation);
    }

    public static ActivationLayer Read(BinaryReader reader, int inputSize)
    {
        int size = Serialization.ReadCount(reader, "activation size", 1, Serialization.MaxWidth);
        if (size != inputSize)
        {
            throw new InvalidDataException($"An activation layer of {size} values follows a layer of {inputSize}.");
        }
        return new ActivationLayer(size, (AutoClipNetActivation)reader.ReadInt32());
    }

    public override string ToString() => Activation.ToString();
}
