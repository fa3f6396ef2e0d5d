using System;
using System.Collections.Generic;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// Reads the feature and label columns of an <see cref="IDataView"/> once: checks every value,
/// computes the standardization statistics, and packs the rows into two contiguous buffers when
/// they fit (<see cref="AutoClipNetTrainer.Options.MaxRowsInMemory"/>), otherwise leaves them to be
/// streamed at every epoch.
/// </summary>
internal sealed class TrainingData
{
    private readonly IDataView _data;
    private readonly DataViewSchema.Column _features;
    private readonly DataViewSchema.Column _label;
    private readonly bool _dropNonFinite;

    private TrainingData(IDataView data, DataViewSchema.Column features, DataViewSchema.Column label, int featureCount, bool dropNonFinite)
    {
        _data = data;
        _features = features;
        _label = label;
        FeatureCount = featureCount;
        _dropNonFinite = dropNonFinite;
    }

    public int FeatureCount { get; }

    /// <summary>Rows kept (finite), in memory or streamed.</summary>
    public long Rows { get; private set; }

    /// <summary>Rows skipped because a value was NaN or infinite (only with DropNonFiniteRows).</summary>
    public long DroppedRows { get; private set; }

    /// <summary>Row-major features (Rows × FeatureCount) when packed; null when streamed.</summary>
    public float[]? X { get; private set; }

    /// <summary>Labels when packed; null when streamed.</summary>
    public float[]? Y { get; private set; }

    public bool IsPacked => X is not null;

    /// <summary>Per-feature mean and standard deviation, and the label's, over the kept rows (double precision).</summary>
    public double[] FeatureMean { get; private set; } = Array.Empty<double>();

    public double[] FeatureStd { get; private set; } = Array.Empty<double>();

    public double LabelMean { get; private set; }

    public double LabelStd { get; private set; }

    /// <summary>Checks the columns' types with errors that name the column and the expected type.</summary>
    public static (DataViewSchema.Column Features, DataViewSchema.Column Label, int FeatureCount) CheckSchema(DataViewSchema schema, string featureColumn, string labelColumn, string dataName)
    {
        if (schema.GetColumnOrNull(featureColumn) is not { } features)
        {
            throw new ArgumentOutOfRangeException(nameof(featureColumn), featureColumn,
                $"The {dataName} has no feature column '{featureColumn}'. Build one with mlContext.Transforms.Concatenate(\"{featureColumn}\", ...), or set FeatureColumnName.");
        }
        if (features.Type is not VectorDataViewType { ItemType: NumberDataViewType itemType } vector || itemType != NumberDataViewType.Single || !vector.IsKnownSize)
        {
            throw new ArgumentOutOfRangeException(nameof(featureColumn), features.Type.ToString(),
                $"The feature column '{featureColumn}' of the {dataName} must be a known-size vector of Single, but is {features.Type}. " +
                "Concatenate fixed-size numeric columns into it, and convert other types with mlContext.Transforms.Conversion.ConvertType.");
        }
        if (schema.GetColumnOrNull(labelColumn) is not { } label)
        {
            throw new ArgumentOutOfRangeException(nameof(labelColumn), labelColumn,
                $"The {dataName} has no label column '{labelColumn}'. Set LabelColumnName, or copy the target with mlContext.Transforms.CopyColumns(\"{labelColumn}\", ...).");
        }
        if (label.Type != NumberDataViewType.Single)
        {
            throw new ArgumentOutOfRangeException(nameof(labelColumn), label.Type.ToString(),
                $"The label column '{labelColumn}' of the {dataName} must be Single, but is {label.Type}. Convert it with mlContext.Transforms.Conversion.ConvertType(\"{labelColumn}\", outputKind: DataKind.Single).");
        }
        return (features, label, vector.Size);
    }

    public static TrainingData Read(IHost host, IDataView data, string featureColumn, string labelColumn, bool dropNonFinite, long maxRowsInMemory, string dataName)
    {
        var (features, label, featureCount) = CheckSchema(data.Schema, featureColumn, labelColumn, dataName);
        var result = new TrainingData(data, features, label, featureCount, dropNonFinite);
        result.ReadAll(host, maxRowsInMemory, dataName);
        return result;
    }

