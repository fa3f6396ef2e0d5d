using System;
using System.ComponentModel;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;

namespace Microsoft.ML;

/// <summary>
/// Adds <c>AutoClipNet</c> to the trainers of every task: <c>mlContext.Regression.Trainers</c>,
/// <c>mlContext.BinaryClassification.Trainers</c> and <c>mlContext.MulticlassClassification.Trainers</c>.
/// Each has two overloads, named arguments and an options object, sharing one set of defaults.
/// </summary>
public static class AutoClipNetCatalog
{
    /// <summary>
    /// Creates an <see cref="AutoClipNetTrainer"/> (regression): a TorchSharp network trained with AutoClip,
    /// the adaptive gradient clipping of Seetharaman et al. (MLSP 2020), which clips every step's gradient
    /// to the <paramref name="percentile"/>-th percentile of the gradient norms seen so far.
    /// </summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">The label column (Single).</param>
    /// <param name="featureColumnName">The feature column (known-size vector of Single).</param>
    /// <param name="percentile">AutoClip's percentile, 0..100 (default 10).</param>
    /// <param name="historyWindow">Only the last N gradient norms count (default: all).</param>
    /// <param name="numberOfEpochs">Passes over the data (default: by data size).</param>
    /// <param name="batchSize">Rows per step (default: by data size).</param>
    /// <param name="learningRate">Adam's peak learning rate (default: the task's, see the options).</param>
    /// <param name="hiddenLayerSizes">Hidden layer sizes (default: the architecture's, see the options).</param>
    /// <param name="seed">Seed of initialisation and shuffling (default: from the MLContext).</param>
    /// <param name="exampleWeightColumnName">The example weight column (Single; default none): see <see cref="AutoClipNetOptionsBase.ExampleWeightColumnName"/>.</param>
    public static AutoClipNetTrainer AutoClipNet(this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = AutoClipNetDefaults.LabelColumnName,
        string featureColumnName = AutoClipNetDefaults.FeatureColumnName,
        double percentile = AutoClipNetDefaults.Percentile,
        int? historyWindow = null,
        int? numberOfEpochs = null,
        int? batchSize = null,
        double? learningRate = null,
        int[]? hiddenLayerSizes = null,
        int? seed = null,
        string? exampleWeightColumnName = null)
        => catalog.AutoClipNet(Fill(new AutoClipNetTrainer.Options(), labelColumnName, featureColumnName, percentile, historyWindow, numberOfEpochs, batchSize,
            learningRate, hiddenLayerSizes, seed, exampleWeightColumnName));

    /// <summary>Creates an <see cref="AutoClipNetTrainer"/> (regression) with every option (see <see cref="AutoClipNetTrainer.Options"/>).</summary>
    public static AutoClipNetTrainer AutoClipNet(this RegressionCatalog.RegressionTrainers catalog, AutoClipNetTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new AutoClipNetTrainer(((IInternalCatalog)catalog).Environment, options);
    }

    /// <summary>
    /// Creates an <see cref="AutoClipNetBinaryTrainer"/>: a TorchSharp network trained with AutoClip on binary
    /// cross-entropy. Outputs Score (the logit), Probability (its sigmoid) and PredictedLabel, like ML.NET's
    /// calibrated binary trainers.
    /// </summary>
    /// <param name="catalog">The binary classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column (Boolean).</param>
    /// <param name="featureColumnName">The feature column (known-size vector of Single).</param>
    /// <param name="percentile">AutoClip's percentile, 0..100 (default 10).</param>
    /// <param name="historyWindow">Only the last N gradient norms count (default: all).</param>
    /// <param name="numberOfEpochs">Passes over the data (default: by data size).</param>
    /// <param name="batchSize">Rows per step (default: by data size).</param>
    /// <param name="learningRate">Adam's peak learning rate (default: the task's, see the options).</param>
    /// <param name="hiddenLayerSizes">Hidden layer sizes (default: the architecture's, see the options).</param>
    /// <param name="seed">Seed of initialisation and shuffling (default: from the MLContext).</param>
    /// <param name="exampleWeightColumnName">The example weight column (Single; default none): see <see cref="AutoClipNetOptionsBase.ExampleWeightColumnName"/>.</param>
    public static AutoClipNetBinaryTrainer AutoClipNet(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = AutoClipNetDefaults.LabelColumnName,
        string featureColumnName = AutoClipNetDefaults.FeatureColumnName,
        double percentile = AutoClipNetDefaults.Percentile,
        int? historyWindow = null,
        int? numberOfEpochs = null,
        int? batchSize = null,
        double? learningRate = null,
        int[]? hiddenLayerSizes = null,
        int? seed = null,
        string? exampleWeightColumnName = null)
        => catalog.AutoClipNet(Fill(new AutoClipNetBinaryTrainer.Options(), labelColumnName, featureColumnName, percentile, historyWindow, numberOfEpochs, batchSize,
            learningRate, hiddenLayerSizes, seed, exampleWeightColumnName));

    /// <summary>Creates an <see cref="AutoClipNetBinaryTrainer"/> with every option (see <see cref="AutoClipNetBinaryTrainer.Options"/>).</summary>
    public static AutoClipNetBinaryTrainer AutoClipNet(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, AutoClipNetBinaryTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new AutoClipNetBinaryTrainer(((IInternalCatalog)catalog).Environment, options);
    }

