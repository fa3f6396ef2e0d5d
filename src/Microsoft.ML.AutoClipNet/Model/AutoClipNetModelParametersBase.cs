using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.AutoClipNet;

/// <summary>What a trainer continues from (warm start): the network, its head and AutoClip's saved state.</summary>
internal interface IContinuableModel
{
    NetworkDescription Network { get; }

    ScoreHead Head { get; }

    AutoClipperState? AutoClipState { get; }
}

/// <summary>
/// What every trained AutoClipNet network offers, whatever its task (implemented by
/// <see cref="AutoClipNetModelParametersBase{TOutput}"/>): code that handles models of every task can use this.
/// </summary>
public interface IAutoClipNetModel
{
    /// <summary>Number of input features.</summary>
    int FeatureCount { get; }

    /// <summary>The network as its layers, in order; an ensemble's layer holds every member network (<see cref="AutoClipNetLayer.Members"/>).</summary>
    IReadOnlyList<AutoClipNetLayer> NetworkLayers => throw new NotSupportedException($"{GetType().Name} does not describe its layers.");

    /// <summary>Number of trained values (weights, biases, embeddings, scales) of every member.</summary>
    long ParameterCount { get; }

    /// <summary>The layers in order, for example "26 → feature transform 26 → dense 26→64 → ReLU → dense 64→1".</summary>
    string Layers { get; }

    /// <summary>How the features are scaled before the network (the scaling the model was trained with).</summary>
    AutoClipNetFeatureScaling FeatureScaling => throw new NotSupportedException($"{GetType().Name} does not say how it scales its features.");

    /// <summary>
    /// Per-feature centers subtracted before the network: the training rows' medians under robust scaling (the default),
    /// their means under standardization, zeros without scaling.
    /// </summary>
#pragma warning disable CS0618 // the members added later default to the ones an implementation of the first interface has
    IReadOnlyList<float> FeatureCenters => FeatureMeans;
#pragma warning restore CS0618

    /// <summary>Per-feature factors applied after the center is subtracted (1/IQR, 1/std, or ones).</summary>
    IReadOnlyList<float> FeatureScales { get; }

    /// <summary>The AutoClip state at the end of training (null when AutoClip was not used).</summary>
    AutoClipperState? AutoClipState { get; }

    /// <summary>Every training step, the per-epoch losses and the diagnostics (of an ensemble's first member).</summary>
    AutoClipNetTrainingHistory TrainingHistory { get; }

    /// <summary>The number of networks whose outputs the model averages (1: a single network).</summary>
    int EnsembleSize { get; }

    /// <summary>Every ensemble member's training history, the first being <see cref="TrainingHistory"/> (one for a single network).</summary>
    IReadOnlyList<AutoClipNetTrainingHistory> MemberTrainingHistories { get; }

    /// <summary>Sizes of the hidden dense layers of the first ensemble member.</summary>
    [Obsolete("Describes the first ensemble member only. Use NetworkLayers, which describes every layer of every member.")]
    IReadOnlyList<int> HiddenLayerSizes { get; }

    /// <summary>The nonlinearity after each hidden layer of the first ensemble member.</summary>
    [Obsolete("Describes the first ensemble member only. Use NetworkLayers (the Activation of each activation layer).")]
    AutoClipNetActivation Activation { get; }

    /// <summary>A copy of the weights of dense layer <paramref name="layer"/> of the first ensemble member (row-major, outputs × inputs).</summary>
    [Obsolete("Describes the first ensemble member only. Use NetworkLayers and GetValues(\"weight\") of a dense layer.")]
    float[] GetWeights(int layer);

    /// <summary>A copy of the biases of dense layer <paramref name="layer"/> of the first ensemble member.</summary>
    [Obsolete("Describes the first ensemble member only. Use NetworkLayers and GetValues(\"bias\") of a dense layer.")]
    float[] GetBiases(int layer);

    /// <summary>Per-feature centers subtracted before the network (medians under the default robust scaling).</summary>
    [Obsolete("Holds the centers: the medians under the default robust scaling, not means. Use FeatureCenters.")]
    IReadOnlyList<float> FeatureMeans { get; }
}

