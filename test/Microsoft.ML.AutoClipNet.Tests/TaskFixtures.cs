using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// One task as the shared conformance suite sees it: real data, a quick trainer, how to read the
/// trained model and how good a quick model must be. Each task's test class derives from
/// <see cref="ConformanceTests"/> with its fixture.
/// </summary>
public abstract class TaskFixture
{
    public abstract string Name { get; }

    /// <summary>The bundled real data set the suite trains on.</summary>
    internal abstract BundledDataSet DataSet { get; }

    /// <summary>The output columns the task adds (compared byte for byte).</summary>
    public abstract string[] OutputColumns { get; }

    /// <summary>A fresh options object of the task, with its defaults.</summary>
    public abstract AutoClipNetOptionsBase NewOptions();

    /// <summary>The task's trainer from the options overload.</summary>
    public abstract IEstimator<ITransformer> Trainer(MLContext ml, AutoClipNetOptionsBase options);

    /// <summary>Trains with an explicit validation set (<c>trainer.Fit(train, validation)</c>).</summary>
    public abstract ITransformer Fit(MLContext ml, AutoClipNetOptionsBase options, IDataView train, IDataView validation);

    /// <summary>The task's trainer from the named-argument overload, all defaults.</summary>
    public abstract object DefaultTrainerOptions(MLContext ml);

    /// <summary>The task's trainer with a quick configuration.</summary>
    public IEstimator<ITransformer> QuickTrainer(MLContext ml, int epochs = 3, int seed = 1, Action<AutoClipNetOptionsBase>? change = null)
    {
        var options = TestOptions.Quick(NewOptions(), epochs, seed);
        change?.Invoke(options);
        return Trainer(ml, options);
    }

    /// <summary>The network of a trained model (the last transformer of a pipeline, or the prediction transformer itself).</summary>
    public abstract IAutoClipNetModel ModelOf(ITransformer model);

    /// <summary>The expected type of the prediction transformer after Model.Load.</summary>
    public abstract Type TransformerType { get; }

    /// <summary>The task's headline metric of a scored view (R², AUC, macro accuracy): higher is better.</summary>
    public abstract double Quality(MLContext ml, IDataView scored);

    /// <summary>What a quick model must reach on held-out rows of <see cref="DataSet"/>.</summary>
    public abstract double MinimumQuality { get; }

    /// <summary>How much permuting the most important feature must lower the headline metric.</summary>
    public abstract double MinimumImportance { get; }

    /// <summary>Cross-validation's per-fold headline metric.</summary>
    public abstract double[] CrossValidate(MLContext ml, IDataView data, AutoClipNetOptionsBase options, int folds);

    /// <summary>PFI's per-slot decrease in the headline metric (positive: the feature matters).</summary>
    public abstract double[] PermutationImportance(MLContext ml, ITransformer predictionTransformer, IDataView data);

    /// <summary>The task's label column as a wrongly typed column would be: for the bad-input test.</summary>
    public abstract IDataView WithWrongLabelType(MLContext ml, IDataView featurized);

    /// <summary>Words the error for a wrongly typed label must contain.</summary>
    public abstract string[] WrongLabelMessage { get; }

    /// <summary>
    /// Whether Transform computes exactly what a PredictionEngine computes: true for the classification
    /// tasks (both score row by row in managed code), false for regression (Transform scores batches with LibTorch).
    /// </summary>
    public abstract bool TransformIsManaged { get; }

    /// <summary>The outputs of a PredictionEngine over every row of <paramref name="featurized"/>, laid out as <see cref="Outputs.Bytes"/> lays them out.</summary>
    public byte[] EngineBytes(MLContext ml, ITransformer model, IDataView featurized)
    {
        int features = ((VectorDataViewType)featurized.Schema["Features"].Type).Size;
        var definition = SchemaDefinition.Create(typeof(FeatureRow));
        definition["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, features);
        var rows = ml.Data.CreateEnumerable<FeatureRow>(featurized, reuseRowObject: false, schemaDefinition: definition).ToArray();
        using var stream = new System.IO.MemoryStream();
        using var writer = new System.IO.BinaryWriter(stream);
        WriteEngineOutputs(ml, model, definition, rows, writer);
        writer.Flush();
        return stream.ToArray();
    }

    private protected abstract void WriteEngineOutputs(MLContext ml, ITransformer model, SchemaDefinition input, FeatureRow[] rows, System.IO.BinaryWriter writer);

    public sealed class FeatureRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    public sealed class ScoreRow
    {
        public float Score { get; set; }
    }

    public sealed class BinaryRow
    {
        public float Score { get; set; }

        public float Probability { get; set; }

        public bool PredictedLabel { get; set; }
    }

    public sealed class MulticlassRow
    {
        public float[] Score { get; set; } = Array.Empty<float>();

        public uint PredictedLabel { get; set; }
    }

    public override string ToString() => Name;

    public static TaskFixture ByName(string name) => name switch
    {
        "regression" => new RegressionFixture(),
        "binary" => new BinaryFixture(),
        "multiclass" => new MulticlassFixture(),
        _ => throw new ArgumentException($"No task '{name}'."),
    };

    public static readonly string[] All = { "regression", "binary", "multiclass" };

    /// <summary>The prediction transformer inside <paramref name="model"/>: itself, or the last of a chain.</summary>
    public static ITransformer PredictionTransformer(ITransformer model) => model switch
    {
        TransformerChain<ITransformer> chain => PredictionTransformer(chain.LastTransformer),
        _ => model,
    };
}

internal sealed class RegressionFixture : TaskFixture
{
    public override string Name => "regression";

