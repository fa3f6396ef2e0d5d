using System;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;

namespace Microsoft.ML;

/// <summary>Adds <c>AutoClipNet</c> to <c>mlContext.Regression.Trainers</c>.</summary>
public static class AutoClipNetCatalog
{
    /// <summary>
    /// Creates an <see cref="AutoClipNetTrainer"/>: a TorchSharp network trained with AutoClip, the
    /// adaptive gradient clipping of Seetharaman et al. (MLSP 2020), which clips every step's gradient
    /// to the <paramref name="percentile"/>-th percentile of the gradient norms seen so far.
    /// </summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">The label column (Single).</param>
    /// <param name="featureColumnName">The feature column (known-size vector of Single).</param>
    /// <param name="percentile">AutoClip's percentile, 0..100 (default 10).</param>
    /// <param name="historyWindow">Only the last N gradient norms count (default: all).</param>
    /// <param name="numberOfEpochs">Passes over the data (default 30).</param>
    /// <param name="batchSize">Rows per step (default 64).</param>
    /// <param name="learningRate">Adam's learning rate (default 0.001).</param>
    /// <param name="hiddenLayerSizes">Hidden layer sizes (default 64, 64).</param>
    /// <param name="seed">Seed of initialisation and shuffling (default: from the MLContext).</param>
    public static AutoClipNetTrainer AutoClipNet(this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = AutoClipNetTrainer.DefaultColumnNames.Label,
        string featureColumnName = AutoClipNetTrainer.DefaultColumnNames.Features,
        double percentile = AutoClipNetTrainer.Defaults.Percentile,
        int? historyWindow = null,
        int numberOfEpochs = AutoClipNetTrainer.Defaults.NumberOfEpochs,
        int batchSize = AutoClipNetTrainer.Defaults.BatchSize,
        double learningRate = AutoClipNetTrainer.Defaults.LearningRate,
        int[]? hiddenLayerSizes = null,
        int? seed = null)
        => catalog.AutoClipNet(new AutoClipNetTrainer.Options
        {
            LabelColumnName = labelColumnName,
            FeatureColumnName = featureColumnName,
            Percentile = percentile,
            HistoryWindow = historyWindow,
            NumberOfEpochs = numberOfEpochs,
            BatchSize = batchSize,
            LearningRate = learningRate,
            HiddenLayerSizes = hiddenLayerSizes ?? (int[])AutoClipNetTrainer.Defaults.HiddenLayerSizes.Clone(),
            Seed = seed,
        });

    /// <summary>Creates an <see cref="AutoClipNetTrainer"/> with every option (see <see cref="AutoClipNetTrainer.Options"/>).</summary>
    public static AutoClipNetTrainer AutoClipNet(this RegressionCatalog.RegressionTrainers catalog, AutoClipNetTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new AutoClipNetTrainer(((IInternalCatalog)catalog).Environment, options);
    }
}