/// <summary>
/// What every trained AutoClipNet network offers, whatever its task: the network as its layers, the preprocessing learned from
/// the training data, the AutoClip state at the end of training and the training history. Scores one row at a time in managed
/// code (no tensors; the same bits in every process) and batches through LibTorch; the task's head (Tasks/) turns the network's
/// raw outputs into the task's output.
/// </summary>
/// <typeparam name="TOutput">What the model maps a feature vector to: a Single (regression, binary) or a vector (multiclass).</typeparam>
public abstract class AutoClipNetModelParametersBase<TOutput> : ModelParametersBase<TOutput>, IValueMapper, IAutoClipNetModel, IDisposable, ISingleCanSaveOnnx,
    ICalculateFeatureContribution, IFeatureContributionMapper, IContinuableModel
{
    [ThreadStatic]
    private static float[]? t_scratch;

    private NetworkDescription _network = null!;
    private ScoreHead _head = null!;
    private IReadOnlyList<AutoClipNetLayer>? _layers;
    private VectorDataViewType _inputType = null!;
    private readonly object _explainerGate = new();
    private Training.IntegratedGradients? _explainer;

    private protected AutoClipNetModelParametersBase(IHostEnvironment env, string registrationName, NetworkDescription network, ScoreHead head,
        AutoClipperState? autoClipState, IReadOnlyList<AutoClipNetTrainingHistory> histories)
        : base(env, registrationName)
    {
        SetContent(network, head, autoClipState, histories);
    }

    /// <summary>For loading: the derived class reads its stream and calls <see cref="LoadContent"/> (or <see cref="SetContent"/>).</summary>
    private protected AutoClipNetModelParametersBase(IHostEnvironment env, string registrationName, ModelLoadContext ctx)
        : base(env, registrationName, ctx)
    {
    }

    /// <summary>The network, its head, the first member's AutoClip state and every member's history (one per member of the network's ensemble).</summary>
    private protected void SetContent(NetworkDescription network, ScoreHead head, AutoClipperState? autoClipState, IReadOnlyList<AutoClipNetTrainingHistory> histories)
    {
        if (histories.Count != network.EnsembleSize)
        {
            throw new InvalidDataException($"A network of {network.EnsembleSize} members comes with {histories.Count} training histories.");
        }
        if (head.Outputs != network.OutputSize)
        {
            throw new InvalidDataException($"The {Task.Name} head reads {head.Outputs} outputs; the network gives {network.OutputSize}.");
        }
        _network = network;
        _head = head;
        AutoClipState = autoClipState;
        MemberTrainingHistories = histories.ToArray();
        _inputType = new VectorDataViewType(NumberDataViewType.Single, network.InputSize);
    }

    /// <summary>Number of input features.</summary>
    public int FeatureCount => _network.InputSize;

    /// <summary>The network as its layers, in order; an ensemble's layer holds every member network (<see cref="AutoClipNetLayer.Members"/>).</summary>
    public IReadOnlyList<AutoClipNetLayer> NetworkLayers => _layers ??= AutoClipNetLayer.Describe(_network);

    /// <summary>Number of trained values (weights, biases, embeddings, scales) of every member.</summary>
    public long ParameterCount => _network.ParameterCount;

    /// <summary>The layers in order, for example "26 → feature transform 26 → dense 26→64 → ReLU → dense 64→1".</summary>
    public string Layers => _network.ToString();

    /// <summary>How the features are scaled before the network: robust scaling (clipped features), standardization, or none.</summary>
    public AutoClipNetFeatureScaling FeatureScaling => Preprocessing() switch
    {
        null => AutoClipNetFeatureScaling.None,
        var t when t.Clip.Any(c => c) => AutoClipNetFeatureScaling.RobustSmoothClip,
        _ => AutoClipNetFeatureScaling.Standardize,
    };

    /// <summary>
    /// Per-feature centers subtracted before the network: the training rows' medians under robust scaling (the default),
    /// their means under standardization, zeros without scaling.
    /// </summary>
    public IReadOnlyList<float> FeatureCenters => Preprocessing()?.Center.Take(FeatureCount).ToArray() ?? new float[FeatureCount];

    /// <summary>Per-feature factors applied after the center is subtracted (1/IQR, 1/std, or ones).</summary>
    public IReadOnlyList<float> FeatureScales => Preprocessing()?.Scale.Take(FeatureCount).ToArray() ?? Enumerable.Repeat(1f, FeatureCount).ToArray();

    /// <summary>Per-feature centers subtracted before the network (medians under the default robust scaling).</summary>
    [Obsolete("Holds the centers: the medians under the default robust scaling, not means. Use FeatureCenters.")]
    public IReadOnlyList<float> FeatureMeans => FeatureCenters;

    /// <summary>Sizes of the hidden dense layers of the first ensemble member.</summary>
    [Obsolete("Describes the first ensemble member only. Use NetworkLayers, which describes every layer of every member.")]
    public IReadOnlyList<int> HiddenLayerSizes => FirstMemberDense().SkipLast(1).Select(d => d.OutputSize).ToArray();

    /// <summary>The nonlinearity after each hidden layer of the first ensemble member.</summary>
    [Obsolete("Describes the first ensemble member only. Use NetworkLayers (the Activation of each activation layer).")]
    public AutoClipNetActivation Activation => _network.Layers[0] is Model.Legacy.Format11Layer released ? released.Activation
        : FirstMember(_network).OfType<ActivationLayer>().Select(a => a.Activation).FirstOrDefault();

    /// <summary>A copy of the weights of dense layer <paramref name="layer"/> of the first ensemble member (row-major, outputs × inputs).</summary>
    [Obsolete("Describes the first ensemble member only. Use NetworkLayers and GetValues(\"weight\") of a dense layer.")]
    public float[] GetWeights(int layer) => DenseLayer(layer).Weights.ToArray();

    /// <summary>A copy of the biases of dense layer <paramref name="layer"/> of the first ensemble member.</summary>
    [Obsolete("Describes the first ensemble member only. Use NetworkLayers and GetValues(\"bias\") of a dense layer.")]
    public float[] GetBiases(int layer) => DenseLayer(layer).Bias.ToArray();

    /// <summary>The AutoClip state at the end of training (null when AutoClip was not used).</summary>
    public AutoClipperState? AutoClipState { get; private set; }

    /// <summary>Every training step, the per-epoch losses and the diagnostics (of an ensemble's first member: see <see cref="MemberTrainingHistories"/>).</summary>
    public AutoClipNetTrainingHistory TrainingHistory => MemberTrainingHistories[0];

    /// <summary>The number of networks whose outputs the model averages (1: a single network; see <see cref="AutoClipNetOptionsBase.EnsembleSize"/>).</summary>
    public int EnsembleSize => _network.EnsembleSize;

    /// <summary>Every ensemble member's training history, in member order, the first being <see cref="TrainingHistory"/> (one for a single network).</summary>
    public IReadOnlyList<AutoClipNetTrainingHistory> MemberTrainingHistories { get; private set; } = Array.Empty<AutoClipNetTrainingHistory>();

    internal NetworkDescription Network => _network;

    /// <summary>The task's head: the network's raw outputs to the task's score.</summary>
    private protected ScoreHead Head => _head;

    ScoreHead IContinuableModel.Head => _head;

    NetworkDescription IContinuableModel.Network => _network;

    /// <summary>The layers of the first member: an ensemble's first member, a released network's equivalent layers, each layer in turn.</summary>
    private static IEnumerable<Layer> FirstMember(NetworkDescription network)
        => network.Layers.SelectMany(l => l.Parts.Count > 0 ? FirstMember(l.Parts[0]) : new[] { l });

    /// <summary>The feature transform the network (or its first member) starts with, after its missing-value layer if any.</summary>
    private FeatureTransformLayer? Preprocessing() => FirstMember(_network).SkipWhile(l => l is MissingValuesLayer).FirstOrDefault() as FeatureTransformLayer;

    private IReadOnlyList<DenseLayer> FirstMemberDense() => FirstMember(_network).OfType<DenseLayer>().ToArray();

    private DenseLayer DenseLayer(int layer)
    {
        var dense = FirstMemberDense();
        if (layer < 0 || layer >= dense.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"The network has dense layers 0 to {dense.Count - 1}.");
        }
        return dense[layer];
    }

    DataViewType IValueMapper.InputType => _inputType;

    DataViewType IValueMapper.OutputType => OutputType;

    private protected abstract DataViewType OutputType { get; }

    ValueMapper<TIn, TOut> IValueMapper.GetMapper<TIn, TOut>()
    {
        if (typeof(TIn) != typeof(VBuffer<float>) || typeof(TOut) != typeof(TOutput))
        {
            throw new InvalidOperationException($"AutoClipNet maps VBuffer<Single> to {typeof(TOutput).Name}, not {typeof(TIn).Name} to {typeof(TOut).Name}.");
        }
        ValueMapper<VBuffer<float>, TOutput> mapper = Map;
        return (ValueMapper<TIn, TOut>)(Delegate)mapper;
    }

    /// <summary>Maps one feature vector to the task's output (via <see cref="ForwardRow"/>).</summary>
    private protected abstract void Map(in VBuffer<float> features, ref TOutput output);

    /// <summary>
    /// The network's raw outputs for one row, in managed code: <paramref name="outputs"/> receives
    /// OutputCount values. Allocation-free after the first call on a thread.
    /// </summary>
    private protected void ForwardRow(in VBuffer<float> features, Span<float> outputs)
    {
        int f = FeatureCount;
        if (features.Length != f)
        {
            throw new ArgumentOutOfRangeException(nameof(features), features.Length,
                $"The feature vector has {features.Length} values; this AutoClipNet model was trained on {f}.");
        }
        int scratchSize = 2 * _network.MaxWidth;
        int needed = f + scratchSize;
        var scratch = t_scratch;
        if (scratch is null || scratch.Length < needed)
        {
            t_scratch = scratch = new float[needed];
        }
        var input = scratch.AsSpan(0, f);
        features.CopyTo(input);
        _network.Forward(input, scratch.AsSpan(f, scratchSize)).CopyTo(outputs);
    }

    // ---------------------------------------------------------------------------------------------
    // Feature contributions (mlContext.Transforms.CalculateFeatureContribution): integrated gradients from a baseline row.

    /// <summary>
    /// The row feature contributions are measured from: each feature's training center, the value a missing feature is filled
    /// with (the median with the default robust scaling, the mean otherwise); for a network without a missing-values layer, the
    /// feature transform's center, or 0 without one. A row's contributions add up to its score minus this row's score (see
    /// <see cref="ContributionBaselineScore"/>): each network's (an ensemble's member's) within 1e-4 of max(1, its own output
    /// difference) in its output units, unless 512 quadrature points are not enough (kinked activations such as SELU's slow it).
    /// </summary>
    public IReadOnlyList<float> ContributionBaseline => Baseline();

    private float[] Baseline()
    {
        var first = _network.Layers.FirstOrDefault();
        if (first is MissingValuesLayer missing)
        {
            return missing.Fill.ToArray();
        }
        if (first is FeatureTransformLayer transform)
        {
            return transform.Center.ToArray();
        }
        return new float[FeatureCount];
    }

    /// <summary>
    /// The score the contributions are measured from: the model's score for <see cref="ContributionBaseline"/>, before a
    /// regression's clamp to the training labels' range and before the multiclass softmax (there: per class, the scaled logits).
    /// </summary>
    public float[] ContributionBaselineScore()
    {
        return ContributionScores(Baseline());
    }

    /// <summary>The unclamped scores behind a row's contributions: the network's outputs × <see cref="ContributionScale"/> + <see cref="ContributionOffset"/>.</summary>
    internal float[] ContributionScores(float[] features)
    {
        var outputs = new float[_network.OutputSize];
        ForwardRow(new VBuffer<float>(features.Length, features), outputs);
        float scale = ContributionScale;
        return outputs.Select(z => z * scale + ContributionOffset).ToArray();
    }

    /// <summary>Contributions are in the score's units: a network output z counts as z × this (the label's scale for regression).</summary>
    private protected virtual float ContributionScale => 1f;

    /// <summary>What is added to z × <see cref="ContributionScale"/> to give the unclamped score (the label's mean for regression).</summary>
    private protected virtual float ContributionOffset => 0f;

    /// <summary>The network output explained for a row with these outputs: the only one, or the predicted class's.</summary>
    private protected virtual int ExplainedOutput(ReadOnlySpan<float> outputs) => 0;

    FeatureContributionCalculator ICalculateFeatureContribution.FeatureContributionCalculator
    {
        get
        {
            CheckExplainable();
            return new(this);
        }
    }

    /// <summary>Explanations need the layers' training steps, which the released format 1.1 network has not.</summary>
    private void CheckExplainable()
    {
        if (_network.Layers.Any(l => l is Model.Legacy.Format11Layer))
        {
            throw new NotSupportedException("This model was saved in format 1.1, whose network cannot be explained. Train it again to explain its predictions.");
        }
    }

    ValueMapper<TSrc, VBuffer<float>> IFeatureContributionMapper.GetFeatureContributionMapper<TSrc, TDst>(int top, int bottom, bool normalize)
    {
        if (typeof(TSrc) != typeof(VBuffer<float>))
        {
            throw new InvalidOperationException($"AutoClipNet explains VBuffer<Single> feature vectors, not {typeof(TSrc).Name}.");
        }
        if (top < 0 || bottom < 0)
        {
            throw new ArgumentOutOfRangeException(top < 0 ? nameof(top) : nameof(bottom), top < 0 ? top : bottom, "The numbers of contributions kept must be 0 or more.");
        }
        CheckExplainable(); // a reloaded contribution transformer asks for the mapper directly
        int f = FeatureCount;
        float scale = ContributionScale;
        ValueMapper<VBuffer<float>, VBuffer<float>> map = (in VBuffer<float> features, ref VBuffer<float> contributions) =>
        {
            var outputs = new float[_network.OutputSize];
            ForwardRow(features, outputs); // checks the width
            var row = new float[f];
            features.CopyTo(row);
            var values = new float[f];
            // One explainer per model (its LibTorch buffers are freed with the model), one row at a time.
            lock (_explainerGate)
            {
                _explainer ??= new Training.IntegratedGradients(_network, Baseline());
                _explainer.Explain(row, ExplainedOutput(outputs), values);
            }
            var editor = VBufferEditor.Create(ref contributions, f);
            for (int j = 0; j < f; j++)
            {
                editor.Values[j] = values[j] * scale;
            }
            contributions = editor.Commit();
            Numeric.VectorUtils.SparsifyNormalize(ref contributions, top, bottom, normalize);
        };
        return (ValueMapper<TSrc, VBuffer<float>>)(Delegate)map;
    }

    // ---------------------------------------------------------------------------------------------
    // ONNX export (mlContext.Model.ConvertToOnnx): the network's layers (Layer.SaveAsOnnx), then the task's head.

    bool ICanSaveOnnx.CanSaveOnnx(OnnxContext ctx) => true;

    bool ISingleCanSaveOnnx.SaveAsOnnx(OnnxContext ctx, string[] outputNames, string featureColumn)
    {
        Host.CheckValue(ctx, nameof(ctx));
        var graph = new OnnxContextGraph(ctx);
        _head.SaveAsOnnx(graph, _network.SaveAsOnnx(graph, featureColumn), outputNames);
        return true;
    }

    /// <summary>Creates a LibTorch scorer of the network's raw outputs for batches of up to <paramref name="capacity"/> rows.</summary>
    internal IBatchScorer CreateBatchScorer(int capacity) => _network.CreateBatchScorer(capacity);

    void IDisposable.Dispose()
    {
        lock (_explainerGate)
        {
            _explainer?.Dispose();
            _explainer = null;
        }
        _network.Dispose();
    }

    // ---------------------------------------------------------------------------------------------
    // Persistence inside ML.NET's model zip (layout: see ModelFormat).

    /// <summary>The task (Tasks/): its stored number, its head's reader.</summary>
    private protected abstract AutoClipNetTask Task { get; }

    /// <summary>The model signature and format version this class writes (see each task's format history).</summary>
    private protected abstract VersionInfo CurrentVersion { get; }

    /// <summary>Writes a model that keeps an older format (a loaded format 1.1 model) and returns true; false for the current format.</summary>
    private protected virtual bool SaveInOlderFormat(ModelSaveContext ctx) => false;

    /// <inheritdoc/>
    protected override void SaveCore(ModelSaveContext ctx)
    {
        base.SaveCore(ctx);
        if (!SaveInOlderFormat(ctx))
        {
            ctx.SetVersionInfo(CurrentVersion);
            SaveContent(ctx);
        }
    }

    private void SaveContent(ModelSaveContext ctx)
    {
        bool historyStream = ctx.InRepository;
        ModelFormat.WriteMain(ctx.Writer, Task.Id, _network, _head.Write(), AutoClipState, MemberTrainingHistories, historyStream);
        if (historyStream)
        {
            ctx.SaveBinaryStream(ModelFormat.HistoryStream, w => ModelFormat.WriteHistory(w, MemberTrainingHistories));
        }
    }

    /// <summary>Reads a model of format 2.1 or later, its head through the task.</summary>
    private protected void LoadContent(ModelLoadContext ctx)
    {
        string where = StreamName(ctx, ModelLoadContext.ModelStreamName);
        uint version = ctx.Header.ModelVerWritten;
        var (network, head, state, summaries, historyStream) = ModelFormat.ReadMain(ctx.Reader, Task, where, version);
        try
        {
            CheckModelRegionRead(ctx, where);
            var histories = summaries.Select(summary => new AutoClipNetTrainingHistory(Array.Empty<AutoClipNetTrainingStep>(), Array.Empty<AutoClipNetEpoch>(),
                Array.Empty<AutoClipNetDiagnostic>(), summary.BestEpoch, summary.TrainingRows, summary.ValidationRows, summary.DroppedRows)).ToArray();
            if (historyStream)
            {
                string historyWhere = StreamName(ctx, ModelFormat.HistoryStream);
                if (!ctx.InRepository || !ctx.TryLoadBinaryStream(ModelFormat.HistoryStream, r => histories = ModelFormat.ReadHistory(r, historyWhere, summaries)))
                {
                    throw new InvalidDataException($"The AutoClipNet model in this file is corrupt: {historyWhere} is missing.");
                }
            }
            SetContent(network, head, state, histories);
        }
        catch (Exception e) when (ModelFormat.IsBadBytes(e))
        {
            network.Dispose();
            throw ModelFormat.Corrupt(where, e, truncated: false);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Throws the format's error unless the model's reader stopped exactly at the end of the region ML.NET's header gives the
    /// model in its stream (a count changed to a smaller or larger one would otherwise leave ML.NET to fail on the bytes after it).
    /// </summary>
    private protected static void CheckModelRegionRead(ModelLoadContext ctx, string where)
    {
        long end = ctx.FpMin + ctx.Header.FpModel + ctx.Header.CbModel;
        long position = ctx.Reader.BaseStream.Position;
        if (position != end)
        {
            throw new InvalidDataException($"The AutoClipNet model in this file is corrupt: {where}: the model ends {Math.Abs(end - position):N0} bytes {(position < end ? "before" : "after")} the end of its region.");
        }
    }

    private protected static string StreamName(ModelLoadContext ctx, string stream)
        => string.IsNullOrEmpty(ctx.Directory) ? $"the stream '{stream}'" : $"the stream '{ctx.Directory}/{stream}'";
}