    internal override BundledDataSet DataSet => BundledData.DiamondsSet;

    public override string[] OutputColumns { get; } = { "Score" };

    public override AutoClipNetOptionsBase NewOptions() => new AutoClipNetTrainer.Options();

    public override IEstimator<ITransformer> Trainer(MLContext ml, AutoClipNetOptionsBase options)
        => (ml.Regression.Trainers.AutoClipNet((AutoClipNetTrainer.Options)options));

    public override object DefaultTrainerOptions(MLContext ml) => ml.Regression.Trainers.AutoClipNet().TrainerOptions;

    public override ITransformer Fit(MLContext ml, AutoClipNetOptionsBase options, IDataView train, IDataView validation)
        => ml.Regression.Trainers.AutoClipNet((AutoClipNetTrainer.Options)options).Fit(train, validation);

    public override IAutoClipNetModel ModelOf(ITransformer model) => ((AutoClipNetPredictionTransformer)PredictionTransformer(model)).Model;

    public override Type TransformerType => typeof(AutoClipNetPredictionTransformer);

    public override double Quality(MLContext ml, IDataView scored) => ml.Regression.Evaluate(scored).RSquared;

    public override double MinimumQuality => 0.8;

    public override double MinimumImportance => 0.05;

    public override double[] CrossValidate(MLContext ml, IDataView data, AutoClipNetOptionsBase options, int folds)
        => ml.Regression.CrossValidate(data, ml.Regression.Trainers.AutoClipNet((AutoClipNetTrainer.Options)options), folds)
            .Select(f => { CheckType(f.Model); return f.Metrics.RSquared; }).ToArray();

    private static void CheckType(ITransformer model)
    {
        if (model is not AutoClipNetPredictionTransformer)
        {
            throw new InvalidOperationException($"CrossValidate returned a {model.GetType()}.");
        }
    }

    public override double[] PermutationImportance(MLContext ml, ITransformer predictionTransformer, IDataView data)
        => ml.Regression.PermutationFeatureImportance((AutoClipNetPredictionTransformer)PredictionTransformer(predictionTransformer), data, permutationCount: 1)
            .Select(m => m.RSquared.Mean).Select(d => -d).ToArray();

    public override IDataView WithWrongLabelType(MLContext ml, IDataView featurized)
        => ml.Transforms.Conversion.ConvertType("Label", outputKind: DataKind.Double).Fit(featurized).Transform(featurized);

    public override string[] WrongLabelMessage { get; } = { "label column 'Label'", "Single", "Double", "ConvertType" };

    public override bool TransformIsManaged => false;

    private protected override void WriteEngineOutputs(MLContext ml, ITransformer model, SchemaDefinition input, FeatureRow[] rows, System.IO.BinaryWriter writer)
    {
        var engine = ml.Model.CreatePredictionEngine<FeatureRow, ScoreRow>(model, inputSchemaDefinition: input);
        foreach (var row in rows)
        {
            writer.Write(engine.Predict(row).Score);
        }
    }
}

internal sealed class BinaryFixture : TaskFixture
{
    public override string Name => "binary";

    internal override BundledDataSet DataSet => BundledData.TelcoChurnSet;

    public override string[] OutputColumns { get; } = { "Score", "Probability", "PredictedLabel" };

    public override AutoClipNetOptionsBase NewOptions() => new AutoClipNetBinaryTrainer.Options();

    public override IEstimator<ITransformer> Trainer(MLContext ml, AutoClipNetOptionsBase options)
        => (ml.BinaryClassification.Trainers.AutoClipNet((AutoClipNetBinaryTrainer.Options)options));

    public override object DefaultTrainerOptions(MLContext ml) => ml.BinaryClassification.Trainers.AutoClipNet().TrainerOptions;

    public override ITransformer Fit(MLContext ml, AutoClipNetOptionsBase options, IDataView train, IDataView validation)
        => ml.BinaryClassification.Trainers.AutoClipNet((AutoClipNetBinaryTrainer.Options)options).Fit(train, validation);

    public override IAutoClipNetModel ModelOf(ITransformer model)
        => ((BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>>)PredictionTransformer(model)).Model.SubModel;

    public override Type TransformerType => typeof(BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>>);

