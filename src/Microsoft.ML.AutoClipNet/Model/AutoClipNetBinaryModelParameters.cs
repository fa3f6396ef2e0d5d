using System;
using Microsoft.ML;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

[assembly: LoadableClass(typeof(AutoClipNetBinaryModelParameters), null, typeof(SignatureLoadModel),
    "AutoClipNet binary classification network", AutoClipNetBinaryModelParameters.LoaderSignature)]

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// A trained AutoClipNet binary classification network (<see cref="AutoClipNetBinaryTrainer"/>): it maps
/// a feature vector to the logit of the positive class, which ML.NET reports as <c>Score</c>. The trainer
/// wraps it with a Platt calibrator of slope −s, so <c>Probability</c> is sigmoid(s·Score), with the temperature's inverse s
/// fitted on the validation rows (1 without calibration: the probability the network was trained to give).
/// </summary>
public sealed class AutoClipNetBinaryModelParameters : AutoClipNetModelParametersBase<float>
{
    internal const string LoaderSignature = "AutoClipNetBinary";
    internal const string RegistrationName = "AutoClipNetBinaryModel";

    internal AutoClipNetBinaryModelParameters(IHostEnvironment env, Network.NetworkDescription network, AutoClipperState? autoClipState, System.Collections.Generic.IReadOnlyList<AutoClipNetTrainingHistory> histories)
        : base(env, RegistrationName, network, new BinaryHead(network.OutputSize), autoClipState, histories)
    {
    }

    private AutoClipNetBinaryModelParameters(IHostEnvironment env, ModelLoadContext ctx)
        : base(env, RegistrationName, ctx)
    {
        LoadContent(ctx);
    }

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.BinaryClassification;

    private protected override DataViewType OutputType => NumberDataViewType.Single;

    private protected override AutoClipNetTask Task => BinaryTask.Instance;

    private protected override void Map(in VBuffer<float> features, ref float output)
    {
        Span<float> logit = stackalloc float[1];
        ForwardRow(features, logit);
        output = logit[0];
    }

    // Format history (model signature ACNETBIN): 0x00020001 2.1, the first (Model/ModelFormat.cs); no task fields.
    //   0x00020002 2.2: history layout 2 (Model/ModelFormat.cs); the head unchanged.
    //   0x00020003 2.3: history layout 3 (the detail kept, exact counts); the head unchanged.
    //   0x00020004 2.4: ensembles and piecewise-linear encodings (Model/ModelFormat.cs; history layout 4); the head unchanged.
    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "ACNETBIN",
        verWrittenCur: ModelFormat.Current,
        verReadableCur: ModelFormat.Current,
        verWeCanReadBack: ModelFormat.Version21,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AutoClipNetBinaryModelParameters).Assembly.FullName);

    private protected override VersionInfo CurrentVersion => GetVersionInfo();

    internal static AutoClipNetBinaryModelParameters Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        ModelVersions.CheckAtModel(ctx, GetVersionInfo(), "AutoClipNet binary classification network");
        return new AutoClipNetBinaryModelParameters(env, ctx);
    }
}