    /// <summary>
    /// Creates an <see cref="AutoClipNetMulticlassTrainer"/>: a TorchSharp network trained with AutoClip on
    /// softmax cross-entropy. The label is a key (MapValueToKey); outputs Score (class probabilities) and
    /// PredictedLabel (a key carrying the label's values).
    /// </summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a key).</param>
    /// <param name="featureColumnName">The feature column (known-size vector of Single).</param>
    /// <param name="percentile">AutoClip's percentile, 0..100 (default 10).</param>
    /// <param name="historyWindow">Only the last N gradient norms count (default: all).</param>
    /// <param name="numberOfEpochs">Passes over the data (default: by data size).</param>
    /// <param name="batchSize">Rows per step (default: by data size).</param>
    /// <param name="learningRate">Adam's peak learning rate (default: the task's, see the options).</param>
    /// <param name="hiddenLayerSizes">Hidden layer sizes (default: the architecture's, see the options).</param>
    /// <param name="seed">Seed of initialisation and shuffling (default: from the MLContext).</param>
    /// <param name="exampleWeightColumnName">The example weight column (Single; default none): see <see cref="AutoClipNetOptionsBase.ExampleWeightColumnName"/>.</param>
    public static AutoClipNetMulticlassTrainer AutoClipNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = AutoClipNetDefaults.LabelColumnName,
        string featureColumnName = AutoClipNetDefaults.FeatureColumnName,
        double percentile = AutoClipNetDefaults.Percentile,
        int? historyWindow = null,
        int? numberOfEpochs = null,
        int? batchSize = null,
        double? learningRate = null,
        int[]? hiddenLayerSizes = null,
        int? seed = null,
        string? exampleWeightColumnName = null)
        => catalog.AutoClipNet(Fill(new AutoClipNetMulticlassTrainer.Options(), labelColumnName, featureColumnName, percentile, historyWindow, numberOfEpochs, batchSize,
            learningRate, hiddenLayerSizes, seed, exampleWeightColumnName));

    /// <summary>Creates an <see cref="AutoClipNetMulticlassTrainer"/> with every option (see <see cref="AutoClipNetMulticlassTrainer.Options"/>).</summary>
    public static AutoClipNetMulticlassTrainer AutoClipNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AutoClipNetMulticlassTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new AutoClipNetMulticlassTrainer(((IInternalCatalog)catalog).Environment, options);
    }

    private static TOptions Fill<TOptions>(TOptions options, string labelColumnName, string featureColumnName, double percentile, int? historyWindow,
        int? numberOfEpochs, int? batchSize, double? learningRate, int[]? hiddenLayerSizes, int? seed, string? exampleWeightColumnName)
        where TOptions : AutoClipNetOptionsBase
    {
        options.ExampleWeightColumnName = exampleWeightColumnName;
        options.LabelColumnName = labelColumnName;
        options.FeatureColumnName = featureColumnName;
        options.Percentile = percentile;
        options.HistoryWindow = historyWindow;
        options.NumberOfEpochs = numberOfEpochs;
        options.BatchSize = batchSize;
        options.LearningRate = learningRate;
        options.HiddenLayerSizes = (int[]?)hiddenLayerSizes?.Clone();
        options.Seed = seed;
        return options;
    }

    // The signatures of 1.x, before exampleWeightColumnName: kept so that code compiled against them still binds.
    // Their parameters are required, so source code picks the overloads above.

    /// <summary>The regression overload without <c>exampleWeightColumnName</c>, kept for code compiled against it.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static AutoClipNetTrainer AutoClipNet(this RegressionCatalog.RegressionTrainers catalog, string labelColumnName, string featureColumnName,
        double percentile, int? historyWindow, int? numberOfEpochs, int? batchSize, double? learningRate, int[]? hiddenLayerSizes, int? seed)
        => catalog.AutoClipNet(labelColumnName, featureColumnName, percentile, historyWindow, numberOfEpochs, batchSize, learningRate, hiddenLayerSizes, seed,
            exampleWeightColumnName: null);

    /// <summary>The binary overload without <c>exampleWeightColumnName</c>, kept for code compiled against it.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static AutoClipNetBinaryTrainer AutoClipNet(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, string labelColumnName,
        string featureColumnName, double percentile, int? historyWindow, int? numberOfEpochs, int? batchSize, double? learningRate, int[]? hiddenLayerSizes,
        int? seed)
        => catalog.AutoClipNet(labelColumnName, featureColumnName, percentile, historyWindow, numberOfEpochs, batchSize, learningRate, hiddenLayerSizes, seed,
            exampleWeightColumnName: null);

    /// <summary>The multiclass overload without <c>exampleWeightColumnName</c>, kept for code compiled against it.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static AutoClipNetMulticlassTrainer AutoClipNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName,
        string featureColumnName, double percentile, int? historyWindow, int? numberOfEpochs, int? batchSize, double? learningRate, int[]? hiddenLayerSizes,
        int? seed)
        => catalog.AutoClipNet(labelColumnName, featureColumnName, percentile, historyWindow, numberOfEpochs, batchSize, learningRate, hiddenLayerSizes, seed,
            exampleWeightColumnName: null);
}
