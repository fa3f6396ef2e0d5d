using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// The output of <see cref="AutoClipNetPredictionTransformer.Transform"/>: ML.NET's scored view, except
/// that the Score column is computed for batches of rows at once. Its cursor reads up to
/// <see cref="AutoClipNetPredictionTransformer.TransformBatchSize"/> rows (fewer for a very wide network: Network.BatchScorer.MemoryBudget) ahead from the scorer's
/// input, keeps a copy of every active column of those rows (the features go straight into the
/// input tensor of a scorer the cursor owns), scores the batch with one TorchSharp forward, and then
/// replays the rows one by one. For ML.NET's ONNX converter, which walks a pipeline's output back through
/// <see cref="IDataTransform.Source"/>, it is the scorer it wraps: same source, same ONNX nodes.
/// </summary>
internal sealed class BatchScoringDataView : ITransformCanSaveOnnx
{
    private readonly IHost _host;
    private readonly AutoClipNetModelParameters _model;
    private readonly IDataView _input;
    private readonly IDataView _scored;
    private readonly DataViewSchema.Column _score;
    private readonly DataViewSchema.Column _features;

    /// <param name="host">The transformer's host (cancellation).</param>
    /// <param name="model">The model that scores the batches.</param>
    /// <param name="input">The data being transformed: the cursor reads it directly.</param>
    /// <param name="scored">ML.NET's scorer over <paramref name="input"/>: it defines the output schema, in
    /// which every input column keeps its index and Score comes after them.</param>
    /// <param name="featureColumn">The feature column's name.</param>
    public BatchScoringDataView(IHost host, AutoClipNetModelParameters model, IDataView input, IDataView scored, string featureColumn)
    {
        _host = host;
        _model = model;
        _input = input;
        _scored = scored;
        _score = scored.Schema[DefaultColumnNames.Score];
        _features = input.Schema[featureColumn];
        if (_score.Index < input.Schema.Count)
        {
            throw new InvalidOperationException("The scored schema does not extend the input schema as expected.");
        }
    }

    public DataViewSchema Schema => _scored.Schema;

    /// <summary>The data being scored (what ML.NET's scorer reads too).</summary>
    public IDataView Source => _input;

    private ITransformCanSaveOnnx OnnxScorer => _scored as ITransformCanSaveOnnx
        ?? throw new InvalidOperationException($"ML.NET's scorer ({_scored.GetType().Name}) cannot be saved as ONNX.");

    bool ICanSaveOnnx.CanSaveOnnx(OnnxContext ctx) => _scored is ITransformCanSaveOnnx scorer && scorer.CanSaveOnnx(ctx);

