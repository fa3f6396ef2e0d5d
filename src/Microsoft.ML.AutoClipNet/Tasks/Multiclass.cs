using System;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tasks;

/// <summary>
/// Multiclass classification: a key label (the class index is key − 1); softmax cross-entropy over K logits with label
/// smoothing (0.1 in the tabular recipe); the head's scores are the softmax, its predicted label the first largest.
/// </summary>
internal sealed class MulticlassTask : AutoClipNetTask
{
    public static readonly MulticlassTask Instance = new();

    private MulticlassTask()
    {
    }

    public override ModelTask Id => ModelTask.Multiclass;

    public override string Name => "multiclass classification";

    public override LabelKind Label => LabelKind.Key;

    public override double DefaultLearningRate => 0.04;

    public override double DefaultLabelSmoothing => 0.1;

    public override AutoClipNetEffort DefaultEffort => AutoClipNetEffort.Best;

    public override Objective CreateObjective(TrainingSet train, int classCount, Recipe recipe) => new MulticlassObjective(classCount, recipe.LabelSmoothing);

    public override void CheckTrainingRows(TrainingSet train, int classCount, string labelColumn, ITrainingMonitor monitor)
    {
        var missing = Enumerable.Range(0, classCount).Where(c => train.Label.ClassCounts[c] == 0).ToArray();
        if (missing.Length > 0)
        {
            monitor.Warning($"{missing.Length} of the {classCount} classes of the label '{labelColumn}' have no training row " +
                $"(keys {string.Join(", ", missing.Take(10).Select(c => c + 1))}{(missing.Length > 10 ? ", ..." : "")}): the model keeps a score for them but learns to give them little probability.");
        }
    }

    public override bool OwnsHead(ScoreHead head) => head is MulticlassHead;

    /// <summary>The head before calibration (slope 1); the trainer fits the slope on the validation rows (<see cref="TemperatureScaling"/>).</summary>
    public override ScoreHead CreateHead(Objective objective, TrainingSet train, Recipe recipe, int outputs) => new MulticlassHead(outputs, outputs);

    // Head layout: int class count (the network's outputs); from format 2.5: float slope (the inverse temperature; 1 before 2.5).
    public override ScoreHead ReadHead(ReadOnlySpan<byte> bytes, uint version, int outputs)
    {
        bool slope = version >= Model.ModelFormat.Version25;
        int expected = slope ? 8 : 4;
        if (bytes.Length != expected)
        {
            throw new InvalidDataException($"its multiclass header holds {bytes.Length} bytes, not {expected}.");
        }
        return new MulticlassHead(BitConverter.ToInt32(bytes), outputs, slope ? BitConverter.ToSingle(bytes[4..]) : 1f);
    }
}

/// <summary>
/// Multiclass's head: Score = softmax(s·z), PredictedLabel = the key (1-based) of the largest score, the first of ties. The slope
/// s > 0 (the inverse temperature, fitted on the validation rows) changes how confident the probabilities are, never which class
/// is the most probable; s = 1 (models before format 2.5, or CalibrateProbabilities off) is softmax(z), the same bits as before.
/// </summary>
internal sealed class MulticlassHead : ScoreHead
{
    public MulticlassHead(int classes, int outputs, float slope = 1f)
    {
        if (classes < 2 || classes != outputs)
        {
            throw new InvalidDataException($"A multiclass network of {classes} classes needs as many outputs (it has {outputs}), and at least two.");
        }
        if (!(slope > 0) || !float.IsFinite(slope))
        {
            throw new InvalidDataException($"The AutoClipNet model's multiclass slope is {slope}; it must be a positive finite number.");
        }
        ClassCount = classes;
        Slope = slope;
    }

    public int ClassCount { get; }

    /// <summary>The logits' factor before the softmax (temperature scaling's inverse temperature).</summary>
    public float Slope { get; }

    public override int Outputs => ClassCount;

    /// <summary>The network's outputs to the class probabilities in place: softmax(s·z).</summary>
    public void ToProbabilities(Span<float> values)
    {
        if (Slope != 1f)
        {
            for (int i = 0; i < values.Length; i++)
            {
                values[i] *= Slope;
            }
        }
        Softmax(values);
    }

    /// <summary>The softmax in place, in a fixed order: exp(z − max) / Σ.</summary>
    public static void Softmax(Span<float> values)
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

    public override byte[] Write()
    {
        var bytes = new byte[8];
        BitConverter.TryWriteBytes(bytes, ClassCount);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), Slope);
        return bytes;
    }

    /// <summary>ML.NET's multiclass scorer asks for [PredictedLabel, Score], as from its own multiclass models.</summary>
    public override void SaveAsOnnx(IOnnxGraph graph, string raw, string[] outputNames)
    {
        if (outputNames.Length != 2)
        {
            throw new InvalidOperationException($"ML.NET asked a multiclass model for {outputNames.Length} ONNX outputs ({string.Join(", ", outputNames)}); AutoClipNet writes PredictedLabel and Score.");
        }
        string predictedLabel = outputNames[0], score = outputNames[1];
        string logits = Slope == 1f ? raw : graph.Binary("Mul", raw, graph.Scalar(Slope, "Slope"));
        graph.Node("Softmax", new[] { logits }, score, ("axis", 1L));
        var index = graph.Node("ArgMax", new[] { score }, null, ("axis", 1L), ("keepdims", 1L));
        var key = graph.Binary("Add", index, graph.Constant(new[] { 1L }, new[] { 1L }, "KeyOffset"));
        graph.Node("Cast", new[] { key }, predictedLabel, ("to", typeof(uint)));
    }
}

/// <summary>Multiclass classification's objective: softmax cross-entropy over the K logits, optionally with label smoothing.</summary>
internal sealed class MulticlassObjective : Objective
{
    private readonly double _labelSmoothing;

    public MulticlassObjective(int classCount, double labelSmoothing)
    {
        if (classCount < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "Multiclass classification needs at least two classes.");
        }
        OutputCount = classCount;
        _labelSmoothing = labelSmoothing;
    }

    public override int OutputCount { get; }

    public override string LossName => "log-loss";

    public override Tensor Loss(Tensor output, Tensor target)
        => nn.functional.cross_entropy(output, target.to_type(ScalarType.Int64), label_smoothing: _labelSmoothing);

    protected override Tensor RowLosses(Tensor output, Tensor target)
        => nn.functional.cross_entropy(output, target.to_type(ScalarType.Int64), reduction: nn.Reduction.None, label_smoothing: _labelSmoothing);

    protected override Tensor ValidationLosses(Tensor output, Tensor target)
        => nn.functional.cross_entropy(output, target.to_type(ScalarType.Int64), reduction: nn.Reduction.None);

    protected override Tensor ValidationErrors(Tensor output, Tensor target) => output.argmax(1).ne(target.to_type(ScalarType.Int64));

    public override double ValidationLossSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        return nn.functional.cross_entropy(output, target.to_type(ScalarType.Int64), reduction: nn.Reduction.Sum).to_type(ScalarType.Float64).item<double>();
    }

    public override double ValidationErrorSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        return output.argmax(1).ne(target.to_type(ScalarType.Int64)).sum().item<long>();
    }
}
