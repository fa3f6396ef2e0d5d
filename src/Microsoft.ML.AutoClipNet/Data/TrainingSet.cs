using System;
using System.Collections.Generic;

namespace Microsoft.ML.AutoClipNet.Data;

/// <summary>How a <see cref="TrainingSet"/> is read.</summary>
/// <param name="MaxRowsInMemory">Above this many rows (training and held-out together) the rows are not kept: every epoch streams them again from the source.</param>
/// <param name="ValidationFraction">Share of the rows held out for validation (a seeded hash of the row position, so the same rows at every pass).</param>
/// <param name="Seed">Seed of the hold-out and of the statistics' sample.</param>
/// <param name="ClassCount">Number of classes (0 for regression): the label is a class index 0..ClassCount−1.</param>
/// <param name="SampleQuantiles">Keep a sample of the features for robust scaling's quartiles.</param>
/// <param name="KeepPositions">Keep each packed row's position in the source, so that <see cref="TrainingSet.ForMember"/> can split the rows again.</param>
internal sealed record TrainingSetOptions(long MaxRowsInMemory, double ValidationFraction, int Seed, int ClassCount, bool SampleQuantiles, bool KeepPositions = false);

/// <summary>
/// Statistics of the label over the training rows, weighted by the rows' example weights (frequency weights: a row of weight 2
/// counts as two rows; without weights every weight is 1 and the arithmetic is the unweighted one, bit for bit).
/// </summary>
internal sealed class LabelStatistics
{
    private double _m2;

    public LabelStatistics(int classCount)
    {
        ClassCounts = new long[classCount];
        ClassWeights = new double[classCount];
    }

    /// <summary>Rows (whatever their weights).</summary>
    public long Count { get; private set; }

    /// <summary>The sum of the rows' weights (<see cref="Count"/> without weights).</summary>
    public double WeightSum { get; private set; }

    /// <summary>The weighted mean.</summary>
    public double Mean { get; private set; }

    /// <summary>
    /// The sample standard deviation: √(Σ w (y − mean)² / (W − W/n)) for W = Σ w over n rows, which is the usual n − 1 form
    /// without weights and is unchanged when every weight is multiplied by the same factor (0 for fewer than two rows).
    /// </summary>
    public double StandardDeviation => Count > 1 ? Math.Sqrt(_m2 / (WeightSum - WeightSum / Count)) : 0;

    public float Min { get; private set; } = float.PositiveInfinity;

    public float Max { get; private set; } = float.NegativeInfinity;

    /// <summary>Rows per class (classification).</summary>
    public long[] ClassCounts { get; }

    /// <summary>The weight per class (classification): the rows per class without weights.</summary>
    public double[] ClassWeights { get; }

    /// <summary>Adds a row's label with its weight (West's weighted form of Welford's update; w = 1 gives Welford's, to the bit).</summary>
    public void Add(float label, float weight = 1f)
    {
        Count++;
        WeightSum += weight;
        double delta = label - Mean;
        Mean += delta * weight / WeightSum;
        _m2 += weight * delta * (label - Mean);
        Min = Math.Min(Min, label);
        Max = Math.Max(Max, label);
        if (ClassCounts.Length > 0)
        {
            ClassCounts[(int)label]++;
            ClassWeights[(int)label] += weight;
        }
    }
}

/// <summary>
/// The training rows read once: which rows are held out for validation, the statistics of the
/// training rows (never of the validation rows), and the rows themselves packed in two contiguous
/// arrays when there are at most <see cref="TrainingSetOptions.MaxRowsInMemory"/> of them; otherwise
/// they are streamed again from the source at every epoch, and memory stays bounded.
/// </summary>
internal sealed class TrainingSet
{
    private const int ChunkRows = 4096;

    private readonly IRowSource _source;
    private readonly TrainingSetOptions _options;
    private readonly int _member, _members;
    private long[]? _positions, _validationPositions;

