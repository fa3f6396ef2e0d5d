using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// AutoClipNet for regression: an ML.NET trainer that trains a TorchSharp network with AutoClip
/// (adaptive gradient clipping, Seetharaman et al., MLSP 2020) in every training step. Create it with
/// <c>mlContext.Regression.Trainers.AutoClipNet(...)</c>. (The regression trainer kept the name it had
/// before the classification trainers, <see cref="AutoClipNetBinaryTrainer"/> and
/// <see cref="AutoClipNetMulticlassTrainer"/>, joined it.)
/// </summary>
/// <remarks>
/// Features are scaled (robust scaling with smooth clipping by default) and the label standardized inside the trainer (the
/// statistics are saved with the model), so the defaults work on ordinary tabular data without a normalizer in the pipeline.
/// Training with the same data, options and seed gives bit-identical weights and predictions on CPU.
/// </remarks>
public sealed class AutoClipNetTrainer : AutoClipNetTrainerBase<AutoClipNetTrainer.Options, AutoClipNetPredictionTransformer, AutoClipNetModelParameters>
{
    internal const string LoadName = "AutoClipNet";

    internal AutoClipNetTrainer(IHostEnvironment env, Options options)
        : base(env, LoadName, options, TrainerUtils.MakeR4ScalarColumn(options.LabelColumnName))
    {
    }

    /// <summary>The options of <see cref="AutoClipNetTrainer"/>: the shared ones and the label's standardization.</summary>
    public sealed class Options : AutoClipNetOptionsBase
    {
        /// <summary>Standardize the label inside the trainer; predictions are mapped back. Default true.</summary>
        public bool StandardizeLabel = true;

        /// <summary>Clip predictions to the range of the training labels. Default null: the recipe's (clipped for RealMlp, not for Mlp).</summary>
        public bool? ClampPredictions;

        /// <summary>
        /// The coverage of the prediction intervals the model outputs beside <c>Score</c>, as the columns <c>LowerBound</c> and
        /// <c>UpperBound</c>: 0.9 (the default) means that about 90% of new rows' labels fall inside. Split conformal: the
        /// half-width is a quantile of the absolute residuals on the trainer's hold-out rows (the validation set when one is given;
        /// an ensemble's members each on the rows they held out), the same for every row. Null: no interval columns.
        /// </summary>
        public double? PredictionIntervalCoverage = 0.9;

        private protected override string OptionsName => "AutoClipNetTrainer.Options";

        /// <inheritdoc/>
        public override void Validate()
        {
            base.Validate();
            Check(PredictionIntervalCoverage is null || (PredictionIntervalCoverage > 0 && PredictionIntervalCoverage < 1), nameof(PredictionIntervalCoverage),
                PredictionIntervalCoverage, "null (no interval) or between 0 and 1 (0.9: 90% of labels inside the interval)");
        }

        internal override Recipe ApplyTaskOptions(Recipe recipe) => recipe with { StandardizeLabel = StandardizeLabel, ClampPredictions = ClampPredictions ?? recipe.ClampPredictions };

        internal Options Clone() => (Options)CloneBase();
    }

    private protected override Options Clone(Options options) => options.Clone();

    /// <inheritdoc/>
    protected override PredictionKind PredictionKind => PredictionKind.Regression;

    /// <inheritdoc/>
    protected override SchemaShape.Column[] GetOutputColumnsCore(SchemaShape inputSchema)
    {
        var score = new SchemaShape.Column(DefaultColumnNames.Score, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false,
            new SchemaShape(AnnotationUtils.GetTrainerOutputAnnotation()));
        return _options.PredictionIntervalCoverage is null ? new[] { score } : new[]
        {
            score,
            new SchemaShape.Column(PredictionIntervalView.LowerBound, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false),
            new SchemaShape.Column(PredictionIntervalView.UpperBound, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false),
        };
    }

    private protected override AutoClipNetTask Task => RegressionTask.Instance;

    private protected override AutoClipNetModelParameters CreateModel(TrainingResult result, ScoreHead head,
        IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> validation, Recipe recipe, ITrainingMonitor monitor)
    {
        var regression = (RegressionHead)head;
        if (_options.PredictionIntervalCoverage is { } coverage)
        {
            regression = regression.WithInterval((float)coverage, IntervalHalfWidth(regression, validation, coverage, monitor));
        }
        return new(Host, result.Network, regression, result.AutoClipState, result.MemberHistories);
    }

    /// <summary>The conformal half-width from the held-out rows' residuals (each network on the rows it did not train on).</summary>
    private static float IntervalHalfWidth(RegressionHead head, IReadOnlyList<(NetworkDescription Network, ValidationRows Rows)> validation, double coverage,
        ITrainingMonitor monitor)
    {
        var rows = validation.Any(v => v.Rows.Count > 0) ? TemperatureScaling.OutOfFold(validation, MaxIntervalRows) : null;
        int n = rows?.Count ?? 0;
        var residuals = new float[n];
        for (int i = 0; i < n; i++)
        {
            residuals[i] = Math.Abs(rows!.Labels[i] - head.ToScore(rows.Outputs[i]));
        }
        float halfWidth = ConformalInterval.HalfWidth(residuals, rows?.Weights ?? Array.Empty<float>(), coverage);
        if (float.IsPositiveInfinity(halfWidth))
        {
            monitor.Warning(string.Format(CultureInfo.InvariantCulture,
                "The {0:P0} prediction interval is unbounded (LowerBound −∞, UpperBound +∞): {1} held-out rows are too few to bound it " +
                "(at least {2} are needed). Give a larger validation set, or set PredictionIntervalCoverage lower or to null.",
                coverage, n, ConformalInterval.RowsNeeded(coverage)));
        }
        else
        {
            monitor.Info(string.Format(CultureInfo.InvariantCulture,
                "Prediction interval: Score ± {0:G5} covers {1:P0} of labels (split conformal on {2} held-out rows).", halfWidth, coverage, n));
        }
        return halfWidth;
    }

    /// <summary>At most this many held-out rows calibrate the interval.</summary>
    internal const int MaxIntervalRows = 1 << 18;

    /// <inheritdoc/>
    protected override AutoClipNetPredictionTransformer MakeTransformer(AutoClipNetModelParameters model, DataViewSchema trainSchema)
        => new(Host, model, trainSchema, FeatureColumn.Name);
}
