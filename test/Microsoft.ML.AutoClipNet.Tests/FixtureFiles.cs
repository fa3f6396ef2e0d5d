using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The saved models of every released format in test/Fixtures, the rows they are scored on and the outputs the code of their
/// time computed (each folder's README says how they were made). Shared by the fixture tests, the hostile-model tests (fast
/// and long) and the released-model tests.
/// </summary>
internal static class FixtureFiles
{
    /// <summary>The folder of a format's fixtures ("1.1", "2.1", ...).</summary>
    public static string Directory(string format) => Path.Combine(TestData.RepoRoot, "test", "Fixtures", format == "1.1" ? "regression-format-1.1" : "format-" + format);

    /// <summary>The little-endian float32 values of one of the fixture's output files.</summary>
    public static float[] ReadValues(string format, string file)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(Directory(format), file));
        return Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray();
    }

    public sealed class BinaryOutput
    {
        public float Score { get; set; }
        public float Probability { get; set; }
        public bool PredictedLabel { get; set; }
    }

    public sealed class MulticlassOutput
    {
        public float[] Score { get; set; } = Array.Empty<float>();
        public uint PredictedLabel { get; set; }
    }

    public sealed class CancerRow
    {
        [VectorType(30)] public float[] Features { get; set; } = Array.Empty<float>();
    }

    public sealed class VehicleRow
    {
        [VectorType(18)] public float[] Features { get; set; } = Array.Empty<float>();
        public string Class { get; set; } = "";
    }

    /// <summary>Every output of the model on the fixture rows (the first <paramref name="rows"/>), through Transform and through a PredictionEngine, as the generator wrote them.</summary>
    public static (float[] Transform, float[] Engine) Outputs(MLContext ml, ITransformer model, DataViewSchema schema, string format, string name, long rows = long.MaxValue)
    {
        var transform = new List<float>();
        var engine = new List<float>();
        if (name.StartsWith("regression", StringComparison.Ordinal))
        {
            var data = ml.Data.TakeRows(ml.Data.LoadFromTextFile(Path.Combine(TestData.RepoRoot, "test", "Fixtures", "regression-format-1.1", "rows.csv"),
                schema.Select(c => new TextLoader.Column(c.Name, c.Type == NumberDataViewType.Single ? DataKind.Single : DataKind.String, c.Index)).ToArray(),
                separatorChar: ',', hasHeader: true, allowQuoting: true), rows);
            if (string.CompareOrdinal(format, "2.5") >= 0 && format.Length == 3)
            {
                // From format 2.5: Score, LowerBound, UpperBound per row.
                transform.AddRange(ml.Data.CreateEnumerable<Interval>(model.Transform(data), reuseRowObject: false).SelectMany(s => new[] { s.Value, s.LowerBound, s.UpperBound }));
                var withBounds = ml.Model.CreatePredictionEngine<DiamondRow, Interval>(model);
                engine.AddRange(ml.Data.CreateEnumerable<DiamondRow>(data, reuseRowObject: false).SelectMany(r =>
                {
                    var s = withBounds.Predict(r);
                    return new[] { s.Value, s.LowerBound, s.UpperBound };
                }));
                return (transform.ToArray(), engine.ToArray());
            }
            transform.AddRange(ml.Data.CreateEnumerable<Score>(model.Transform(data), reuseRowObject: false).Select(s => s.Value));
            var e = ml.Model.CreatePredictionEngine<DiamondRow, Score>(model);
            engine.AddRange(ml.Data.CreateEnumerable<DiamondRow>(data, reuseRowObject: false).Select(r => e.Predict(r).Value));
        }
        else if (name.StartsWith("binary", StringComparison.Ordinal))
        {
            var data = ml.Data.TakeRows(ml.Data.LoadFromTextFile(Path.Combine(Directory(format), "breast-cancer-rows.csv"), new[] { new TextLoader.Column("Features", DataKind.Single, 0, 29) }, separatorChar: ','), rows);
            foreach (var s in ml.Data.CreateEnumerable<BinaryOutput>(model.Transform(data), reuseRowObject: false))
            {
                transform.AddRange(new[] { s.Score, s.Probability, s.PredictedLabel ? 1f : 0f });
            }
            var e = ml.Model.CreatePredictionEngine<CancerRow, BinaryOutput>(model);
            foreach (var r in ml.Data.CreateEnumerable<CancerRow>(data, reuseRowObject: false))
            {
                var s = e.Predict(r);
                engine.AddRange(new[] { s.Score, s.Probability, s.PredictedLabel ? 1f : 0f });
            }
        }
        else
        {
            var data = ml.Data.TakeRows(ml.Data.LoadFromTextFile(Path.Combine(Directory(format), "vehicle-rows.csv"),
                new[] { new TextLoader.Column("Features", DataKind.Single, 0, 17), new TextLoader.Column("Class", DataKind.String, 18) }, separatorChar: ','), rows);
            foreach (var s in ml.Data.CreateEnumerable<MulticlassOutput>(model.Transform(data), reuseRowObject: false))
            {
                transform.AddRange(s.Score);
                transform.Add(s.PredictedLabel);
            }
            var e = ml.Model.CreatePredictionEngine<VehicleRow, MulticlassOutput>(model);
            foreach (var r in ml.Data.CreateEnumerable<VehicleRow>(data, reuseRowObject: false))
            {
                var s = e.Predict(r);
                engine.AddRange(s.Score);
                engine.Add(s.PredictedLabel);
            }
        }
        return (transform.ToArray(), engine.ToArray());
    }

    /// <summary>A fixture's model zip.</summary>
    public static string Zip(string format, string name) => Path.Combine(Directory(format), name + ".zip");

    public sealed class Score
    {
        [ColumnName("Score")]
        public float Value { get; set; }
    }

    public sealed class Interval
    {
        [ColumnName("Score")]
        public float Value { get; set; }

        public float LowerBound { get; set; }

        public float UpperBound { get; set; }
    }

    public sealed class DiamondRow
    {
        public float carat { get; set; }
        public string cut { get; set; } = "";
        public string color { get; set; } = "";
        public string clarity { get; set; } = "";
        public float depth { get; set; }
        public float table { get; set; }
        public float Label { get; set; }
        public float x { get; set; }
        public float y { get; set; }
        public float z { get; set; }
    }

}
