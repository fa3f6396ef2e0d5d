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

    /// <summary>
    /// The machines whose outputs a format's fixture holds: "" for the machine that wrote it, then a subfolder per other
    /// machine whose LibTorch products round differently (the folder's README says which and how they were recorded).
    /// </summary>
    public static IReadOnlyList<string> Machines(string format)
        => new[] { "" }.Concat(System.IO.Directory.GetDirectories(Directory(format)).Select(Path.GetFileName).Where(d => d is "avx2" or "xeon-avx512").Select(d => d!)).ToList();

    /// <summary>A machine's file of <paramref name="file"/>, or the writing machine's when that machine's outputs did not differ.</summary>
    public static float[] ReadValues(string format, string machine, string file)
        => File.Exists(Path.Combine(Directory(format), machine, file)) ? ReadValues(format, Path.Combine(machine, file)) : ReadValues(format, file);

    /// <summary>
    /// Whether <paramref name="transform"/> and <paramref name="engine"/> are, byte for byte, one recorded machine's outputs.
    /// With AUTOCLIP_RECORD_FIXTURE_MACHINE set to a machine's folder name, outputs that match no machine are written
    /// there instead (how the folder is recorded; see its README), and the check is made again.
    /// </summary>
    public static (bool Matches, string Report) MatchesAMachine(string format, string name, float[] transform, float[] engine)
    {
        static int Differences(float[] expected, float[] actual)
            => expected.Length != actual.Length ? Math.Max(expected.Length, actual.Length) : expected.Zip(actual).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
        var machines = Machines(format);
        var differences = machines.Select(m => (Machine: m, Transform: Differences(ReadValues(format, m, name + ".transform.bin"), transform),
            Engine: Differences(ReadValues(format, m, name + ".engine.bin"), engine))).ToList();
        string report = string.Join("; ", differences.Select(d => $"{(d.Machine.Length == 0 ? "the writing machine" : d.Machine)}: Transform {d.Transform}, PredictionEngine {d.Engine} values differ"));
        if (differences.Any(d => d.Transform == 0 && d.Engine == 0))
        {
            return (true, report);
        }
        if (Environment.GetEnvironmentVariable("AUTOCLIP_RECORD_FIXTURE_MACHINE") is { Length: > 0 } record)
        {
            string folder = Path.Combine(Directory(format), record);
            System.IO.Directory.CreateDirectory(folder);
            if (differences[0].Transform != 0)
            {
                File.WriteAllBytes(Path.Combine(folder, name + ".transform.bin"), transform.SelectMany(BitConverter.GetBytes).ToArray());
            }
            if (differences[0].Engine != 0)
            {
                File.WriteAllBytes(Path.Combine(folder, name + ".engine.bin"), engine.SelectMany(BitConverter.GetBytes).ToArray());
            }
            return (false, report + $" (recorded in {record}/: run again)");
        }
        return (false, report);
    }

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
