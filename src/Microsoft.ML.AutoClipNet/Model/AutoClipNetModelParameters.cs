using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Model.Legacy;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

[assembly: LoadableClass(typeof(AutoClipNetModelParameters), null, typeof(SignatureLoadModel),
    "AutoClipNet regression network", AutoClipNetModelParameters.LoaderSignature)]

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// A trained AutoClipNet regression network (<see cref="AutoClipNetTrainer"/>): its outputs are mapped
/// back to the label's scale (the label's standardization is saved with the model) and clamped to the training labels'
/// range. Scores one row at a time in managed code and batches of rows with TorchSharp (in <see cref="AutoClipNetPredictionTransformer.Transform"/>).
/// </summary>
public sealed class AutoClipNetModelParameters : AutoClipNetModelParametersBase<float>
{
    internal const string LoaderSignature = "AutoClipNetRegression";
    internal const string RegistrationName = "AutoClipNetModel";

    internal AutoClipNetModelParameters(IHostEnvironment env, Network.NetworkDescription network, RegressionHead head, AutoClipperState? autoClipState,
        IReadOnlyList<AutoClipNetTrainingHistory> histories)
        : base(env, RegistrationName, network, head, autoClipState, histories)
    {
    }

    private AutoClipNetModelParameters(IHostEnvironment env, ModelLoadContext ctx)
        : base(env, RegistrationName, ctx)
    {
        if (ctx.Header.ModelVerWritten < ModelFormat.Version21)
        {
            // Format 1.1: the released network as one layer that gives the score itself (its label mapping included).
            string where = StreamName(ctx, ModelLoadContext.ModelStreamName);
            var (network, state, history) = Format11.Read(ctx.Reader, where);
            CheckModelRegionRead(ctx, where);
            SetContent(new Network.NetworkDescription(network.FeatureCount, new Network.Layer[] { network }), RegressionHead.Identity, state, new[] { history });
            return;
        }
        LoadContent(ctx);
    }

    private RegressionHead RegressionHead => (RegressionHead)Head;

    /// <summary>The released format 1.1 network, when this model is one (it is saved in its own format again).</summary>
    private Format11Layer? Released => Network.Layers[0] as Format11Layer;

    /// <summary>The range predictions are clipped to (the training labels' range), or (−∞, ∞) when they are not.</summary>
    public (float Minimum, float Maximum) PredictionRange => (RegressionHead.Minimum, RegressionHead.Maximum);

    /// <summary>The label's mean and standard deviation: a network output z is reported as z × scale + mean.</summary>
    public (float Mean, float Scale) LabelStandardization => Released?.LabelStandardization ?? (RegressionHead.LabelMean, RegressionHead.LabelScale);

    /// <summary>
    /// The prediction interval the model outputs as <c>LowerBound</c> = Score − HalfWidth and <c>UpperBound</c> = Score + HalfWidth,
    /// calibrated (split conformal) so that a share <c>Coverage</c> of new rows' labels falls inside; null for a model without one
    /// (trained with PredictionIntervalCoverage null, or saved before format 2.5).
    /// </summary>
    public (float Coverage, float HalfWidth)? PredictionInterval
        => RegressionHead.HasInterval ? (RegressionHead.IntervalCoverage, RegressionHead.IntervalHalfWidth) : null;

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.Regression;

    // Contributions explain the score before the clamp to the training labels' range: z × scale + mean.
    private protected override float ContributionScale => LabelStandardization.Scale;

    private protected override float ContributionOffset => LabelStandardization.Mean;

    private protected override DataViewType OutputType => NumberDataViewType.Single;

    private protected override AutoClipNetTask Task => RegressionTask.Instance;

    private protected override void Map(in VBuffer<float> features, ref float output)
    {
        Span<float> outputs = stackalloc float[1];
        ForwardRow(features, outputs);
        output = ToScore(outputs[0]);
    }

    /// <summary>A network output as a score (the head: z·scale + mean, clipped to the prediction range).</summary>
    internal float ToScore(float output) => RegressionHead.ToScore(output);

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
    //   0x00020004  2.4: the head unchanged; ensembles and piecewise-linear encodings (Model/ModelFormat.cs; history layout 4).
    //   0x00020005  2.5: head + float interval coverage (0: none), float interval half-width; the missing-values layer.
    // The head's fields are read and written by the task (Tasks/Regression.cs).

    private static VersionInfo GetVersionInfo(bool legacy = false) => new(
        modelSignature: "ACLIPNET",
        verWrittenCur: legacy ? Format11.Version : ModelFormat.Current,
        verReadableCur: legacy ? Format11.Version : ModelFormat.Current,
        verWeCanReadBack: Format11.Version,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AutoClipNetModelParameters).Assembly.FullName);

    private protected override VersionInfo CurrentVersion => GetVersionInfo();

    /// <summary>A model of format 1.1 is written again as the release wrote it.</summary>
    private protected override bool SaveInOlderFormat(ModelSaveContext ctx)
    {
        if (Released is not { } legacy)
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
