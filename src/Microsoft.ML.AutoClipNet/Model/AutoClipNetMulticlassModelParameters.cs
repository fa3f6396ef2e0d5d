using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

[assembly: LoadableClass(typeof(AutoClipNetMulticlassModelParameters), null, typeof(SignatureLoadModel),
    "AutoClipNet multiclass classification network", AutoClipNetMulticlassModelParameters.LoaderSignature)]

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// A trained AutoClipNet multiclass network (<see cref="AutoClipNetMulticlassTrainer"/>): it maps a
/// feature vector to the probabilities of the classes (the softmax of its K outputs), which ML.NET
/// reports as the <c>Score</c> vector; <c>PredictedLabel</c> is the most probable class.
/// </summary>
public sealed class AutoClipNetMulticlassModelParameters : AutoClipNetModelParametersBase<VBuffer<float>>
{
    internal const string LoaderSignature = "AutoClipNetMulticlass";
    internal const string RegistrationName = "AutoClipNetMulticlassModel";

    private DataViewType _outputType = null!;

    internal AutoClipNetMulticlassModelParameters(IHostEnvironment env, Network.NetworkDescription network, MulticlassHead head, AutoClipperState? autoClipState,
        System.Collections.Generic.IReadOnlyList<AutoClipNetTrainingHistory> histories)
        : base(env, RegistrationName, network, head, autoClipState, histories)
    {
        _outputType = new VectorDataViewType(NumberDataViewType.Single, ClassCount);
    }

    private AutoClipNetMulticlassModelParameters(IHostEnvironment env, ModelLoadContext ctx)
        : base(env, RegistrationName, ctx)
    {
        LoadContent(ctx);
        _outputType = new VectorDataViewType(NumberDataViewType.Single, ClassCount);
    }

    /// <summary>The number of classes (the width of the Score column).</summary>
    public int ClassCount => MulticlassHead.ClassCount;

    /// <summary>
    /// The factor s of the logits before the softmax, Score = softmax(s·z): the inverse temperature fitted on the validation
    /// rows (temperature scaling; <see cref="AutoClipNetMulticlassTrainer.Options.CalibrateProbabilities"/>), 1 without it.
    /// </summary>
    public float ProbabilitySlope => MulticlassHead.Slope;

    private MulticlassHead MulticlassHead => (MulticlassHead)Head;

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.MulticlassClassification;

    private protected override DataViewType OutputType => _outputType;

    private protected override AutoClipNetTask Task => MulticlassTask.Instance;

    // Contributions explain the predicted class's logit before the softmax, s·z_c (the class with the highest score).
    private protected override float ContributionScale => ProbabilitySlope;

    private protected override int ExplainedOutput(ReadOnlySpan<float> outputs)
    {
        int best = 0;
        for (int c = 1; c < outputs.Length; c++)
        {
            if (outputs[c] > outputs[best])
            {
                best = c;
            }
        }
        return best;
    }

    private protected override void Map(in VBuffer<float> features, ref VBuffer<float> output)
    {
        int k = ClassCount;
        var editor = VBufferEditor.Create(ref output, k);
        ForwardRow(features, editor.Values);
        MulticlassHead.ToProbabilities(editor.Values);
        output = editor.Commit();
    }

    // Format history (model signature ACNETMCL): 0x00020001 2.1, the first (Model/ModelFormat.cs); head = int class count.
    //   0x00020002 2.2: history layout 2 (Model/ModelFormat.cs); the head unchanged.
    //   0x00020003 2.3: history layout 3 (the detail kept, exact counts); the head unchanged.
    //   0x00020004 2.4: ensembles and piecewise-linear encodings (Model/ModelFormat.cs; history layout 4); the head unchanged.
    //   0x00020005 2.5: missing values in the network (Model/ModelFormat.cs); the head adds float slope (temperature scaling).
    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "ACNETMCL",
        verWrittenCur: ModelFormat.Current,
        verReadableCur: ModelFormat.Current,
        verWeCanReadBack: ModelFormat.Version21,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AutoClipNetMulticlassModelParameters).Assembly.FullName);

    private protected override VersionInfo CurrentVersion => GetVersionInfo();

    internal static AutoClipNetMulticlassModelParameters Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        ModelVersions.CheckAtModel(ctx, GetVersionInfo(), "AutoClipNet multiclass classification network");
        return new AutoClipNetMulticlassModelParameters(env, ctx);
    }
}