    void ISaveAsOnnx.SaveAsOnnx(OnnxContext ctx) => OnnxScorer.SaveAsOnnx(ctx);

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)_scored).Save(ctx);

    public bool CanShuffle => _scored.CanShuffle;

    public long? GetRowCount() => _scored.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        if (!needed.Any(c => c.Index == _score.Index))
        {
            // No score wanted: the input's own cursor, seen through this view's schema.
            return new PassThroughCursor(this, _input.GetRowCursor(needed.Select(c => _input.Schema[c.Index]), rand));
        }
        // Input columns pass through with their index. The features are read for scoring; they are
        // copied for replay only when the caller asked for them.
        var passThrough = needed.Where(c => c.Index != _score.Index).Select(c => _input.Schema[c.Index]).DistinctBy(c => c.Index).ToList();
        var upstream = _input.GetRowCursor(passThrough.Append(_features), rand);
        return new Cursor(this, upstream, passThrough);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => new[] { GetRowCursor(columnsNeeded, rand) };

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly BatchScoringDataView _parent;
        private readonly DataViewRowCursor _upstream;
        private readonly Dictionary<int, ColumnBuffer> _buffers = new();
        private readonly ColumnBuffer[] _bufferList;
        private readonly ValueGetter<VBuffer<float>> _featureGetter;
        private readonly ValueGetter<DataViewRowId> _idGetter;
        private readonly DataViewRowId[] _ids;
        private readonly Network.IBatchScorer _scorer;
        private readonly float[] _scores;
        private VBuffer<float> _featureBuffer;
        private int _count;
        private int _index;
        private long _position = -1;
        private bool _disposed;

        public Cursor(BatchScoringDataView parent, DataViewRowCursor upstream, List<DataViewSchema.Column> columns)
        {
            _parent = parent;
            _upstream = upstream;
            // Batches of TransformBatchSize rows, or fewer for a network so wide that their buffers would pass the scorer's budget.
            _scorer = parent._model.CreateBatchScorer(AutoClipNetPredictionTransformer.TransformBatchSize);
            try
            {
                int capacity = _scorer.Capacity;
                foreach (var column in columns)
                {
                    _buffers[column.Index] = ColumnBuffer.Create(upstream, column, capacity);
                }
                _bufferList = _buffers.Values.ToArray();
                _featureGetter = upstream.GetGetter<VBuffer<float>>(parent._features);
                _idGetter = upstream.GetIdGetter();
                _ids = new DataViewRowId[capacity];
                _scores = new float[capacity];
            }
            catch
            {
                _scorer.Dispose();
                throw;
            }
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _position;

        public override long Batch => _upstream.Batch;

        public override bool IsColumnActive(DataViewSchema.Column column)
            => column.Index == _parent._score.Index || _buffers.ContainsKey(column.Index);

        public override bool MoveNext()
        {
            if (_disposed)
            {
                return false;
            }
            if (++_index < _count)
            {
                _position++;
                return true;
            }
            FillBatch();
            if (_count == 0)
            {
                return false;
            }
            _index = 0;
            _position++;
            return true;
        }

        private void FillBatch()
        {
            _count = 0;
            int f = _parent._model.FeatureCount;
            int capacity = _scores.Length;
            // The features go straight into the scorer's input tensor.
            var features = _scorer.Input;
            while (_count < capacity && _upstream.MoveNext())
            {
                foreach (var buffer in _bufferList)
                {
                    buffer.Fill(_count);
                }
                _idGetter(ref _ids[_count]);
                _featureGetter(ref _featureBuffer);
                _featureBuffer.CopyTo(features.Slice(_count * f, f));
                _count++;
            }
            if (_count > 0)
            {
                _parent._host.CheckAlive();
                var outputs = _scorer.Forward(_count);
                var model = _parent._model;
                for (int i = 0; i < _count; i++)
                {
                    _scores[i] = model.ToScore(outputs[i]);
                }
            }
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index == _parent._score.Index)
            {
                if (typeof(TValue) != typeof(float))
                {
                    throw new InvalidOperationException($"The column '{column.Name}' is Single; it was asked for as {typeof(TValue).Name}.");
                }
                ValueGetter<float> score = (ref float value) => value = _scores[_index];
                return (ValueGetter<TValue>)(Delegate)score;
            }
            if (!_buffers.TryGetValue(column.Index, out var buffer))
            {
                throw new InvalidOperationException($"The column '{column.Name}' is not active in this cursor.");
            }
            return buffer.GetGetter<TValue>(this);
        }

        public override ValueGetter<DataViewRowId> GetIdGetter()
            => (ref DataViewRowId value) => value = _ids[_index];

        protected override void Dispose(bool disposing)
        {
            if (!_disposed && disposing)
            {
                _upstream.Dispose();
                _scorer.Dispose();
            }
            _disposed = true;
            base.Dispose(disposing);
        }

        public int Index => _index;
    }

    /// <summary>The input's cursor under this view's schema (every input column keeps its index).</summary>
    private sealed class PassThroughCursor : DataViewRowCursor
    {
        private readonly BatchScoringDataView _parent;
        private readonly DataViewRowCursor _input;

        public PassThroughCursor(BatchScoringDataView parent, DataViewRowCursor input)
        {
            _parent = parent;
            _input = input;
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _input.Position;

        public override long Batch => _input.Batch;

        public override bool IsColumnActive(DataViewSchema.Column column)
            => column.Index < _input.Schema.Count && _input.IsColumnActive(_input.Schema[column.Index]);

        public override bool MoveNext() => _input.MoveNext();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column))
            {
                throw new InvalidOperationException($"The column '{column.Name}' is not active in this cursor.");
            }
            return _input.GetGetter<TValue>(_input.Schema[column.Index]);
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _input.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>A copy of one column's values for the rows of a batch.</summary>
    private abstract class ColumnBuffer
    {
        private static readonly MethodInfo CreatePlainMethod = typeof(ColumnBuffer).GetMethod(nameof(CreatePlain), BindingFlags.NonPublic | BindingFlags.Static)!;
        private static readonly MethodInfo CreateVectorMethod = typeof(ColumnBuffer).GetMethod(nameof(CreateVector), BindingFlags.NonPublic | BindingFlags.Static)!;

        public static ColumnBuffer Create(DataViewRowCursor upstream, DataViewSchema.Column column, int capacity)
        {
            var raw = column.Type.RawType;
            var method = raw.IsGenericType && raw.GetGenericTypeDefinition() == typeof(VBuffer<>)
                ? CreateVectorMethod.MakeGenericMethod(raw.GetGenericArguments()[0])
                : CreatePlainMethod.MakeGenericMethod(raw);
            return (ColumnBuffer)method.Invoke(null, new object[] { upstream, column, capacity })!;
        }

        private static ColumnBuffer CreatePlain<T>(DataViewRowCursor upstream, DataViewSchema.Column column, int capacity)
            => new Plain<T>(upstream.GetGetter<T>(column), capacity);

        private static ColumnBuffer CreateVector<T>(DataViewRowCursor upstream, DataViewSchema.Column column, int capacity)
            => new Vector<T>(upstream.GetGetter<VBuffer<T>>(column), capacity);

        public abstract void Fill(int slot);

        public abstract ValueGetter<TValue> GetGetter<TValue>(Cursor cursor);

        private sealed class Plain<T> : ColumnBuffer
        {
            private readonly ValueGetter<T> _source;
            private readonly T[] _values;

            public Plain(ValueGetter<T> source, int capacity)
            {
                _source = source;
                _values = new T[capacity];
            }

            public override void Fill(int slot) => _source(ref _values[slot]);

            public override ValueGetter<TValue> GetGetter<TValue>(Cursor cursor)
            {
                ValueGetter<T> getter = (ref T value) => value = _values[cursor.Index];
                return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"The column holds {typeof(T).Name}, not {typeof(TValue).Name}.");
            }
        }

        private sealed class Vector<T> : ColumnBuffer
        {
            private readonly ValueGetter<VBuffer<T>> _source;
            private readonly VBuffer<T>[] _values;
            private VBuffer<T> _temp;

            public Vector(ValueGetter<VBuffer<T>> source, int capacity)
            {
                _source = source;
                _values = new VBuffer<T>[capacity];
            }

            public override void Fill(int slot)
            {
                // Copied, so the slot never shares arrays with the upstream getter.
                _source(ref _temp);
                _temp.CopyTo(ref _values[slot]);
            }

            public override ValueGetter<TValue> GetGetter<TValue>(Cursor cursor)
            {
                ValueGetter<VBuffer<T>> getter = (ref VBuffer<T> value) => _values[cursor.Index].CopyTo(ref value);
                return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"The column holds VBuffer<{typeof(T).Name}>, not {typeof(TValue).Name}.");
            }
        }
    }
}
