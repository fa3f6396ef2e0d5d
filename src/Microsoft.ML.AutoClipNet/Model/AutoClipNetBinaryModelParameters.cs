using System;
using Microsoft.ML;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

[assembly: LoadableClass(typeof(AutoClipNetBinaryModelParameters), null, typeof(SignatureLoadModel),
    "AutoClipNet binary classification network", AutoClipNetBinaryModelParameters.LoaderSignature)]

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// A trained AutoClipNet binary classification network (<see cref="AutoClipNetBinaryTrainer"/>): it maps
/// a feature vector to the logit of the positive class, which ML.NET reports as <c>Score</c>. The trainer
/// wraps it with a fixed Platt calibrator of slope −1, so <c>Probability</c> is sigmoid(Score), the
/// probability the network was trained to give (binary cross-entropy on the logit).
/// </summary>
public sealed class AutoClipNetBinaryModelParameters : AutoClipNetModelParametersBase<float>
{
    internal const string LoaderSignature = "AutoClipNetBinary";
    internal const string RegistrationName = "AutoClipNetBinaryModel";

    internal AutoClipNetBinaryModelParameters(IHostEnvironment env, Network.NetworkDescription network, AutoClipperState? autoClipState, System.Collections.Generic.IReadOnlyList<AutoClipNetTrainingHistory> histories)
        : base(env, RegistrationName, new DescribedNetwork(network), autoClipState, histories)
    {
        if (network.OutputSize != 1)
        {
            throw new System.IO.InvalidDataException($"A binary classification network has one output, not {network.OutputSize}.");
        }
    }

    private AutoClipNetBinaryModelParameters(IHostEnvironment env, ModelLoadContext ctx)
        : base(env, RegistrationName, ctx)
    {
        LoadContent(ctx);
    }

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.BinaryClassification;

    private protected override DataViewType OutputType => NumberDataViewType.Single;

    private protected override ModelTask Task => ModelTask.Binary;

    private protected override void Map(in VBuffer<float> features, ref float output)
    {
        Span<float> logit = stackalloc float[1];
        ForwardRow(features, logit);
        output = logit[0];
    }

    private protected override void SaveHeadAsOnnx(Network.IOnnxGraph graph, string raw, string[] outputNames) => OnnxHeads.Binary(graph, raw, outputNames[0]);

    // Format history (model signature ACNETBIN): 0x00020001 2.1, the first (Model/ModelFormat.cs); no task fields.
    //   0x00020002 2.2: history layout 2 (Model/ModelFormat.cs); the head unchanged.
    //   0x00020003 2.3: history layout 3 (the detail kept, exact counts); the head unchanged.
    //   0x00020004 2.4: ensembles (Model/ModelFormat.cs; history layout 4); the head unchanged.
    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "ACNETBIN",
        verWrittenCur: ModelFormat.Current,
        verReadableCur: ModelFormat.Current,
        verWeCanReadBack: ModelFormat.Version21,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AutoClipNetBinaryModelParameters).Assembly.FullName);

    private protected override byte[] WriteHead() => Array.Empty<byte>();

    private protected override VersionInfo CurrentVersion => GetVersionInfo();

    internal static AutoClipNetBinaryModelParameters Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        ModelVersions.CheckAtModel(ctx, GetVersionInfo(), "AutoClipNet binary classification network");
        return new AutoClipNetBinaryModelParameters(env, ctx);
    }
}
