using System;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Shared;

/// <summary>AutoClipNet's three trainers behind one switch on the task: for the benchmarks and studies that run every bundled set.</summary>
internal static class AutoClipNetTasks
{
    /// <summary>The task's options, every value at its default.</summary>
    public static AutoClipNetOptionsBase NewOptions(DataTask task) => task switch
    {
        DataTask.Regression => new AutoClipNetTrainer.Options(),
        DataTask.Binary => new AutoClipNetBinaryTrainer.Options(),
        _ => new AutoClipNetMulticlassTrainer.Options(),
    };

    /// <summary>The task's trainer with <paramref name="options"/> (from <see cref="NewOptions"/>).</summary>
    public static IEstimator<ITransformer> Trainer(MLContext ml, DataTask task, AutoClipNetOptionsBase options) => task switch
    {
        DataTask.Regression => ml.Regression.Trainers.AutoClipNet((AutoClipNetTrainer.Options)options),
        DataTask.Binary => ml.BinaryClassification.Trainers.AutoClipNet((AutoClipNetBinaryTrainer.Options)options),
        _ => ml.MulticlassClassification.Trainers.AutoClipNet((AutoClipNetMulticlassTrainer.Options)options),
    };

    /// <summary>The trained model inside what <see cref="Trainer"/>'s Fit returned.</summary>
    public static IAutoClipNetModel ModelOf(ITransformer transformer) => transformer switch
    {
        AutoClipNetPredictionTransformer regression => regression.Model,
        BinaryPredictionTransformer<CalibratedModelParametersBase<AutoClipNetBinaryModelParameters, PlattCalibrator>> binary => binary.Model.SubModel,
        MulticlassPredictionTransformer<AutoClipNetMulticlassModelParameters> multiclass => multiclass.Model,
        _ => throw new ArgumentException($"{transformer.GetType().Name} is not an AutoClipNet prediction transformer.", nameof(transformer)),
    };

    /// <summary>The headline metric of the task and a second one: R² and RMSE, AUC and log-loss, micro accuracy and log-loss.</summary>
    public static (double Metric, double Secondary) Metrics(MLContext ml, DataTask task, IDataView scored)
    {
        switch (task)
        {
            case DataTask.Regression:
                var r = ml.Regression.Evaluate(scored);
                return (r.RSquared, r.RootMeanSquaredError);
            case DataTask.Binary:
                var b = ml.BinaryClassification.Evaluate(scored);
                return (b.AreaUnderRocCurve, b.LogLoss);
            default:
                var m = ml.MulticlassClassification.Evaluate(scored);
                return (m.MicroAccuracy, m.LogLoss);
        }
    }

    /// <summary>The headline metric of the task: R², AUC or micro accuracy.</summary>
    public static double Metric(MLContext ml, DataTask task, IDataView scored) => task switch
    {
        DataTask.Regression => ml.Regression.Evaluate(scored).RSquared,
        DataTask.Binary => ml.BinaryClassification.Evaluate(scored).AreaUnderRocCurve,
        _ => ml.MulticlassClassification.Evaluate(scored).MicroAccuracy,
    };
}
