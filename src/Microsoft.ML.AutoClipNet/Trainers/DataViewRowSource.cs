using System;
using System.Globalization;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// The ML.NET side of reading training rows: checks the schema with errors that name the column, the
/// type found and how to fix it, then reads feature vectors and labels through a cursor, encoding the
/// label and refusing (or skipping and counting) rows with a missing or non-finite value.
/// </summary>
internal sealed class DataViewRowSource : IRowSource
{
    private readonly IHost _host;
    private readonly IDataView _data;
    private readonly DataViewSchema.Column _features;
    private readonly DataViewSchema.Column _label;
    private readonly DataViewSchema.Column? _weight;
    private readonly LabelKind _labelKind;
    private readonly bool _dropNonFinite;
    private readonly bool _missingFeatures;
    private readonly string _dataName;

    /// <summary>
    /// A source over <paramref name="data"/>'s <paramref name="featureColumn"/>, <paramref name="labelColumn"/> (read as
    /// <paramref name="labelKind"/>) and, when given, <paramref name="weightColumn"/>; <paramref name="dataName"/> names the data in
    /// errors. With <paramref name="dropNonFinite"/> a row with a value the trainer cannot use is skipped and counted instead of
    /// refused; with <paramref name="missingFeatures"/> a NaN feature is a missing value the model handles (passed on as NaN),
    /// else it is refused like an infinity. <paramref name="host"/> checks for cancellation.
    /// </summary>
    public DataViewRowSource(IHost host, IDataView data, string featureColumn, string labelColumn, LabelKind labelKind, bool dropNonFinite, string dataName,
        string? weightColumn = null, bool missingFeatures = false)
    {
        _missingFeatures = missingFeatures;
        (_features, _label, FeatureCount, ClassCount) = CheckSchema(data.Schema, featureColumn, labelColumn, labelKind, dataName);
        _weight = weightColumn is null ? null : CheckWeight(data.Schema, weightColumn, dataName);
        _host = host;
        _data = data;
        _labelKind = labelKind;
        _dropNonFinite = dropNonFinite;
        _dataName = dataName;
    }

    public int FeatureCount { get; }

    /// <summary>Whether rows carry the weights of an example weight column (else every weight is 1).</summary>
    public bool HasWeights => _weight is not null;

    /// <summary>Rows of weight 0 the latest pass skipped (they count nowhere, as if they were not in the data).</summary>
    public long ZeroWeightRows { get; private set; }

    /// <summary>Rows carry no groups.</summary>
    public bool HasGroups => false;

    /// <summary>The key type's number of classes (multiclass), else 0.</summary>
    public int ClassCount { get; }

    /// <summary>Checks the columns' types with errors that name the column and the expected type.</summary>
    public static (DataViewSchema.Column Features, DataViewSchema.Column Label, int FeatureCount, int ClassCount) CheckSchema(DataViewSchema schema,
        string featureColumn, string labelColumn, LabelKind labelKind, string dataName)
    {
        var features = CheckFeatures(schema, featureColumn, dataName);
        if (schema.GetColumnOrNull(labelColumn) is not { } label)
        {
            throw new ArgumentOutOfRangeException(nameof(labelColumn), labelColumn,
                $"The {dataName} has no label column '{labelColumn}'. Set LabelColumnName, or copy the target with mlContext.Transforms.CopyColumns(\"{labelColumn}\", ...).");
        }
        int classes = CheckLabel(label, labelKind, dataName);
        return (features, label, ((VectorDataViewType)features.Type).Size, classes);
    }

    /// <summary>Checks the example weight column: present, and a Single.</summary>
    public static DataViewSchema.Column CheckWeight(DataViewSchema schema, string weightColumn, string dataName)
    {
        if (schema.GetColumnOrNull(weightColumn) is not { } weight)
        {
            throw new ArgumentOutOfRangeException("exampleWeightColumnName", weightColumn,
                $"The {dataName} has no example weight column '{weightColumn}' (ExampleWeightColumnName).");
        }
        if (weight.Type != NumberDataViewType.Single)
        {
            throw new ArgumentOutOfRangeException("exampleWeightColumnName", weight.Type.ToString(),
                $"The example weight column '{weightColumn}' of the {dataName} must be Single, but is {weight.Type}. " +
                $"Convert it with mlContext.Transforms.Conversion.ConvertType(\"{weightColumn}\", outputKind: DataKind.Single).");
        }
        return weight;
    }

