using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Model.Legacy;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

[assembly: LoadableClass(typeof(AutoClipNetModelParameters), null, typeof(SignatureLoadModel),
    "AutoClipNet regression network", AutoClipNetModelParameters.LoaderSignature)]

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// A trained AutoClipNet regression network (<see cref="AutoClipNetTrainer"/>): its outputs are mapped
/// back to the label's scale (the label's standardization is saved with the model). Scores one row at
/// a time in managed code and batches of rows with TorchSharp (in <see cref="AutoClipNetPredictionTransformer.Transform"/>).
/// </summary>
public sealed class AutoClipNetModelParameters : AutoClipNetModelParametersBase<float>
{
    internal const string LoaderSignature = "AutoClipNetRegression";
    internal const string RegistrationName = "AutoClipNetModel";

    private float _labelMean;
    private float _labelScale = 1f;
    private float _minimum = float.NegativeInfinity;
    private float _maximum = float.PositiveInfinity;
    private bool _legacy;

    internal AutoClipNetModelParameters(IHostEnvironment env, Network.NetworkDescription network, float labelMean, float labelScale,
        (float Minimum, float Maximum) clamp, AutoClipperState? autoClipState, IReadOnlyList<AutoClipNetTrainingHistory> histories)
        : base(env, RegistrationName, new DescribedNetwork(network), autoClipState, histories)
    {
        if (network.OutputSize != 1)
        {
            throw new InvalidDataException($"A regression network has one output, not {network.OutputSize}.");
        }
        SetLabel(labelMean, labelScale, clamp.Minimum, clamp.Maximum);
    }

    private AutoClipNetModelParameters(IHostEnvironment env, ModelLoadContext ctx)
        : base(env, RegistrationName, ctx)
    {
        if (ctx.Header.ModelVerWritten < ModelFormat.Version21)
        {
            // Format 1.1: the released network, scored as the release scored it (its label mapping included).
            var (network, state, history) = Format11.Read(ctx.Reader);
            SetContent(network, state, new[] { history });
            _legacy = true;
            return;
        }
        var head = LoadContent(ctx);
        using var reader = new BinaryReader(new MemoryStream(head));
        try
        {
            float mean = reader.ReadSingle(), scale = reader.ReadSingle();
            // Format 2.1 had no prediction range: its predictions are not clipped, as that version scored them.
            bool range = ctx.Header.ModelVerWritten >= ModelFormat.Version22;
            SetLabel(mean, scale, range ? reader.ReadSingle() : float.NegativeInfinity, range ? reader.ReadSingle() : float.PositiveInfinity);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            throw new InvalidDataException("The AutoClipNet model in this file is corrupt: its regression header is " + e.Message, e);
        }
    }

    private void SetLabel(float mean, float scale, float minimum, float maximum)
    {
        if (!float.IsFinite(mean) || !float.IsFinite(scale) || scale == 0 || float.IsNaN(minimum) || float.IsNaN(maximum) || minimum > maximum)
        {
            throw new InvalidDataException($"The AutoClipNet model has a label standardization that is not usable (mean {mean}, scale {scale}, range {minimum} to {maximum}).");
        }
        _labelMean = mean;
        _labelScale = scale;
        _minimum = minimum;
        _maximum = maximum;
    }

    /// <summary>The range predictions are clipped to (the training labels' range), or (−∞, ∞) when they are not.</summary>
    public (float Minimum, float Maximum) PredictionRange => (_minimum, _maximum);

    /// <summary>The label's mean and standard deviation: a network output z is reported as z × scale + mean.</summary>
    public (float Mean, float Scale) LabelStandardization => Network is Format11Network legacy ? legacy.LabelStandardization : (_labelMean, _labelScale);

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.Regression;

    private protected override DataViewType OutputType => NumberDataViewType.Single;

    private protected override ModelTask Task => ModelTask.Regression;

    private protected override void Map(in VBuffer<float> features, ref float output)
    {
        Span<float> outputs = stackalloc float[1];
        ForwardRow(features, outputs);
        output = ToScore(outputs[0]);
    }

    /// <summary>A network output as a score: z·scale + mean, clipped to the prediction range (format 1.1 networks give the score already).</summary>
    internal float ToScore(float output) => _legacy ? output : Math.Clamp(output * _labelScale + _labelMean, _minimum, _maximum);

    private protected override void SaveHeadAsOnnx(Network.IOnnxGraph graph, string raw, string[] outputNames)
    {
        // Format 1.1 networks apply the label's standardization themselves and are not clamped.
        var (mean, scale) = LabelStandardization;
        OnnxHeads.Regression(graph, raw, outputNames[0], scale, mean, _legacy ? float.NegativeInfinity : _minimum, _legacy ? float.PositiveInfinity : _maximum);
    }

    /// <summary>Scores one row in managed code, without tensors.</summary>
    internal float ScoreRow(in VBuffer<float> features)
    {
        float score = 0;
        Map(features, ref score);
        return score;
    }

    // ---------------------------------------------------------------------------------------------
    // Persistence. Format history (model signature ACLIPNET):
    //   0x00010001  1.1: the released regression-only format (Model/Legacy/Format11.cs); a loaded 1.1 model is saved as 1.1 again.
    //   0x00020001  2.1: layers, checksummed blocks, history in its own stream (Model/ModelFormat.cs); head = float label mean, float label scale.
    //   0x00020002  2.2: head = float label mean, float label scale, float minimum, float maximum prediction (±infinity when predictions
    //               are not clipped); history layout 2.
    //   0x00020003  2.3: the head unchanged; history layout 3 (the detail kept, exact counts).
    //   0x00020004  2.4: the head unchanged; ensembles (Model/ModelFormat.cs; history layout 4).

    private static VersionInfo GetVersionInfo(bool legacy = false) => new(
        modelSignature: "ACLIPNET",
        verWrittenCur: legacy ? Format11.Version : ModelFormat.Current,
        verReadableCur: legacy ? Format11.Version : ModelFormat.Current,
        verWeCanReadBack: Format11.Version,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AutoClipNetModelParameters).Assembly.FullName);

    private protected override byte[] WriteHead()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(_labelMean);
            writer.Write(_labelScale);
            writer.Write(_minimum);
            writer.Write(_maximum);
        }
        return stream.ToArray();
    }

    private protected override VersionInfo CurrentVersion => GetVersionInfo();

    /// <summary>A model of format 1.1 is written again as the release wrote it.</summary>
    private protected override bool SaveInOlderFormat(ModelSaveContext ctx)
    {
        if (Network is not Format11Network legacy)
        {
            return false;
        }
        ctx.SetVersionInfo(GetVersionInfo(legacy: true));
        Format11.Write(ctx.Writer, legacy, AutoClipState, TrainingHistory);
        return true;
    }

    internal static AutoClipNetModelParameters Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        ModelVersions.CheckAtModel(ctx, GetVersionInfo(), "AutoClipNet regression network");
        return new AutoClipNetModelParameters(env, ctx);
    }
}
