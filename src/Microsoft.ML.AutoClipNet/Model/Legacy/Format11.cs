using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Network;

namespace Microsoft.ML.AutoClipNet.Model.Legacy;

/// <summary>
/// Models of format 1.1, written by the first, regression-only release: read into one <see cref="Format11Layer"/> (scored
/// exactly as that release scored them, so that their predictions stay bit-identical: tests compare them with scores the
/// release computed, test/Fixtures/regression-format-1.1), and written again in the same format. Nothing here may change.
/// </summary>
/// <remarks>
/// Layout, after ModelParametersBase's int sizeof(float), little-endian: int F; int activation; int L
/// (hidden layers + 1); L times: int outputs, then int count + float[outputs × inputs] weights and
/// int count + float[outputs] biases; int count + float[F] feature means; int count + float[F] feature
/// scales; float label mean; float label scale; byte 1 if an AutoClip state follows; int best epoch;
/// long training rows; long validation rows; long dropped rows; the steps, epochs and diagnostics
/// (as in format 2.1's history stream, without its layout number).
/// </remarks>
internal static class Format11
{
    public const uint Version = 0x00010001;

    /// <summary>Writes a format 1.1 model again as the release wrote it (a loaded old model saved again stays an old model).</summary>
    public static void Write(BinaryWriter w, Format11Layer network, AutoClipperState? state, AutoClipNetTrainingHistory h)
    {
        w.Write(network.FeatureCount);
        w.Write((int)network.Activation);
        w.Write(network.DenseLayerCount);
        for (int l = 0; l < network.DenseLayerCount; l++)
        {
            var biases = network.Biases(l);
            w.Write(biases.Length);
            Serialization.WriteFloats(w, network.Weights(l));
            Serialization.WriteFloats(w, biases);
        }
        Serialization.WriteFloats(w, network.FeatureMean);
        Serialization.WriteFloats(w, network.FeatureScale);
        w.Write(network.LabelStandardization.Mean);
        w.Write(network.LabelStandardization.Scale);
        w.Write((byte)(state is null ? 0 : 1));
        state?.Save(w);
        w.Write(h.BestEpoch);
        w.Write(h.TrainingRows);
        w.Write(h.ValidationRows);
        w.Write(h.DroppedRows);
        ModelFormat.WriteRecords(w, h, withValidationErrors: false);
    }

    /// <summary>Reads a format 1.1 model; <paramref name="where"/> names the stream in errors (one kind: <see cref="ModelFormat.Corrupt"/>).</summary>
    public static (Format11Layer Network, AutoClipperState? State, AutoClipNetTrainingHistory History) Read(BinaryReader r, string where)
    {
        r = ModelFormat.PayloadReader is { } observe && r.BaseStream.CanSeek ? observe(r.BaseStream) : r;
        try
        {
            int f = Serialization.ReadCount(r, "feature count", 1, 1 << 24);
            var activation = (AutoClipNetActivation)r.ReadInt32();
            if (activation is < AutoClipNetActivation.ReLU or > AutoClipNetActivation.LeakyReLU)
            {
                throw new InvalidDataException($"Unknown activation {(int)activation}.");
            }
            int layers = Serialization.ReadCount(r, "layer count", 1, 1024);
            var weights = new float[layers][];
            var biases = new float[layers][];
            int fanIn = f;
            for (int l = 0; l < layers; l++)
            {
                int outputs = Serialization.ReadCount(r, "layer size", 1, 1 << 20);
                weights[l] = Serialization.ReadFloats(r, (long)outputs * fanIn, $"layer {l} weights");
                biases[l] = Serialization.ReadFloats(r, outputs, $"layer {l} biases");
                fanIn = outputs;
            }
            var mean = Serialization.ReadFloats(r, f, "feature means");
            var scale = Serialization.ReadFloats(r, f, "feature scales");
            float labelMean = r.ReadSingle();
            float labelScale = r.ReadSingle();
            var network = new Format11Layer(f, activation, weights, biases, mean, scale, labelMean, labelScale);
            var state = r.ReadByte() switch
            {
                0 => null,
                1 => AutoClipperState.Load(r),
                var b => throw new InvalidDataException($"Bad AutoClip state marker {b}."),
            };
            var summary = new HistorySummary(r.ReadInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64());
            var history = ModelFormat.ReadRecords(r, summary, withValidationErrors: false);
            return (network, state, history);
        }
        catch (Exception e) when (ModelFormat.IsBadBytes(e))
        {
            throw ModelFormat.Corrupt(where, e, truncated: e is EndOfStreamException);
        }
    }
}
