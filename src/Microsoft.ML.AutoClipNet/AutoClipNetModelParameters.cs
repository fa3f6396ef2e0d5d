using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.ML;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

[assembly: LoadableClass(typeof(AutoClipNetModelParameters), null, typeof(SignatureLoadModel),
    "AutoClipNet regression network", AutoClipNetModelParameters.LoaderSignature)]

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// A trained AutoClipNet network: its architecture, weights, the standardization learned from the
/// training data, the AutoClip state at the end of training, and the training history.
/// Scores one row at a time in managed code (no tensors) and batches of rows with TorchSharp.
/// </summary>
public sealed class AutoClipNetModelParameters : ModelParametersBase<float>, IValueMapper, IDisposable
{
    internal const string LoaderSignature = "AutoClipNetRegression";
    internal const string RegistrationName = "AutoClipNetModel";

    private readonly MultiLayerPerceptron _network;
    private readonly float[] _featureMean;
    private readonly float[] _featureScale;
    private readonly float _labelMean;
    private readonly float _labelScale;
    private readonly VectorDataViewType _inputType;
    private readonly Lazy<MultiLayerPerceptron> _batchNetwork;

    [ThreadStatic]
    private static float[]? t_scratch;

    internal AutoClipNetModelParameters(IHostEnvironment env, MultiLayerPerceptron network, float[] featureMean, float[] featureScale,
        float labelMean, float labelScale, AutoClipperState? autoClipState, AutoClipNetTrainingHistory history)
        : base(env, RegistrationName)
    {
        _network = network;
        _featureMean = featureMean;
        _featureScale = featureScale;
        _labelMean = labelMean;
        _labelScale = labelScale;
        AutoClipState = autoClipState;
        TrainingHistory = history;
        _inputType = new VectorDataViewType(NumberDataViewType.Single, network.InputSize);
        _batchNetwork = new Lazy<MultiLayerPerceptron>(FoldStandardization);
        CheckFinite();
    }

    /// <summary>Number of input features.</summary>
    public int FeatureCount => _network.InputSize;

    /// <summary>Sizes of the hidden layers.</summary>
    public IReadOnlyList<int> HiddenLayerSizes => _network.LayerSizes.Take(_network.LayerSizes.Count - 1).ToArray();

    /// <summary>The nonlinearity after each hidden layer.</summary>
    public AutoClipNetActivation Activation => _network.Activation;

    /// <summary>Number of trained weights and biases.</summary>
    public long ParameterCount => _network.ParameterCount;

    /// <summary>A copy of the weights of linear layer <paramref name="layer"/> (row-major, outputs × inputs).</summary>
    public float[] GetWeights(int layer) => (float[])_network.Weights[layer].Clone();

    /// <summary>A copy of the biases of linear layer <paramref name="layer"/>.</summary>
    public float[] GetBiases(int layer) => (float[])_network.Biases[layer].Clone();

    /// <summary>Per-feature means subtracted before the network (zeros when features are not standardized).</summary>
    public IReadOnlyList<float> FeatureMeans => _featureMean;

    /// <summary>Per-feature factors applied after the mean is subtracted (1 / standard deviation, or ones).</summary>
    public IReadOnlyList<float> FeatureScales => _featureScale;

    /// <summary>The label's mean and standard deviation: a network output z is reported as z × scale + mean.</summary>
    public (float Mean, float Scale) LabelStandardization => (_labelMean, _labelScale);

    /// <summary>The AutoClip state at the end of training (null when AutoClip was not used).</summary>
    public AutoClipperState? AutoClipState { get; }

    /// <summary>Every training step, the per-epoch losses and the diagnostics.</summary>
    public AutoClipNetTrainingHistory TrainingHistory { get; }

    internal MultiLayerPerceptron Network => _network;

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.Regression;

    DataViewType IValueMapper.InputType => _inputType;

    DataViewType IValueMapper.OutputType => NumberDataViewType.Single;

    ValueMapper<TIn, TOut> IValueMapper.GetMapper<TIn, TOut>()
    {
        if (typeof(TIn) != typeof(VBuffer<float>) || typeof(TOut) != typeof(float))
        {
            throw new InvalidOperationException($"AutoClipNet maps VBuffer<Single> to Single, not {typeof(TIn).Name} to {typeof(TOut).Name}.");
        }
        ValueMapper<VBuffer<float>, float> mapper = (in VBuffer<float> src, ref float dst) => dst = ScoreRow(src);
        return (ValueMapper<TIn, TOut>)(Delegate)mapper;
    }

    /// <summary>Scores one row in managed code, without tensors.</summary>
    internal float ScoreRow(in VBuffer<float> features)
    {
        int f = FeatureCount;
        if (features.Length != f)
        {
            throw new ArgumentOutOfRangeException(nameof(features), features.Length,
                $"The feature vector has {features.Length} values; this AutoClipNet model was trained on {f}.");
        }
        int width = _network.MaxWidth;
        var scratch = t_scratch;
        if (scratch is null || scratch.Length < f + 2 * width)
        {
            t_scratch = scratch = new float[f + 2 * width];
        }
        var input = scratch.AsSpan(0, f);
        features.CopyTo(input);
        Standardize(input);
        float z = _network.Forward(input, scratch.AsSpan(f, width), scratch.AsSpan(f + width, width));
        return z * _labelScale + _labelMean;
    }

