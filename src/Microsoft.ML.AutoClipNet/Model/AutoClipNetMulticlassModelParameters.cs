using System;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.AutoClipNet.Model;
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

    internal AutoClipNetMulticlassModelParameters(IHostEnvironment env, Network.NetworkDescription network, AutoClipperState? autoClipState, System.Collections.Generic.IReadOnlyList<AutoClipNetTrainingHistory> histories)
        : base(env, RegistrationName, new DescribedNetwork(network), autoClipState, histories)
    {
        SetClassCount(network.OutputSize, network.OutputSize);
    }

    private AutoClipNetMulticlassModelParameters(IHostEnvironment env, ModelLoadContext ctx)
        : base(env, RegistrationName, ctx)
    {
        var head = LoadContent(ctx);
        if (head.Length != sizeof(int))
        {
            throw new InvalidDataException($"The AutoClipNet model in this file is corrupt: its multiclass header holds {head.Length} bytes, not 4.");
        }
        SetClassCount(BitConverter.ToInt32(head), Network.OutputCount);
    }

    private void SetClassCount(int classes, int outputs)
    {
        if (classes < 2 || classes != outputs)
        {
            throw new InvalidDataException($"A multiclass network of {classes} classes needs as many outputs (it has {outputs}), and at least two.");
        }
        ClassCount = classes;
        _outputType = new VectorDataViewType(NumberDataViewType.Single, classes);
    }

    /// <summary>The number of classes (the width of the Score column).</summary>
    public int ClassCount { get; private set; }

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.MulticlassClassification;

    private protected override DataViewType OutputType => _outputType;

    private protected override ModelTask Task => ModelTask.Multiclass;

    private protected override void Map(in VBuffer<float> features, ref VBuffer<float> output)
    {
        int k = ClassCount;
        var editor = VBufferEditor.Create(ref output, k);
        ForwardRow(features, editor.Values);
        Softmax(editor.Values);
        output = editor.Commit();
    }

    /// <summary>The softmax in place, in a fixed order: exp(z − max) / Σ.</summary>
    internal static void Softmax(Span<float> values)
    {
        float max = float.NegativeInfinity;
        foreach (float v in values)
        {
            max = Math.Max(max, v);
        }
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = MathF.Exp(values[i] - max);
            sum += values[i];
        }
        float inverse = (float)(1 / sum);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] *= inverse;
        }
    }

    /// <summary>ML.NET's multiclass scorer asks for [PredictedLabel, Score], as from its own multiclass models.</summary>
    private protected override void SaveHeadAsOnnx(Network.IOnnxGraph graph, string raw, string[] outputNames)
    {
        if (outputNames.Length != 2)
        {
            throw new InvalidOperationException($"ML.NET asked a multiclass model for {outputNames.Length} ONNX outputs ({string.Join(", ", outputNames)}); AutoClipNet writes PredictedLabel and Score.");
        }
        OnnxHeads.Multiclass(graph, raw, outputNames[0], outputNames[1]);
    }

    // Format history (model signature ACNETMCL): 0x00020001 2.1, the first (Model/ModelFormat.cs); head = int class count.
    //   0x00020002 2.2: history layout 2 (Model/ModelFormat.cs); the head unchanged.
    //   0x00020003 2.3: history layout 3 (the detail kept, exact counts); the head unchanged.
    //   0x00020004 2.4: ensembles (Model/ModelFormat.cs; history layout 4); the head unchanged.
    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "ACNETMCL",
        verWrittenCur: ModelFormat.Current,
        verReadableCur: ModelFormat.Current,
        verWeCanReadBack: ModelFormat.Version21,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AutoClipNetMulticlassModelParameters).Assembly.FullName);

    private protected override byte[] WriteHead() => BitConverter.GetBytes(ClassCount);

    private protected override VersionInfo CurrentVersion => GetVersionInfo();

    internal static AutoClipNetMulticlassModelParameters Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        ModelVersions.CheckAtModel(ctx, GetVersionInfo(), "AutoClipNet multiclass classification network");
        return new AutoClipNetMulticlassModelParameters(env, ctx);
    }
}