    public static DataViewSchema.Column CheckFeatures(DataViewSchema schema, string featureColumn, string dataName)
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
        return features;
    }

    /// <summary>Checks the label column's type for the task; returns the number of classes of a key label (else 0).</summary>
    public static int CheckLabel(DataViewSchema.Column label, LabelKind kind, string dataName)
    {
        string name = label.Name;
        bool wrong = kind switch
        {
            LabelKind.Single => label.Type != NumberDataViewType.Single,
            LabelKind.Boolean => label.Type != BooleanDataViewType.Instance,
            _ => label.Type is not KeyDataViewType,
        };
        if (wrong)
        {
            throw new ArgumentOutOfRangeException("labelColumnName", label.Type.ToString(),
                WrongLabelType(name, label.Type.ToString() ?? "", kind, label.Type is TextDataViewType, label.Type is KeyDataViewType, dataName));
        }
        switch (kind)
        {
            case LabelKind.Key:
                var key = (KeyDataViewType)label.Type;
                if (key.RawType != typeof(uint))
                {
                    throw new ArgumentOutOfRangeException("labelColumnName", label.Type.ToString(),
                        $"The label column '{name}' of the {dataName} is a key of {key.RawType.Name}; AutoClipNet reads keys of UInt32, which mlContext.Transforms.Conversion.MapValueToKey(\"{name}\") makes.");
                }
                if (key.Count < 2 || key.Count > int.MaxValue)
                {
                    throw new ArgumentOutOfRangeException("labelColumnName", key.Count,
                        $"The label column '{name}' of the {dataName} has {key.Count} class{(key.Count == 1 ? "" : "es")}; multiclass classification needs at least 2. " +
                        "Check the column MapValueToKey learned its keys from, or use a regression or binary trainer.");
                }
                return (int)key.Count;
        }
        return 0;
    }

    /// <summary>The error for a label of the wrong type: what was found, what the task needs, and how to get it.</summary>
    public static string WrongLabelType(string name, string found, LabelKind kind, bool isText, bool isKey, string? dataName)
    {
        string where = dataName is null ? $"The label column '{name}'" : $"The label column '{name}' of the {dataName}";
        return kind switch
        {
            LabelKind.Single => $"{where} must be Single for regression, but is {found}. " +
                $"Convert it with mlContext.Transforms.Conversion.ConvertType(\"{name}\", outputKind: DataKind.Single).",
            LabelKind.Boolean => $"{where} must be Boolean for binary classification, but is {found}. " + (isText
                ? $"Map its two values to true and false first, for example with mlContext.Transforms.Conversion.MapValue(\"{name}\", new[] {{ KeyValuePair.Create(\"Yes\", true), KeyValuePair.Create(\"No\", false) }})."
                : isKey
                ? "A key label is for multiclass classification (mlContext.MulticlassClassification.Trainers.AutoClipNet)."
                : $"Convert it with mlContext.Transforms.Conversion.ConvertType(\"{name}\", outputKind: DataKind.Boolean) (non-zero becomes true)."),
            _ => $"{where} must be a key (the class) for multiclass classification, but is {found}. " +
                $"Map the class values to keys with mlContext.Transforms.Conversion.MapValueToKey(\"{name}\").",
        };
    }

    public long ForEachRow(RowAction action)
    {
        int f = FeatureCount;
        long dropped = 0, zeroWeight = 0;
        var row = new float[f];
        using var cursor = _data.GetRowCursor(_weight is { } w ? new[] { _features, _label, w } : new[] { _features, _label });
        var featureGetter = cursor.GetGetter<VBuffer<float>>(_features);
        var labelReader = LabelReader(cursor);
        var weightGetter = _weight is { } weightColumn ? cursor.GetGetter<float>(weightColumn) : null;
        VBuffer<float> buffer = default;
        float weight = 1f;
        while (cursor.MoveNext())
        {
            if ((cursor.Position & 1023) == 0)
            {
                _host.CheckAlive();
            }
            if (weightGetter is not null)
            {
                weightGetter(ref weight);
                if (weight == 0)
                {
                    zeroWeight++;
                    continue;
                }
                if (!(weight > 0) || float.IsPositiveInfinity(weight))
                {
                    if (_dropNonFinite && !float.IsFinite(weight))
                    {
                        dropped++;
                        continue;
                    }
                    throw new InvalidOperationException(
                        $"Row {cursor.Position} of the {_dataName} has the weight {weight.ToString(CultureInfo.InvariantCulture)} in the example weight column '{_weight!.Value.Name}'; " +
                        "a weight must be a finite number, 0 or more (a row of weight 0 is skipped)." +
                        (float.IsFinite(weight) ? "" : " Set DropNonFiniteRows = true in the trainer's options to skip rows whose weight is NaN or infinite."));
                }
            }
            featureGetter(ref buffer);
            if (buffer.Length != f)
            {
                throw new InvalidOperationException($"Row {cursor.Position} of the {_dataName} has {buffer.Length} values in column '{_features.Name}'; {f} were expected.");
            }
            buffer.CopyTo(row);
            float label = labelReader(out string? badLabel);
            int bad = FirstUnusable(row, _missingFeatures);
            if (bad >= 0 || badLabel is not null)
            {
                if (_dropNonFinite)
                {
                    dropped++;
                    continue;
                }
                string where = bad >= 0
                    ? $"column '{_features.Name}', slot {bad}, is {row[bad].ToString(CultureInfo.InvariantCulture)}"
                    : $"column '{_label.Name}' {badLabel}";
                throw new InvalidOperationException(bad >= 0 && _missingFeatures
                    ? $"Row {cursor.Position} of the {_dataName} has an infinite feature: {where}. A NaN feature is a missing value the model handles " +
                      "(MissingValues), but an infinite one has no place on the feature's scale. Replace it (for example with NaN, or the largest finite value), " +
                      "filter such rows out, or set DropNonFiniteRows = true in the trainer's options to skip them."
                    : $"Row {cursor.Position} of the {_dataName} has a value that is not a finite number or is missing: {where}. " +
                      "Replace missing values (mlContext.Transforms.ReplaceMissingValues), filter such rows out, or set DropNonFiniteRows = true in the trainer's options to skip them.");
            }
            action(new Row(row, label, cursor.Position, weight));
        }
        ZeroWeightRows = zeroWeight;
        return dropped;
    }

    private delegate float LabelRead(out string? problem);

    private LabelRead LabelReader(DataViewRowCursor cursor)
    {
        switch (_labelKind)
        {
            case LabelKind.Single:
            {
                var getter = cursor.GetGetter<float>(_label);
                float value = 0;
                return (out string? problem) =>
                {
                    getter(ref value);
                    problem = float.IsFinite(value) ? null : "is " + value.ToString(CultureInfo.InvariantCulture);
                    return value;
                };
            }
            case LabelKind.Boolean:
            {
                var getter = cursor.GetGetter<bool>(_label);
                bool value = false;
                return (out string? problem) =>
                {
                    getter(ref value);
                    problem = null;
                    return value ? 1f : 0f;
                };
            }
            default:
            {
                var getter = cursor.GetGetter<uint>(_label);
                uint value = 0;
                return (out string? problem) =>
                {
                    getter(ref value);
                    problem = value == 0 ? "is missing (key 0: a value MapValueToKey did not learn)" : null;
                    return value == 0 ? 0f : value - 1;
                };
            }
        }
    }

    /// <summary>The first slot the trainer cannot use: an infinity, or a NaN unless missing values are handled; −1 for none.</summary>
    private static int FirstUnusable(float[] row, bool missingFeatures)
    {
        for (int i = 0; i < row.Length; i++)
        {
            if (!float.IsFinite(row[i]) && !(missingFeatures && float.IsNaN(row[i])))
            {
                return i;
            }
        }
        return -1;
    }
}
