using System;
using System.IO;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Training;

namespace Microsoft.ML.AutoClipNet.Tasks;

/// <summary>The task a saved network was trained for; the number is stored, so that a model never loads as another task.</summary>
internal enum ModelTask
{
    Regression = 1,
    Binary = 2,
    Multiclass = 3,
}

/// <summary>How a task's label is stored in the data.</summary>
internal enum LabelKind
{
    /// <summary>Single (regression): the value.</summary>
    Single,

    /// <summary>Boolean (binary classification): 1 for true, 0 for false.</summary>
    Boolean,

    /// <summary>A key (multiclass classification, from MapValueToKey): the class index, key − 1.</summary>
    Key,
}

/// <summary>
/// Everything that makes a task a task, in one place per task (Tasks/Regression.cs, Binary.cs, Multiclass.cs), without any
/// ML.NET type: how its label is read, its rows of the recipe, its objective (training target, loss, validation loss and
/// error), the warnings its training rows may deserve, and its head, which turns the network's raw outputs into the task's
/// score in every engine (managed, batched, ONNX) and is saved with the model. The trainers and model classes (Trainers/,
/// Model/) are the task's thin ML.NET faces: output columns, the prediction transformer, the loader signature. A new task
/// (Poisson regression, ranking) is a class here, a thin trainer and model, and two catalog overloads.
/// </summary>
internal abstract class AutoClipNetTask
{
    /// <summary>The stored task number.</summary>
    public abstract ModelTask Id { get; }

    /// <summary>"regression", "binary classification", ... in messages.</summary>
    public abstract string Name { get; }

    /// <summary>How the label is read (its type in the data, its encoding as a float).</summary>
    public abstract LabelKind Label { get; }

    /// <summary>The tabular recipe's (RealMlp's) peak learning rate for this task (Training/Recipe.cs).</summary>
    public abstract double DefaultLearningRate { get; }

    /// <summary>
    /// The tabular recipe's effort when the options leave it unset (docs/effort.md): <see cref="AutoClipNetEffort.Fast"/>, whose
    /// three seeds matched the Best effort's on the bundled regression and binary sets at a third of the fit time; multiclass
    /// keeps <see cref="AutoClipNetEffort.Best"/>, where both cheaper efforts lost (letter and hpc-jobs by a hundredth).
    /// </summary>
    public virtual AutoClipNetEffort DefaultEffort => AutoClipNetEffort.Fast;

    /// <summary>The tabular recipe's label smoothing for this task (0: none).</summary>
    public virtual double DefaultLabelSmoothing => 0;

    /// <summary>The objective for these training rows (<paramref name="classCount"/> from a key label, else 0).</summary>
    public abstract Objective CreateObjective(TrainingSet train, int classCount, Recipe recipe);

    /// <summary>
    /// The objective for continuing a model whose head is <paramref name="start"/> (warm start): its network's outputs must keep
    /// their meaning, so a task whose objective encodes the label with training statistics takes them from the head.
    /// </summary>
    public virtual Objective ContinueObjective(ScoreHead start, TrainingSet train, int classCount, Recipe recipe) => CreateObjective(train, classCount, recipe);

    /// <summary>Whether <paramref name="head"/> is this task's kind of head (a model of this task, which a warm start may continue).</summary>
    public abstract bool OwnsHead(ScoreHead head);

    /// <summary>The head of a continued model (warm start): by default as for a new one.</summary>
    public virtual ScoreHead ContinueHead(ScoreHead start, Objective objective, TrainingSet train, Recipe recipe, int outputs) => CreateHead(objective, train, recipe, outputs);

    /// <summary>Warnings about the training rows (a class with no rows, a single label).</summary>
    public virtual void CheckTrainingRows(TrainingSet train, int classCount, string labelColumn, ITrainingMonitor monitor)
    {
    }

    /// <summary>The head that a model trained with <paramref name="objective"/> on <paramref name="train"/> scores with.</summary>
    public abstract ScoreHead CreateHead(Objective objective, TrainingSet train, Recipe recipe, int outputs);

    /// <summary>
    /// Reads the head a model stored (its task fields) for a network of <paramref name="outputs"/> outputs, in the model format
    /// <paramref name="version"/>; throws <see cref="InvalidDataException"/> naming what is wrong.
    /// </summary>
    public abstract ScoreHead ReadHead(ReadOnlySpan<byte> bytes, uint version, int outputs);
}

/// <summary>
/// What a task adds after the network: its raw outputs (a standardized value, a logit, K logits) become the task's score. The
/// same arithmetic in the managed row scorer, the batch scorer and the ONNX graph; its fields are saved as the model's head.
/// </summary>
internal abstract class ScoreHead
{
    /// <summary>The network outputs the head reads.</summary>
    public abstract int Outputs { get; }

    /// <summary>The head's fields as the model stores them (Model/ModelFormat.cs: the task's own bytes).</summary>
    public abstract byte[] Write();

    /// <summary>Writes the task's outputs (<paramref name="outputNames"/>, in the order ML.NET's scorer asks for them) from the raw outputs <paramref name="raw"/>.</summary>
    public abstract void SaveAsOnnx(IOnnxGraph graph, string raw, string[] outputNames);
}