    private void ReadAll(IHost host, long maxRowsInMemory, string dataName)
    {
        int f = FeatureCount;
        var x = new List<float[]>();
        var y = new List<float>();
        bool packing = true;
        var mean = new double[f];
        var m2 = new double[f];
        double labelMean = 0, labelM2 = 0;
        long kept = 0;
        var row = new float[f];
        var packed = new float[f * 4096];
        int packedFill = 0;

        ForEachRow(host, row, (ReadOnlySpan<float> values, float labelValue, long position) =>
        {
            kept++;
            for (int j = 0; j < f; j++)
            {
                double delta = values[j] - mean[j];
                mean[j] += delta / kept;
                m2[j] += delta * (values[j] - mean[j]);
            }
            double labelDelta = labelValue - labelMean;
            labelMean += labelDelta / kept;
            labelM2 += labelDelta * (labelValue - labelMean);

            if (packing && kept > maxRowsInMemory)
            {
                packing = false;
                x.Clear();
                y.Clear();
                packed = Array.Empty<float>();
            }
            if (packing)
            {
                if (packedFill + f > packed.Length)
                {
                    x.Add(packed[..packedFill]);
                    packedFill = 0;
                }
                values.CopyTo(packed.AsSpan(packedFill));
                packedFill += f;
                y.Add(labelValue);
            }
        }, dataName);

        if (kept == 0)
        {
            throw new InvalidOperationException(DroppedRows > 0
                ? $"Every one of the {DroppedRows} rows of the {dataName} has a NaN or infinite feature or label value, so no row is left to train on."
                : $"The {dataName} has no rows.");
        }
        Rows = kept;
        FeatureMean = mean;
        FeatureStd = new double[f];
        for (int j = 0; j < f; j++)
        {
            FeatureStd[j] = kept > 1 ? Math.Sqrt(m2[j] / (kept - 1)) : 0;
        }
        LabelMean = labelMean;
        LabelStd = kept > 1 ? Math.Sqrt(labelM2 / (kept - 1)) : 0;

        if (packing)
        {
            var all = new float[kept * f];
            int offset = 0;
            foreach (var chunk in x)
            {
                chunk.CopyTo(all, offset);
                offset += chunk.Length;
            }
            Array.Copy(packed, 0, all, offset, packedFill);
            X = all;
            Y = y.ToArray();
        }
    }

    public delegate void RowAction(ReadOnlySpan<float> features, float label, long position);

    /// <summary>
    /// Calls <paramref name="action"/> for every finite row in order; non-finite rows are counted and
    /// skipped or, without DropNonFiniteRows, reported with their row number, column and slot.
    /// </summary>
    public void ForEachRow(IHost host, float[] row, RowAction action, string dataName)
    {
        int f = FeatureCount;
        long dropped = 0;
        using (var cursor = _data.GetRowCursor(new[] { _features, _label }))
        {
            var featureGetter = cursor.GetGetter<VBuffer<float>>(_features);
            var labelGetter = cursor.GetGetter<float>(_label);
            VBuffer<float> buffer = default;
            float labelValue = 0;
            while (cursor.MoveNext())
            {
                if ((cursor.Position & 1023) == 0)
                {
                    host.CheckAlive();
                }
                featureGetter(ref buffer);
                labelGetter(ref labelValue);
                if (buffer.Length != f)
                {
                    throw new InvalidOperationException($"Row {cursor.Position} of the {dataName} has {buffer.Length} values in column '{_features.Name}'; {f} were expected.");
                }
                buffer.CopyTo(row);
                int bad = FirstNonFinite(row);
                if (bad >= 0 || !float.IsFinite(labelValue))
                {
                    if (_dropNonFinite)
                    {
                        dropped++;
                        continue;
                    }
                    string where = bad >= 0
                        ? $"column '{_features.Name}', slot {bad}, is {row[bad].ToString(System.Globalization.CultureInfo.InvariantCulture)}"
                        : $"column '{_label.Name}' is {labelValue.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
                    throw new InvalidOperationException(
                        $"Row {cursor.Position} of the {dataName} has a value that is not a finite number: {where}. " +
                        "Replace missing values (mlContext.Transforms.ReplaceMissingValues), filter such rows out, or set AutoClipNetTrainer.Options.DropNonFiniteRows = true to skip them.");
                }
                action(row, labelValue, cursor.Position);
            }
        }
        DroppedRows = dropped;
    }

    private static int FirstNonFinite(float[] row)
    {
        for (int i = 0; i < row.Length; i++)
        {
            if (!float.IsFinite(row[i]))
            {
                return i;
            }
        }
        return -1;
    }
}