    /// <summary>
    /// Creates a scorer for batches of up to <paramref name="capacity"/> rows of raw features
    /// (row-major): its network has the standardization folded in, so its outputs are the scores.
    /// </summary>
    internal MultiLayerPerceptron.BatchScorer CreateBatchScorer(int capacity) => _batchNetwork.Value.CreateBatchScorer(capacity);

    /// <summary>
    /// The same network with the standardization folded into its first and last layers, so that a
    /// batch goes from raw features to the reported score in one forward pass:
    /// W0' = W0·diag(scale), b0' = b0 − W0'·mean, and the last layer multiplied by the label scale
    /// with the label mean added to its bias (computed in double precision).
    /// </summary>
    private MultiLayerPerceptron FoldStandardization()
    {
        int f = FeatureCount;
        var weights = _network.Weights.Select(w => (float[])w.Clone()).ToArray();
        var biases = _network.Biases.Select(b => (float[])b.Clone()).ToArray();
        int outputs = _network.LayerSizes[0];
        for (int j = 0; j < outputs; j++)
        {
            double shift = 0;
            for (int i = 0; i < f; i++)
            {
                double w = (double)_network.Weights[0][j * f + i] * _featureScale[i];
                weights[0][j * f + i] = (float)w;
                shift += w * _featureMean[i];
            }
            biases[0][j] = (float)(_network.Biases[0][j] - shift);
        }
        int last = weights.Length - 1;
        for (int i = 0; i < weights[last].Length; i++)
        {
            weights[last][i] = (float)((double)weights[last][i] * _labelScale);
        }
        biases[last][0] = (float)((double)biases[last][0] * _labelScale + _labelMean);
        return new MultiLayerPerceptron(f, _network.Activation, weights, biases);
    }

    private void Standardize(Span<float> row) => Standardization.Apply(row, _featureMean, _featureScale, row);

    private void CheckFinite()
    {
        bool finite = _featureMean.All(float.IsFinite) && _featureScale.All(float.IsFinite)
            && float.IsFinite(_labelMean) && float.IsFinite(_labelScale)
            && _network.Weights.All(w => w.All(float.IsFinite)) && _network.Biases.All(b => b.All(float.IsFinite));
        if (!finite)
        {
            throw new InvalidDataException("The AutoClipNet model has weights or statistics that are not finite numbers.");
        }
    }

    void IDisposable.Dispose()
    {
        _network.Dispose();
        if (_batchNetwork.IsValueCreated)
        {
            _batchNetwork.Value.Dispose();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Persistence inside ML.NET's model zip.

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "ACLIPNET",
        verWrittenCur: 0x00010001, // 1.1: initial format
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AutoClipNetModelParameters).Assembly.FullName);

    // Binary format, after ModelParametersBase's int sizeof(float); little-endian:
    //   int      F, the number of features
    //   int      activation (AutoClipNetActivation)
    //   int      L, the number of linear layers (hidden layers + 1)
    //   L times: int outputs; float[outputs × inputs] weights; float[outputs] biases
    //   float[F] feature means; float[F] feature scales
    //   float    label mean; float label scale
    //   byte     1 if an AutoClip state follows, else 0; then AutoClipperState (its own versioned layout)
    //   int      best epoch; long training rows; long validation rows; long dropped rows
    //   int      number of steps; per step: int epoch, long step, float loss, double norm, double threshold, double scale, byte skipped
    //   int      number of epochs; per epoch: int epoch, double training loss, double validation loss
    //   int      number of diagnostics; per entry: long step, double norm, double step size, double smoothness
    // Version history:
    //   0x00010001: initial format.

    /// <inheritdoc/>
    protected override void SaveCore(ModelSaveContext ctx)
    {
        base.SaveCore(ctx);
        ctx.SetVersionInfo(GetVersionInfo());
        var w = ctx.Writer;
        w.Write(FeatureCount);
        w.Write((int)Activation);
        w.Write(_network.Weights.Count);
        for (int l = 0; l < _network.Weights.Count; l++)
        {
            w.Write(_network.LayerSizes[l]);
            WriteFloats(w, _network.Weights[l]);
            WriteFloats(w, _network.Biases[l]);
        }
        WriteFloats(w, _featureMean);
        WriteFloats(w, _featureScale);
        w.Write(_labelMean);
        w.Write(_labelScale);
        w.Write((byte)(AutoClipState is null ? 0 : 1));
        AutoClipState?.Save(w);
        var h = TrainingHistory;
        w.Write(h.BestEpoch);
        w.Write(h.TrainingRows);
        w.Write(h.ValidationRows);
        w.Write(h.DroppedRows);
        w.Write(h.Steps.Count);
        foreach (var s in h.Steps)
        {
            w.Write(s.Epoch);
            w.Write(s.Step);
            w.Write(s.Loss);
            w.Write(s.GradientNorm);
            w.Write(s.Threshold);
            w.Write(s.Scale);
            w.Write((byte)(s.Skipped ? 1 : 0));
        }
        w.Write(h.Epochs.Count);
        foreach (var e in h.Epochs)
        {
            w.Write(e.Epoch);
            w.Write(e.TrainingLoss);
            w.Write(e.ValidationLoss);
        }
        w.Write(h.Diagnostics.Count);
        foreach (var d in h.Diagnostics)
        {
            w.Write(d.Step);
            w.Write(d.GradientNorm);
            w.Write(d.StepSize);
            w.Write(d.Smoothness);
        }
    }