    public override double Quality(MLContext ml, IDataView scored) => ml.BinaryClassification.Evaluate(scored).AreaUnderRocCurve;

    public override double MinimumQuality => 0.78;

    public override double MinimumImportance => 0.003; // telco's features overlap (tenure, contract, charges): one alone moves AUC little

    public override double[] CrossValidate(MLContext ml, IDataView data, AutoClipNetOptionsBase options, int folds)
        => ml.BinaryClassification.CrossValidate(data, ml.BinaryClassification.Trainers.AutoClipNet((AutoClipNetBinaryTrainer.Options)options), folds)
            .Select(f => f.Metrics.AreaUnderRocCurve).ToArray();

    public override double[] PermutationImportance(MLContext ml, ITransformer predictionTransformer, IDataView data)
        => ml.BinaryClassification.PermutationFeatureImportance(
                (BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>>)PredictionTransformer(predictionTransformer),
                data, permutationCount: 1)
            .Select(m => -m.AreaUnderRocCurve.Mean).ToArray();

    public override IDataView WithWrongLabelType(MLContext ml, IDataView featurized)
        => ml.Transforms.Conversion.ConvertType("Label", outputKind: DataKind.Single).Fit(featurized).Transform(featurized);

    public override string[] WrongLabelMessage { get; } = { "label column 'Label'", "Boolean", "Single", "ConvertType" };

    public override bool TransformIsManaged => true;

    private protected override void WriteEngineOutputs(MLContext ml, ITransformer model, SchemaDefinition input, FeatureRow[] rows, System.IO.BinaryWriter writer)
    {
        var engine = ml.Model.CreatePredictionEngine<FeatureRow, BinaryRow>(model, inputSchemaDefinition: input);
        foreach (var row in rows)
        {
            var p = engine.Predict(row);
            writer.Write(p.Score);
            writer.Write(p.Probability);
            writer.Write(p.PredictedLabel);
        }
    }
}

internal sealed class MulticlassFixture : TaskFixture
{
    public override string Name => "multiclass";

    internal override BundledDataSet DataSet => BundledData.SatelliteSet;

    public override string[] OutputColumns { get; } = { "Score", "PredictedLabel" };

    public override AutoClipNetOptionsBase NewOptions() => new AutoClipNetMulticlassTrainer.Options();

    public override IEstimator<ITransformer> Trainer(MLContext ml, AutoClipNetOptionsBase options)
        => (ml.MulticlassClassification.Trainers.AutoClipNet((AutoClipNetMulticlassTrainer.Options)options));

    public override object DefaultTrainerOptions(MLContext ml) => ml.MulticlassClassification.Trainers.AutoClipNet().TrainerOptions;

    public override ITransformer Fit(MLContext ml, AutoClipNetOptionsBase options, IDataView train, IDataView validation)
        => ml.MulticlassClassification.Trainers.AutoClipNet((AutoClipNetMulticlassTrainer.Options)options).Fit(train, validation);

    public override IAutoClipNetModel ModelOf(ITransformer model)
        => ((MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters>)PredictionTransformer(model)).Model;

    public override Type TransformerType => typeof(MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters>);

    public override double Quality(MLContext ml, IDataView scored) => ml.MulticlassClassification.Evaluate(scored).MacroAccuracy;

    public override double MinimumQuality => 0.7;

    public override double MinimumImportance => 0.005;

    public override double[] CrossValidate(MLContext ml, IDataView data, AutoClipNetOptionsBase options, int folds)
        => ml.MulticlassClassification.CrossValidate(data, ml.MulticlassClassification.Trainers.AutoClipNet((AutoClipNetMulticlassTrainer.Options)options), folds)
            .Select(f => f.Metrics.MacroAccuracy).ToArray();

    public override double[] PermutationImportance(MLContext ml, ITransformer predictionTransformer, IDataView data)
        => ml.MulticlassClassification.PermutationFeatureImportance(
                (MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters>)PredictionTransformer(predictionTransformer), data, permutationCount: 1)
            .Select(m => -m.MacroAccuracy.Mean).ToArray();

    public override IDataView WithWrongLabelType(MLContext ml, IDataView featurized)
        => ml.Transforms.Conversion.MapKeyToValue("Label").Fit(featurized).Transform(featurized);

    public override string[] WrongLabelMessage { get; } = { "label column 'Label'", "key", "MapValueToKey" };

    public override bool TransformIsManaged => true;

    private protected override void WriteEngineOutputs(MLContext ml, ITransformer model, SchemaDefinition input, FeatureRow[] rows, System.IO.BinaryWriter writer)
    {
        var engine = ml.Model.CreatePredictionEngine<FeatureRow, MulticlassRow>(model, inputSchemaDefinition: input);
        foreach (var row in rows)
        {
            var p = engine.Predict(row);
            foreach (float score in p.Score)
            {
                writer.Write(score);
            }
            writer.Write(p.PredictedLabel);
        }
    }
}
