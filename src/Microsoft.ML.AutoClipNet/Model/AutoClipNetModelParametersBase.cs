using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Model.Legacy;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// What every trained AutoClipNet network offers, whatever its task (implemented by
/// <see cref="AutoClipNetModelParametersBase{TOutput}"/>): code that handles models of every task can use this.
/// </summary>
public interface IAutoClipNetModel
{
    /// <summary>Number of input features.</summary>
    int FeatureCount { get; }

    /// <summary>Sizes of the hidden dense layers.</summary>
    IReadOnlyList<int> HiddenLayerSizes { get; }

    /// <summary>The nonlinearity after each hidden layer.</summary>
    AutoClipNetActivation Activation { get; }

    /// <summary>Number of trained values (weights, biases, embeddings, scales).</summary>
    long ParameterCount { get; }

    /// <summary>The layers in order, for example "26 → feature transform 26 → dense 26→64 → ReLU → dense 64→1".</summary>
    string Layers { get; }

    /// <summary>A copy of the weights of dense layer <paramref name="layer"/> (row-major, outputs × inputs).</summary>
    float[] GetWeights(int layer);

    /// <summary>A copy of the biases of dense layer <paramref name="layer"/>.</summary>
    float[] GetBiases(int layer);

    /// <summary>Per-feature centers subtracted before the network.</summary>
    IReadOnlyList<float> FeatureMeans { get; }

    /// <summary>Per-feature factors applied after the center is subtracted.</summary>
    IReadOnlyList<float> FeatureScales { get; }

    /// <summary>The AutoClip state at the end of training (null when AutoClip was not used).</summary>
    AutoClipperState? AutoClipState { get; }

    /// <summary>Every training step, the per-epoch losses and the diagnostics (of an ensemble's first member).</summary>
    AutoClipNetTrainingHistory TrainingHistory { get; }

    /// <summary>The number of networks whose outputs the model averages (1: a single network).</summary>
    int EnsembleSize { get; }

    /// <summary>Every ensemble member's training history, the first being <see cref="TrainingHistory"/> (one for a single network).</summary>
    IReadOnlyList<AutoClipNetTrainingHistory> MemberTrainingHistories { get; }
}

/// <summary>
/// What every trained AutoClipNet network offers, whatever its task: the architecture and weights,
/// the preprocessing learned from the training data, the AutoClip state at the end of training and
/// the training history. Scores one row at a time in managed code (no tensors; the same bits in
/// every process).
/// </summary>
/// <typeparam name="TOutput">What the model maps a feature vector to: a Single (regression, binary) or a vector (multiclass).</typeparam>
public abstract class AutoClipNetModelParametersBase<TOutput> : ModelParametersBase<TOutput>, IValueMapper, IAutoClipNetModel, IDisposable, ISingleCanSaveOnnx
{
    [ThreadStatic]
    private static float[]? t_scratch;

    private IModelNetwork _network = null!;
    private VectorDataViewType _inputType = null!;

    private protected AutoClipNetModelParametersBase(IHostEnvironment env, string registrationName, IModelNetwork network, AutoClipperState? autoClipState,
        IReadOnlyList<AutoClipNetTrainingHistory> histories)
        : base(env, registrationName)
    {
        SetContent(network, autoClipState, histories);
    }

    /// <summary>For loading: the derived class reads its stream and calls <see cref="SetContent"/>.</summary>
    private protected AutoClipNetModelParametersBase(IHostEnvironment env, string registrationName, ModelLoadContext ctx)
        : base(env, registrationName, ctx)
    {
    }

    /// <summary>The network, the first member's AutoClip state and every member's history (one per member of the network's ensemble).</summary>
    private protected void SetContent(IModelNetwork network, AutoClipperState? autoClipState, IReadOnlyList<AutoClipNetTrainingHistory> histories)
    {
        int members = network.Description?.EnsembleSize ?? 1;
        if (histories.Count != members)
        {
            throw new InvalidDataException($"A network of {members} members comes with {histories.Count} training histories.");
        }
        _network = network;
        AutoClipState = autoClipState;
        MemberTrainingHistories = histories.ToArray();
        _inputType = new VectorDataViewType(NumberDataViewType.Single, network.FeatureCount);
    }

    /// <summary>Number of input features.</summary>
    public int FeatureCount => _network.FeatureCount;

    /// <summary>Sizes of the hidden dense layers.</summary>
    public IReadOnlyList<int> HiddenLayerSizes => _network.HiddenLayerSizes;

    /// <summary>The nonlinearity after each hidden layer.</summary>
    public AutoClipNetActivation Activation => _network.Activation;

    /// <summary>Number of trained values (weights, biases, embeddings, scales).</summary>
    public long ParameterCount => _network.ParameterCount;

    /// <summary>The layers in order, for example "26 → feature transform 26 → dense 26→64 → ReLU → dense 64→1".</summary>
    public string Layers => _network.Description?.ToString() ?? $"{FeatureCount} → standardization → {string.Join(" → ", HiddenLayerSizes)} ({Activation}) → 1";

    /// <summary>A copy of the weights of dense layer <paramref name="layer"/> (row-major, outputs × inputs).</summary>
    public float[] GetWeights(int layer) => _network.GetWeights(CheckLayer(layer));

    /// <summary>A copy of the biases of dense layer <paramref name="layer"/>.</summary>
    public float[] GetBiases(int layer) => _network.GetBiases(CheckLayer(layer));

    /// <summary>Per-feature centers subtracted before the network (means, or medians with robust scaling; zeros without preprocessing).</summary>
    public IReadOnlyList<float> FeatureMeans => _network.FeaturePreprocessing.Center;

    /// <summary>Per-feature factors applied after the center is subtracted (1/std, 1/IQR, or ones).</summary>
    public IReadOnlyList<float> FeatureScales => _network.FeaturePreprocessing.Scale;

