using System;
using System.IO;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tasks;

/// <summary>
/// Binary classification: a Boolean label; binary cross-entropy on the network's logit (the positive class weighted by
/// PositiveClassWeight, label smoothing an option); the head's score is the logit itself, and the probability is fitted on
/// the validation rows by temperature scaling (<see cref="TemperatureScaling"/>), which the trainer hands to ML.NET's Platt
/// calibrator.
/// </summary>
internal sealed class BinaryTask : AutoClipNetTask
{
    public static readonly BinaryTask Instance = new();

    private BinaryTask()
    {
    }

    public override ModelTask Id => ModelTask.Binary;

    public override string Name => "binary classification";

    public override LabelKind Label => LabelKind.Boolean;

    public override double DefaultLearningRate => 0.04;

    public override Objective CreateObjective(TrainingSet train, int classCount, Recipe recipe) => new BinaryObjective(recipe.PositiveClassWeight, recipe.LabelSmoothing);

    /// <summary>A label with one class is refused: there is nothing to separate, and a model that always says the same is not a classifier.</summary>
    public override void CheckTrainingRows(TrainingSet train, int classCount, string labelColumn, ITrainingMonitor monitor)
    {
        if (train.Label.Min == train.Label.Max)
        {
            throw new ArgumentOutOfRangeException("labelColumnName", labelColumn,
                $"Every one of the {train.Label.Count} training rows has the label {(train.Label.Max > 0.5f ? "true" : "false")} in column '{labelColumn}': " +
                "binary classification needs rows of both classes. Check the label's mapping, or how the rows were filtered or split.");
        }
    }

    public override bool OwnsHead(ScoreHead head) => head is BinaryHead;

    public override ScoreHead CreateHead(Objective objective, TrainingSet train, Recipe recipe, int outputs) => new BinaryHead(outputs);

    // Head layout: no fields (the calibrator is ML.NET's Platt calibrator, saved beside the model).
    public override ScoreHead ReadHead(ReadOnlySpan<byte> bytes, uint version, int outputs)
    {
        if (bytes.Length != 0)
        {
            throw new InvalidDataException($"its binary header holds {bytes.Length} bytes, not 0.");
        }
        return new BinaryHead(outputs);
    }
}

/// <summary>Binary's head: Score is the logit (ML.NET's Platt calibrator adds Probability and its scorer PredictedLabel).</summary>
internal sealed class BinaryHead : ScoreHead
{
    public BinaryHead(int outputs)
    {
        if (outputs != 1)
        {
            throw new InvalidDataException($"A binary classification network has one output, not {outputs}.");
        }
    }

    public override int Outputs => 1;

    public override byte[] Write() => Array.Empty<byte>();

    public override void SaveAsOnnx(IOnnxGraph graph, string raw, string[] outputNames) => graph.Node("Identity", new[] { raw }, outputNames[0]);
}

/// <summary>Binary classification's objective: cross-entropy on the logit (log-loss), the positive class weighted.</summary>
internal sealed class BinaryObjective : Objective
{
    private readonly double _positiveWeight;
    private readonly double _labelSmoothing;
    private Tensor? _weightTensor;

    /// <param name="positiveWeight">Weight of a positive row's loss.</param>
    /// <param name="labelSmoothing">ε: the training target of a row is 1 − ε/2 or ε/2 instead of 1 or 0.</param>
    public BinaryObjective(double positiveWeight, double labelSmoothing = 0)
    {
        _positiveWeight = positiveWeight;
        _labelSmoothing = labelSmoothing;
    }

    public override int OutputCount => 1;

    public override string LossName => "log-loss";

    public override Tensor Loss(Tensor output, Tensor target) => Losses(output, target, nn.Reduction.Mean);

    protected override Tensor RowLosses(Tensor output, Tensor target) => Losses(output, target, nn.Reduction.None);

    private Tensor Losses(Tensor output, Tensor target, nn.Reduction reduction)
    {
        var logits = output.view(-1);
        if (_labelSmoothing > 0)
        {
            using var keep = ((float)(1 - _labelSmoothing)).ToScalar(); // held for the calls (see Network/Scalars.cs)
            using var shift = ((float)(_labelSmoothing / 2)).ToScalar();
            target = target.mul(keep).add_(shift, Scalars.One);
        }
        if (_positiveWeight == 1)
        {
            return nn.functional.binary_cross_entropy_with_logits(logits, target, reduction: reduction);
        }
        _weightTensor ??= tensor((float)_positiveWeight).DetachFromDisposeScope();
        return nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weights: _weightTensor, reduction: reduction);
    }

    public override double ValidationLossSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        // The unweighted log-loss: what Evaluate reports, whatever the training weight.
        return nn.functional.binary_cross_entropy_with_logits(output.view(-1), target, reduction: nn.Reduction.Sum).to_type(ScalarType.Float64).item<double>();
    }

    public override double ValidationErrorSum(Tensor output, Tensor target)
    {
        using var scope = NewDisposeScope();
        return output.view(-1).gt(Scalars.Zero).to_type(ScalarType.Float32).ne(target).sum().item<long>();
    }

    protected override Tensor ValidationLosses(Tensor output, Tensor target)
        => nn.functional.binary_cross_entropy_with_logits(output.view(-1), target, reduction: nn.Reduction.None);

    protected override Tensor ValidationErrors(Tensor output, Tensor target) => output.view(-1).gt(Scalars.Zero).to_type(ScalarType.Float32).ne(target);

    public override void Dispose() => _weightTensor?.Dispose();
}