    internal static AutoClipNetModelParameters Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        ModelVersions.CheckAtModel(ctx, GetVersionInfo(), "AutoClipNet network");
        return new AutoClipNetModelParameters(env, ctx);
    }

    private AutoClipNetModelParameters(IHostEnvironment env, ModelLoadContext ctx)
        : base(env, RegistrationName, ctx)
    {
        var r = ctx.Reader;
        try
        {
            int f = ReadCount(r, "feature count", 1, 1 << 24);
            var activation = (AutoClipNetActivation)r.ReadInt32();
            if (!Enum.IsDefined(activation))
            {
                throw new InvalidDataException($"Unknown activation {(int)activation}.");
            }
            int layers = ReadCount(r, "layer count", 1, 1024);
            var weights = new float[layers][];
            var biases = new float[layers][];
            int fanIn = f;
            for (int l = 0; l < layers; l++)
            {
                int outputs = ReadCount(r, "layer size", 1, 1 << 20);
                weights[l] = ReadFloats(r, (long)outputs * fanIn, $"layer {l} weights");
                biases[l] = ReadFloats(r, outputs, $"layer {l} biases");
                fanIn = outputs;
            }
            _network = new MultiLayerPerceptron(f, activation, weights, biases);
            _featureMean = ReadFloats(r, f, "feature means");
            _featureScale = ReadFloats(r, f, "feature scales");
            _labelMean = r.ReadSingle();
            _labelScale = r.ReadSingle();
            AutoClipState = r.ReadByte() switch
            {
                0 => null,
                1 => AutoClipperState.Load(r),
                var b => throw new InvalidDataException($"Bad AutoClip state marker {b}."),
            };
            int bestEpoch = r.ReadInt32();
            long trainingRows = r.ReadInt64();
            long validationRows = r.ReadInt64();
            long droppedRows = r.ReadInt64();
            int stepCount = ReadCount(r, "step count", 0, int.MaxValue);
            var steps = new List<AutoClipNetTrainingStep>(Math.Min(stepCount, 1 << 16));
            for (int i = 0; i < stepCount; i++)
            {
                steps.Add(new AutoClipNetTrainingStep(r.ReadInt32(), r.ReadInt64(), r.ReadSingle(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadByte() != 0));
            }
            int epochCount = ReadCount(r, "epoch count", 0, int.MaxValue);
            var epochs = new List<AutoClipNetEpoch>(Math.Min(epochCount, 1 << 16));
            for (int i = 0; i < epochCount; i++)
            {
                epochs.Add(new AutoClipNetEpoch(r.ReadInt32(), r.ReadDouble(), r.ReadDouble()));
            }
            int diagnosticCount = ReadCount(r, "diagnostic count", 0, int.MaxValue);
            var diagnostics = new List<AutoClipNetDiagnostic>(Math.Min(diagnosticCount, 1 << 16));
            for (int i = 0; i < diagnosticCount; i++)
            {
                diagnostics.Add(new AutoClipNetDiagnostic(r.ReadInt64(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble()));
            }
            TrainingHistory = new AutoClipNetTrainingHistory(steps, epochs, diagnostics, bestEpoch, trainingRows, validationRows, droppedRows);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The AutoClipNet model in this file is truncated.", e);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("The AutoClipNet model", StringComparison.Ordinal))
        {
            throw new InvalidDataException("The AutoClipNet model in this file is corrupt: " + e.Message, e);
        }
        _inputType = new VectorDataViewType(NumberDataViewType.Single, _network.InputSize);
        _batchNetwork = new Lazy<MultiLayerPerceptron>(FoldStandardization);
        CheckFinite();
    }

    private static int ReadCount(BinaryReader reader, string what, int min, int max)
    {
        int value = reader.ReadInt32();
        if (value < min || value > max)
        {
            throw new InvalidDataException($"The {what} is {value}; expected {min} to {max}.");
        }
        return value;
    }

    private static void WriteFloats(BinaryWriter writer, float[] values)
    {
        writer.Write(values.Length);
        writer.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static float[] ReadFloats(BinaryReader reader, long expected, string what)
    {
        int count = reader.ReadInt32();
        if (count != expected)
        {
            throw new InvalidDataException($"The {what} hold {count} values; {expected} were expected.");
        }
        var values = new float[count];
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
        int read = 0;
        while (read < bytes.Length)
        {
            int n = reader.Read(bytes[read..]);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }
            read += n;
        }
        return values;
    }
}