    /// <summary>The AutoClip state at the end of training (null when AutoClip was not used).</summary>
    public AutoClipperState? AutoClipState { get; private set; }

    /// <summary>Every training step, the per-epoch losses and the diagnostics (of an ensemble's first member: see <see cref="MemberTrainingHistories"/>).</summary>
    public AutoClipNetTrainingHistory TrainingHistory => MemberTrainingHistories[0];

    /// <summary>The number of networks whose outputs the model averages (1: a single network; see <see cref="AutoClipNetOptionsBase.EnsembleSize"/>).</summary>
    public int EnsembleSize => _network.Description?.EnsembleSize ?? 1;

    /// <summary>Every ensemble member's training history, in member order, the first being <see cref="TrainingHistory"/> (one for a single network).</summary>
    public IReadOnlyList<AutoClipNetTrainingHistory> MemberTrainingHistories { get; private set; } = Array.Empty<AutoClipNetTrainingHistory>();

    internal IModelNetwork Network => _network;

    private int CheckLayer(int layer)
    {
        if (layer < 0 || layer >= _network.DenseLayerCount)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"The network has dense layers 0 to {_network.DenseLayerCount - 1}.");
        }
        return layer;
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
        int needed = f + _network.ScratchSize;
        var scratch = t_scratch;
        if (scratch is null || scratch.Length < needed)
        {
            t_scratch = scratch = new float[needed];
        }
        var input = scratch.AsSpan(0, f);
        features.CopyTo(input);
        _network.Forward(input, outputs, scratch.AsSpan(f, _network.ScratchSize));
    }

    // ---------------------------------------------------------------------------------------------
    // ONNX export (mlContext.Model.ConvertToOnnx): the network's layers (Layer.SaveAsOnnx), then the task's head.

    bool ICanSaveOnnx.CanSaveOnnx(OnnxContext ctx) => true;

    bool ISingleCanSaveOnnx.SaveAsOnnx(OnnxContext ctx, string[] outputNames, string featureColumn)
    {
        Host.CheckValue(ctx, nameof(ctx));
        var graph = new OnnxContextGraph(ctx);
        string raw;
        if (_network.Description is { } description)
        {
            raw = description.SaveAsOnnx(graph, featureColumn);
        }
        else
        {
            raw = ((Format11Network)_network).SaveAsOnnx(graph, featureColumn); // a released format 1.1 model
        }
        SaveHeadAsOnnx(graph, raw, outputNames);
        return true;
    }

    /// <summary>Writes the task's outputs (<paramref name="outputNames"/>, in ML.NET's order) from the raw outputs <paramref name="raw"/>.</summary>
    private protected abstract void SaveHeadAsOnnx(Network.IOnnxGraph graph, string raw, string[] outputNames);

    /// <summary>Creates a LibTorch scorer of the network's raw outputs for batches of up to <paramref name="capacity"/> rows.</summary>
    internal Network.IBatchScorer CreateBatchScorer(int capacity) => _network.CreateBatchScorer(capacity);

    void IDisposable.Dispose() => _network.Dispose();

    // ---------------------------------------------------------------------------------------------
    // Persistence inside ML.NET's model zip (layout: see ModelFormat).

    private protected abstract ModelTask Task { get; }

    /// <summary>The model signature and format version this class writes (see each task's format history).</summary>
    private protected abstract VersionInfo CurrentVersion { get; }

    /// <summary>The task's own fields, stored in the model's header block.</summary>
    private protected abstract byte[] WriteHead();

    /// <summary>Writes a model that keeps an older format (a loaded format 1.1 model) and returns true; false for format 2.1.</summary>
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
        var description = _network.Description ?? throw new InvalidOperationException("A model of format 1.1 is saved in format 2.1 only after conversion.");
        bool historyStream = ctx.InRepository;
        ModelFormat.WriteMain(ctx.Writer, Task, description, WriteHead(), AutoClipState, MemberTrainingHistories, historyStream);
        if (historyStream)
        {
            ctx.SaveBinaryStream(ModelFormat.HistoryStream, w => ModelFormat.WriteHistory(w, MemberTrainingHistories));
        }
    }

    /// <summary>Reads a format 2.1 model; returns the task's own fields for the derived class.</summary>
    private protected byte[] LoadContent(ModelLoadContext ctx)
    {
        string where = StreamName(ctx, ModelLoadContext.ModelStreamName);
        var (network, head, state, summaries, historyStream) = ModelFormat.ReadMain(ctx.Reader, Task, where, ctx.Header.ModelVerWritten);
        var histories = summaries.Select(summary => new AutoClipNetTrainingHistory(Array.Empty<AutoClipNetTrainingStep>(), Array.Empty<AutoClipNetEpoch>(), Array.Empty<AutoClipNetDiagnostic>(),
            summary.BestEpoch, summary.TrainingRows, summary.ValidationRows, summary.DroppedRows)).ToArray();
        if (historyStream)
        {
            string historyWhere = StreamName(ctx, ModelFormat.HistoryStream);
            if (!ctx.InRepository || !ctx.TryLoadBinaryStream(ModelFormat.HistoryStream, r => histories = ModelFormat.ReadHistory(r, historyWhere, summaries)))
            {
                network.Dispose();
                throw new InvalidDataException($"The AutoClipNet model in this file is corrupt: {historyWhere} is missing.");
            }
        }
        SetContent(new DescribedNetwork(network), state, histories);
        return head;
    }

    private static string StreamName(ModelLoadContext ctx, string stream)
        => string.IsNullOrEmpty(ctx.Directory) ? $"the stream '{stream}'" : $"the stream '{ctx.Directory}/{stream}'";
}
