using System;
using Microsoft.ML;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

[assembly: LoadableClass(typeof(AutoClipNetPredictionTransformer), typeof(AutoClipNetPredictionTransformer), null, typeof(SignatureLoadModel),
    "AutoClipNet prediction transformer", AutoClipNetPredictionTransformer.LoaderSignature)]

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// The transformer <see cref="AutoClipNetTrainer"/> produces: adds the <c>Score</c> column (Single), and the prediction
/// interval's <c>LowerBound</c> and <c>UpperBound</c> (Single) when the model has one (see <see cref="AutoClipNetModelParameters.PredictionInterval"/>).
/// It is an ML.NET single-feature prediction transformer (Evaluate, CreatePredictionEngine,
/// CrossValidate, PermutationFeatureImportance and Model.Save/Load work as with first-party trainers),
/// except that <see cref="Transform"/> runs the network over batches of rows with TorchSharp
/// instead of one row at a time. A PredictionEngine scores single rows in managed code.
/// </summary>
public sealed class AutoClipNetPredictionTransformer : SingleFeaturePredictionTransformerBase<AutoClipNetModelParameters>, ITransformer
{
    internal const string LoaderSignature = "AutoClipNetPredXfer";

    /// <summary>Rows per TorchSharp batch in <see cref="Transform"/>.</summary>
    internal const int TransformBatchSize = 4096;

    internal AutoClipNetPredictionTransformer(IHostEnvironment env, AutoClipNetModelParameters model, DataViewSchema trainSchema, string featureColumn)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(AutoClipNetPredictionTransformer)), model, trainSchema, featureColumn)
    {
        Scorer = GetGenericScorer();
    }

    private AutoClipNetPredictionTransformer(IHostEnvironment env, ModelLoadContext ctx)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(AutoClipNetPredictionTransformer)), ctx)
    {
        Scorer = GetGenericScorer();
    }

    /// <summary>
    /// Adds the <c>Score</c> column to <paramref name="input"/> (and <c>LowerBound</c> and <c>UpperBound</c> when the model has a
    /// prediction interval). Rows are read ahead in batches of
    /// 4096 (fewer for a network too wide for them: see the scorer's memory budget) and scored together; the other columns
    /// pass through unchanged.
    /// </summary>
    public new IDataView Transform(IDataView input)
    {
        Host.CheckValue(input, nameof(input));
        CheckFeatureColumn(input.Schema);
        var scored = base.Transform(input); // ML.NET's scorer: binds the schema and defines the output schema
        IDataView batched = new BatchScoringDataView(Host, Model, input, scored, FeatureColumnName);
        return Model.PredictionInterval is { } interval ? new PredictionIntervalView(batched, interval.HalfWidth) : batched;
    }

    IDataView ITransformer.Transform(IDataView input) => Transform(input);

    /// <summary>The input's columns, <c>Score</c>, and <c>LowerBound</c> and <c>UpperBound</c> when the model has a prediction interval.</summary>
    public new DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        var scored = base.GetOutputSchema(inputSchema);
        return Model.PredictionInterval is null ? scored : PredictionIntervalView.Extend(scored);
    }

    DataViewSchema ITransformer.GetOutputSchema(DataViewSchema inputSchema) => GetOutputSchema(inputSchema);

    IRowToRowMapper ITransformer.GetRowToRowMapper(DataViewSchema inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        CheckFeatureColumn(inputSchema);
        var scorer = (IRowToRowMapper)Scorer.ApplyToData(Host, new EmptyDataView(Host, inputSchema));
        return Model.PredictionInterval is { } interval ? new PredictionIntervalMapper(scorer, interval.HalfWidth) : scorer;
    }

    /// <summary>The feature column must be there, with the width the network was trained on.</summary>
    private void CheckFeatureColumn(DataViewSchema schema)
    {
        var column = schema.GetColumnOrNull(FeatureColumnName);
        if (column is null)
        {
            throw new ArgumentOutOfRangeException(nameof(schema), FeatureColumnName,
                $"The data has no feature column '{FeatureColumnName}'; this AutoClipNet model needs it as {FeatureColumnType}.");
        }
        if (!column.Value.Type.Equals(FeatureColumnType))
        {
            throw new ArgumentOutOfRangeException(nameof(schema), column.Value.Type.ToString(),
                $"The feature column '{FeatureColumnName}' is {column.Value.Type}, but this AutoClipNet model was trained on {FeatureColumnType} " +
                $"({Model.FeatureCount} features). Featurize the data with the same pipeline as the training data.");
        }
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "ACNETXFR",
        verWrittenCur: 0x00010001, // 1.1: initial format
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AutoClipNetPredictionTransformer).Assembly.FullName);

    // Binary format: ML.NET's single-feature prediction transformer layout (the model as a sub-model,
    // the training schema as a binary stream, the feature column name). Version history: 0x00010001 initial.

    /// <inheritdoc/>
    protected override void SaveCore(ModelSaveContext ctx)
    {
        ctx.SetVersionInfo(GetVersionInfo());
        base.SaveCore(ctx);
    }

    internal static AutoClipNetPredictionTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        ModelVersions.CheckAtModel(ctx, GetVersionInfo(), "AutoClipNet prediction transformer");
        return new AutoClipNetPredictionTransformer(env, ctx);
    }
}