    private TrainingSet(IRowSource source, TrainingSetOptions options)
    {
        _source = source;
        _options = options;
        _members = 1;
        FeatureCount = source.FeatureCount;
        Features = new FeatureStatistics(FeatureCount, options.Seed, options.SampleQuantiles);
        Label = new LabelStatistics(options.ClassCount);
    }

    /// <summary>A member's view of <paramref name="all"/>: the same rows and statistics, another hold-out (see <see cref="ForMember"/>).</summary>
    private TrainingSet(TrainingSet all, int member, int members)
    {
        _source = all._source;
        _options = all._options;
        _member = member;
        _members = members;
        FeatureCount = all.FeatureCount;
        Features = all.Features;
        Label = all.Label;
        DroppedRows = all.DroppedRows;
    }

    public int FeatureCount { get; }

    public FeatureStatistics Features { get; }

    public LabelStatistics Label { get; }

    /// <summary>Rows trained on.</summary>
    public long TrainingRows { get; private set; }

    /// <summary>Rows held out by the validation fraction.</summary>
    public long ValidationRows { get; private set; }

    /// <summary>Rows the source skipped (non-finite or missing values, when asked to skip them).</summary>
    public long DroppedRows { get; private set; }

    /// <summary>Training rows, row-major, when packed; null when streamed.</summary>
    public float[]? X { get; private set; }

    /// <summary>Training labels when packed.</summary>
    public float[]? Y { get; private set; }

    /// <summary>Training rows' weights when packed and the source has weights (else null: every weight is 1).</summary>
    public float[]? W { get; private set; }

    /// <summary>Training rows' groups when packed and the source has groups (else null: every group is 0).</summary>
    public long[]? G { get; private set; }

    /// <summary>The held-out rows, row-major, when packed (empty when streamed or when nothing is held out).</summary>
    public float[] ValidationX { get; private set; } = Array.Empty<float>();

    public float[] ValidationY { get; private set; } = Array.Empty<float>();

    /// <summary>The held-out rows' weights and groups when packed and the source has them (else null).</summary>
    public float[]? ValidationW { get; private set; }

    public long[]? ValidationG { get; private set; }

    /// <summary>Whether the rows carry weights of their own.</summary>
    public bool HasWeights => _source.HasWeights;

    /// <summary>Whether the rows carry groups.</summary>
    public bool HasGroups => _source.HasGroups;

    public bool IsPacked => X is not null;

    /// <summary>Reads every row of <paramref name="source"/> once.</summary>
    /// <exception cref="InvalidOperationException">No row is left to train on.</exception>
    public static TrainingSet Read(IRowSource source, TrainingSetOptions options, string dataName)
    {
        var set = new TrainingSet(source, options);
        set.ReadAll(dataName);
        return set;
    }

    /// <summary>Whether the row at <paramref name="position"/> is held out for validation (a seeded hash: the same rows in every pass).</summary>
    public bool IsValidationRow(long position) => IsHeldOut(position, _options.Seed, _options.ValidationFraction, _member, _members);

