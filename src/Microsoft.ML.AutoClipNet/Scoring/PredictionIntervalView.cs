using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClipNet.Model;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// A regression model's prediction interval as two columns after the scored view's: <c>LowerBound</c> = Score − h and
/// <c>UpperBound</c> = Score + h (Single; h the model's conformal half-width). Every other column passes through with its
/// index; the bounds read the Score getter of the row below. For ML.NET's ONNX converter it is one more transform after the
/// scorer: Sub and Add on the Score variable.
/// </summary>
internal sealed class PredictionIntervalView : ITransformCanSaveOnnx
{
    public const string LowerBound = "LowerBound";
    public const string UpperBound = "UpperBound";

    private readonly IDataView _scored;
    private readonly float _halfWidth;
    private readonly int _score;

    public PredictionIntervalView(IDataView scored, float halfWidth)
    {
        _scored = scored;
        _halfWidth = halfWidth;
        _score = scored.Schema[DefaultColumnNames.Score].Index;
        Schema = Extend(scored.Schema);
    }

    /// <summary>The scored schema with the two bound columns appended.</summary>
    public static DataViewSchema Extend(DataViewSchema scored)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(scored);
        builder.AddColumn(LowerBound, NumberDataViewType.Single);
        builder.AddColumn(UpperBound, NumberDataViewType.Single);
        return builder.ToSchema();
    }

    public DataViewSchema Schema { get; }

    public IDataView Source => _scored;

    public bool CanShuffle => _scored.CanShuffle;

    public long? GetRowCount() => _scored.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        => new Cursor(this, _scored.GetRowCursor(Below(columnsNeeded, _scored.Schema, _score), rand), columnsNeeded);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => new[] { GetRowCursor(columnsNeeded, rand) };

    /// <summary>The columns of the view below that <paramref name="needed"/> reads: its own, and Score for a bound.</summary>
    internal static IEnumerable<DataViewSchema.Column> Below(IEnumerable<DataViewSchema.Column> needed, DataViewSchema below, int score)
        => needed.Select(c => c.Index < below.Count ? below[c.Index] : below[score]).DistinctBy(c => c.Index).ToList();

    bool ICanSaveOnnx.CanSaveOnnx(OnnxContext ctx) => true;

    void ISaveAsOnnx.SaveAsOnnx(OnnxContext ctx)
    {
        var graph = new OnnxContextGraph(ctx);
        string score = ctx.GetVariableName(DefaultColumnNames.Score);
        string halfWidth = graph.Scalar(_halfWidth, "IntervalHalfWidth");
        graph.Node("Sub", new[] { score, halfWidth }, ctx.AddIntermediateVariable(NumberDataViewType.Single, LowerBound));
        graph.Node("Add", new[] { score, halfWidth }, ctx.AddIntermediateVariable(NumberDataViewType.Single, UpperBound));
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException(
        "Save the AutoClipNet prediction transformer (mlContext.Model.Save), not its output.");

    /// <summary>The getters of a row that has the scored row's columns and the two bounds.</summary>
    internal static ValueGetter<TValue> Getter<TValue>(DataViewRow below, DataViewSchema.Column column, int score, float halfWidth)
    {
        if (column.Index < below.Schema.Count)
        {
            return below.GetGetter<TValue>(below.Schema[column.Index]);
        }
        if (typeof(TValue) != typeof(float))
        {
            throw new InvalidOperationException($"The column '{column.Name}' is Single; it was asked for as {typeof(TValue).Name}.");
        }
        var getScore = below.GetGetter<float>(below.Schema[score]);
        float sign = column.Name == LowerBound ? -1 : 1;
        ValueGetter<float> bound = (ref float value) =>
        {
            getScore(ref value);
            value += sign * halfWidth;
        };
        return (ValueGetter<TValue>)(Delegate)bound;
    }

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly PredictionIntervalView _parent;
        private readonly DataViewRowCursor _below;
        private readonly bool[] _active;

        public Cursor(PredictionIntervalView parent, DataViewRowCursor below, IEnumerable<DataViewSchema.Column> needed)
        {
            _parent = parent;
            _below = below;
            _active = new bool[parent.Schema.Count];
            foreach (var column in needed)
            {
                _active[column.Index] = true;
            }
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _below.Position;

        public override long Batch => _below.Batch;

        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

        public override bool MoveNext() => _below.MoveNext();

        public override ValueGetter<DataViewRowId> GetIdGetter() => _below.GetIdGetter();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!_active[column.Index])
            {
                throw new InvalidOperationException($"The column '{column.Name}' is not active in this cursor.");
            }
            return Getter<TValue>(_below, column, _parent._score, _parent._halfWidth);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _below.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}

/// <summary>The row-to-row mapper of a regression model with a prediction interval (PredictionEngine's): the scorer's, plus the bounds.</summary>
internal sealed class PredictionIntervalMapper : IRowToRowMapper
{
    private readonly IRowToRowMapper _scorer;
    private readonly float _halfWidth;
    private readonly int _score;

    public PredictionIntervalMapper(IRowToRowMapper scorer, float halfWidth)
    {
        _scorer = scorer;
        _halfWidth = halfWidth;
        _score = scorer.OutputSchema[DefaultColumnNames.Score].Index;
        OutputSchema = PredictionIntervalView.Extend(scorer.OutputSchema);
    }

    public DataViewSchema InputSchema => _scorer.InputSchema;

    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        => _scorer.GetDependencies(PredictionIntervalView.Below(dependingColumns, _scorer.OutputSchema, _score));

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        var active = activeColumns.ToList();
        return new Row(this, _scorer.GetRow(input, PredictionIntervalView.Below(active, _scorer.OutputSchema, _score)), active);
    }

    private sealed class Row : DataViewRow
    {
        private readonly PredictionIntervalMapper _parent;
        private readonly DataViewRow _below;
        private readonly bool[] _active;

        public Row(PredictionIntervalMapper parent, DataViewRow below, List<DataViewSchema.Column> active)
        {
            _parent = parent;
            _below = below;
            _active = new bool[parent.OutputSchema.Count];
            foreach (var column in active)
            {
                _active[column.Index] = true;
            }
        }

        public override DataViewSchema Schema => _parent.OutputSchema;

        public override long Position => _below.Position;

        public override long Batch => _below.Batch;

        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

        public override ValueGetter<DataViewRowId> GetIdGetter() => _below.GetIdGetter();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            => PredictionIntervalView.Getter<TValue>(_below, column, _parent._score, _parent._halfWidth);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _below.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