    /// <summary>
    /// Whether the row at <paramref name="position"/> is held out from member <paramref name="member"/> of
    /// <paramref name="members"/>: a seeded hash of the position gives the row a number u in [0, 1), and the member
    /// holds out the rows with (u − member/members) mod 1 below <paramref name="fraction"/>. The first member (and a
    /// single network) holds out u &lt; fraction; with fraction 1/members the members hold out disjoint rows that
    /// together are all of them (cross-validation folds).
    /// </summary>
    internal static bool IsHeldOut(long position, int seed, double fraction, int member = 0, int members = 1)
    {
        if (fraction <= 0)
        {
            return false;
        }
        ulong h = (ulong)position * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)seed * 0xC2B2AE3D27D4EB4FUL;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 32;
        ulong t = h >> 11; // the row's number u = t / 2⁵³ in [0, 1)
        if (member == 0)
        {
            return t * (1.0 / (1UL << 53)) < fraction;
        }
        // (u − member/members) mod 1 < fraction, in exact integers: d = (t·K − k·2⁵³) mod K·2⁵³ against fraction·K·2⁵³,
        // so that with fraction 1/K the slices meet exactly (as doubles, −0.8 + 1 is 0.19999999999999996).
        const ulong N = 1UL << 53;
        ulong k = (ulong)members;
        ulong d = (k * t + (k - (ulong)member) * N) % (k * N);
        return d < (ulong)Math.Ceiling(fraction * members * N);
    }

    /// <summary>
    /// Member <paramref name="member"/> of an ensemble of <paramref name="members"/>: the same rows, statistics (the
    /// first member's training rows') and source, with the member's own hold-out (<see cref="IsHeldOut"/>). Member 0
    /// is this set itself. Packed rows are split again in memory (the set must have been read with KeepPositions);
    /// streamed ones are counted in one pass over the source and filtered at every pass.
    /// </summary>
    public TrainingSet ForMember(int member, int members)
    {
        if (member < 0 || member >= members || _members != 1)
        {
            throw new ArgumentOutOfRangeException(nameof(member), member, $"Member 0 to {members - 1} of a set read for one network.");
        }
        if (member == 0)
        {
            return this;
        }
        var view = new TrainingSet(this, member, members);
        int f = FeatureCount;
        if (IsPacked)
        {
            if (_positions is null || _validationPositions is null)
            {
                throw new InvalidOperationException("The rows were packed without their positions.");
            }
            // Both lists are in source order: merge them, and deal each row to the member's training or held-out rows.
            var training = new PackedRows(f, HasWeights, HasGroups);
            var validation = new PackedRows(f, HasWeights, HasGroups);
            int a = 0, b = 0;
            while (a < _positions.Length || b < _validationPositions.Length)
            {
                bool fromTraining = b >= _validationPositions.Length || (a < _positions.Length && _positions[a] < _validationPositions[b]);
                int i = fromTraining ? a++ : b++;
                var row = fromTraining
                    ? new Row(X.AsSpan(i * f, f), Y![i], _positions[i], W?[i] ?? 1f, G?[i] ?? 0)
                    : new Row(ValidationX.AsSpan(i * f, f), ValidationY[i], _validationPositions[i], ValidationW?[i] ?? 1f, ValidationG?[i] ?? 0);
                (view.IsValidationRow(row.Position) ? validation : training).Add(row);
            }
            (view.X, view.Y, view.W, view.G) = (training.Features(), training.Labels.ToArray(), training.Weights?.ToArray(), training.Groups?.ToArray());
            (view.ValidationX, view.ValidationY, view.ValidationW, view.ValidationG) = (validation.Features(), validation.Labels.ToArray(), validation.Weights?.ToArray(), validation.Groups?.ToArray());
            view.TrainingRows = view.Y.Length;
            view.ValidationRows = view.ValidationY.Length;
        }
        else
        {
            long training = 0, heldOut = 0;
            _source.ForEachRow((in Row row) =>
            {
                if (view.IsValidationRow(row.Position))
                {
                    heldOut++;
                }
                else
                {
                    training++;
                }
            });
            view.TrainingRows = training;
            view.ValidationRows = heldOut;
        }
        if (view.TrainingRows == 0)
        {
            throw new InvalidOperationException($"Ensemble member {member + 1} of {members} holds out every one of the {view.ValidationRows} rows; lower ValidationFraction or give more rows.");
        }
        return view;
    }

    private void ReadAll(string dataName)
    {
        int f = FeatureCount;
        var training = new PackedRows(f, HasWeights, HasGroups);
        var validation = new PackedRows(f, HasWeights, HasGroups);
        bool packing = true;
        var positions = _options.KeepPositions ? new List<long>() : null;
        var validationPositions = _options.KeepPositions ? new List<long>() : null;

        DroppedRows = _source.ForEachRow((in Row row) =>
        {
            if (packing && Label.Count + ValidationRows >= _options.MaxRowsInMemory)
            {
                packing = false;
                training = validation = null!;
                positions = validationPositions = null;
            }
            if (IsValidationRow(row.Position))
            {
                if (packing)
                {
                    validation.Add(row);
                    validationPositions?.Add(row.Position);
                }
                ValidationRows++;
                return;
            }
            Features.Add(row.Features);
            Label.Add(row.Label, row.Weight);
            if (packing)
            {
                training.Add(row);
                positions?.Add(row.Position);
            }
        });
        TrainingRows = Label.Count;

        if (Label.Count == 0)
        {
            throw new InvalidOperationException(
                DroppedRows > 0 ? $"Every one of the {DroppedRows} rows of the {dataName} has a missing, NaN or infinite value, so no row is left to train on."
                : ValidationRows > 0 ? $"Every one of the {ValidationRows} rows of the {dataName} was held out for validation; lower ValidationFraction or give more rows."
                : _source.ZeroWeightRows > 0 ? $"Every one of the {_source.ZeroWeightRows} rows of the {dataName} has weight 0 in the example weight column, so no row is left to train on."
                : $"The {dataName} has no rows.");
        }
        if (packing)
        {
            (X, Y, W, G) = (training.Features(), training.Labels.ToArray(), training.Weights?.ToArray(), training.Groups?.ToArray());
            (ValidationX, ValidationY, ValidationW, ValidationG) = (validation.Features(), validation.Labels.ToArray(), validation.Weights?.ToArray(), validation.Groups?.ToArray());
            _positions = positions?.ToArray();
            _validationPositions = validationPositions?.ToArray();
        }
    }

    /// <summary>Streams the training rows (not the held-out ones) again from the source, in order.</summary>
    public void ForEachTrainingRow(RowAction action)
    {
        if (IsPacked)
        {
            int f = FeatureCount;
            for (int i = 0; i < Y!.Length; i++)
            {
                action(new Row(X.AsSpan(i * f, f), Y[i], i, W?[i] ?? 1f, G?[i] ?? 0));
            }
            return;
        }
        _source.ForEachRow((in Row row) =>
        {
            if (!IsValidationRow(row.Position))
            {
                action(row);
            }
        });
    }

    /// <summary>The held-out rows, from memory or streamed again from the source.</summary>
    public void ForEachValidationRow(RowAction action)
    {
        if (ValidationRows == 0)
        {
            return;
        }
        if (IsPacked)
        {
            int f = FeatureCount;
            for (int i = 0; i < ValidationY.Length; i++)
            {
                action(new Row(ValidationX.AsSpan(i * f, f), ValidationY[i], i, ValidationW?[i] ?? 1f, ValidationG?[i] ?? 0));
            }
            return;
        }
        _source.ForEachRow((in Row row) =>
        {
            if (IsValidationRow(row.Position))
            {
                action(row);
            }
        });
    }

    /// <summary>Rows being packed: features in chunks of 4,096 rows (no array grows past what it holds), labels, and weights and groups when the source has them.</summary>
    private sealed class PackedRows
    {
        private readonly int _features;
        private readonly List<float[]> _chunks = new();
        private float[] _chunk;
        private int _fill;

        public PackedRows(int features, bool weights, bool groups)
        {
            _features = features;
            _chunk = new float[ChunkRows * features];
            Weights = weights ? new List<float>() : null;
            Groups = groups ? new List<long>() : null;
        }

        public List<float> Labels { get; } = new();

        public List<float>? Weights { get; }

        public List<long>? Groups { get; }

        public void Add(in Row row)
        {
            if (_fill == _chunk.Length)
            {
                _chunks.Add(_chunk);
                _chunk = new float[ChunkRows * _features];
                _fill = 0;
            }
            row.Features.CopyTo(_chunk.AsSpan(_fill, _features));
            _fill += _features;
            Labels.Add(row.Label);
            Weights?.Add(row.Weight);
            Groups?.Add(row.Group);
        }

        /// <summary>Every row's features, row-major, in one array.</summary>
        public float[] Features()
        {
            var all = new float[(long)Labels.Count * _features];
            int offset = 0;
            foreach (var full in _chunks)
            {
                full.CopyTo(all, offset);
                offset += full.Length;
            }
            Array.Copy(_chunk, 0, all, offset, _fill);
            return all;
        }
    }
}
