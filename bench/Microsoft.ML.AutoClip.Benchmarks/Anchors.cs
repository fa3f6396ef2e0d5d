using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// The outside anchors of section 6: XGBoost and scikit-learn's HistGradientBoosting with their defaults, trained by
/// bench/anchors.py on exactly the featurized rows the ML.NET trainers saw (dumped here as float32 files), and scored here
/// with ML.NET's own evaluators. Optional: they need a Python with xgboost and sklearn (Debian: python3-xgboost and
/// python3-sklearn; another interpreter through AUTOCLIP_BENCH_PYTHON); without them the section says so and goes on.
/// </summary>
internal static class Anchors
{
    public static readonly string[] Names = { "XGBoost", "HistGradientBoosting" };

    private static readonly Lazy<(string? Python, string Status)> Probe = new(Find);

    /// <summary>What the run used, or why the anchors are left out (one sentence for the report).</summary>
    public static string Status => Probe.Value.Status;

    public static bool Available => Probe.Value.Python is not null;

    /// <summary>The first interpreter that imports xgboost and sklearn: $AUTOCLIP_BENCH_PYTHON, Debian's /usr/bin/python3, then python3 on the PATH.</summary>
    private static (string?, string) Find()
    {
        var candidates = new[] { Environment.GetEnvironmentVariable("AUTOCLIP_BENCH_PYTHON"), "/usr/bin/python3", "python3" }.Where(c => !string.IsNullOrEmpty(c)).Distinct();
        foreach (string python in candidates!)
        {
            try
            {
                string output = Programs.Run(python, new[] { "-c", "import xgboost, sklearn; print(xgboost.__version__, sklearn.__version__)" }, out int exit);
                if (exit == 0)
                {
                    var versions = output.Trim().Split(' ');
                    return (python, $"XGBoost {versions[0]} and scikit-learn {versions[1]} ({python}), trained by bench/anchors.py on the rows dumped by this run");
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // not installed: try the next
            }
        }
        return (null, "XGBoost and HistGradientBoosting are left out: no Python here imports xgboost and sklearn " +
            "(on Debian: `apt-get install python3-xgboost python3-sklearn`; another interpreter: AUTOCLIP_BENCH_PYTHON)");
    }

    /// <summary>Dumps the set's featurized rows, runs the anchors on them and scores their predictions; empty when the anchors are not available.</summary>
    public static List<Comparison.Result> Run(MLContext ml, BundledDataSet set, IDataView train, IDataView test, int rows, int features)
    {
        var results = new List<Comparison.Result>();
        if (!Available)
        {
            return results;
        }
        string folder = Path.Combine(Path.GetTempPath(), $"autoclip-anchors-{Environment.ProcessId}", set.Name);
        Directory.CreateDirectory(folder);
        try
        {
            int classes = set.Task == DataTask.Multiclass ? (int)((KeyDataViewType)train.Schema["Label"].Type).Count : 0;
            Dump(folder, set.Task, train, "train", features);
            int testRows = Dump(folder, set.Task, test, "test", features);
            string task = set.Task switch { DataTask.Regression => "regression", DataTask.Binary => "binary", _ => "multiclass" };
            File.WriteAllText(Path.Combine(folder, "meta.json"), JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["task"] = task, ["classes"] = classes, ["features"] = features, ["train_rows"] = rows, ["test_rows"] = testRows,
            }));
            string script = Path.Combine(Benchmarks.Run.RepoRoot(), "bench", "anchors.py");
            string output = Programs.Run(Probe.Value.Python!, new[] { script, folder }, out int exit);
            if (exit != 0)
            {
                throw new InvalidOperationException($"bench/anchors.py failed on {set.Name} (exit code {exit}):\n{output}");
            }
            foreach (string name in Names)
            {
                using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, name + ".json")));
                double seconds = meta.RootElement.GetProperty("fit_seconds").GetDouble();
                int width = set.Task == DataTask.Multiclass ? classes : 1;
                var scores = ReadFloats(Path.Combine(folder, name + ".scores"), testRows * width);
                results.Add(Score(ml, set, test, name, seconds, scores, classes, rows, features));
            }
        }
        finally
        {
            if (Environment.GetEnvironmentVariable("AUTOCLIP_BENCH_KEEP_DUMPS") is null)
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        return results;
    }

    /// <summary>Writes &lt;part&gt;.features (rows × features) and &lt;part&gt;.label (multiclass: the class index) as little-endian float32; returns the row count.</summary>
    private static int Dump(string folder, DataTask task, IDataView data, string part, int features)
    {
        int count = 0;
        using (var writer = new BinaryWriter(File.Create(Path.Combine(folder, part + ".features"))))
        {
            // Written as the cursor goes: GetColumn hands out the same VBuffer for every row.
            foreach (var vector in data.GetColumn<VBuffer<float>>("Features"))
            {
                if (vector.Length != features)
                {
                    throw new InvalidDataException($"Row {count} of {part} has {vector.Length} features, expected {features}.");
                }
                foreach (float value in vector.DenseValues())
                {
                    writer.Write(value);
                }
                count++;
            }
        }
        IEnumerable<float> labels = task switch
        {
            DataTask.Regression => data.GetColumn<float>("Label"),
            DataTask.Binary => data.GetColumn<bool>("Label").Select(b => b ? 1f : 0f),
            _ => data.GetColumn<uint>("Label").Select(k => k == 0
                ? throw new InvalidDataException($"A row of {part} has a missing class (key 0).")
                : (float)(k - 1)),
        };
        using (var writer = new BinaryWriter(File.Create(Path.Combine(folder, part + ".label"))))
        {
            foreach (float label in labels)
            {
                writer.Write(label);
            }
        }
        return count;
    }

    private static float[] ReadFloats(string path, int expected)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != 4 * expected)
        {
            throw new InvalidDataException($"{path}: {bytes.Length / 4} values, expected {expected}.");
        }
        var values = new float[expected];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    private sealed class RegressionRow
    {
        public float Label { get; set; }

        public float Score { get; set; }
    }

    private sealed class BinaryRow
    {
        public bool Label { get; set; }

        public float Score { get; set; }

        public float Probability { get; set; }

        public bool PredictedLabel { get; set; }
    }

    /// <summary>
    /// Micro accuracy and log-loss as ML.NET's multiclass evaluator defines them: the first highest score is the prediction;
    /// the loss is −ln of the label's score clamped at 1e-15. <paramref name="labels"/> are ML.NET's keys (1-based);
    /// <paramref name="scores"/> rows × classes. Comparison.Run checks this against ML.NET's evaluator on every ML.NET trainer's scores.
    /// </summary>
    public static (double Accuracy, double LogLoss, double[] Right) MulticlassMetrics(uint[] labels, float[] scores, int classes)
    {
        var right = new double[labels.Length];
        double loss = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            var p = new ReadOnlySpan<float>(scores, i * classes, classes);
            int argmax = 0;
            for (int c = 1; c < classes; c++)
            {
                if (p[c] > p[argmax])
                {
                    argmax = c;
                }
            }
            int label = (int)labels[i] - 1;
            right[i] = argmax == label ? 1 : 0;
            loss -= Math.Log(Math.Max(p[label], 1e-15));
        }
        return (right.Average(), loss / labels.Length, right);
    }

    /// <summary>A result of an anchor, its metrics from ML.NET's evaluators on a view built from its predictions, as the ML.NET trainers' are.</summary>
    private static Comparison.Result Score(MLContext ml, BundledDataSet set, IDataView test, string name, double seconds, float[] scores, int classes, int rows, int features)
    {
        double metric, secondary;
        double[] labels, rowScores;
        switch (set.Task)
        {
            case DataTask.Regression:
            {
                var label = test.GetColumn<float>("Label").ToArray();
                var view = ml.Data.LoadFromEnumerable(label.Select((l, i) => new RegressionRow { Label = l, Score = scores[i] }));
                var m = ml.Regression.Evaluate(view);
                (metric, secondary) = (m.RSquared, m.RootMeanSquaredError);
                (labels, rowScores) = (label.Select(v => (double)v).ToArray(), scores.Select(v => (double)v).ToArray());
                break;
            }
            case DataTask.Binary:
            {
                var label = test.GetColumn<bool>("Label").ToArray();
                // Score: the log-odds (ML.NET's binary Score); the evaluator's AUC reads it, its log-loss the probability.
                var view = ml.Data.LoadFromEnumerable(label.Select((l, i) => new BinaryRow
                {
                    Label = l, Probability = scores[i], PredictedLabel = scores[i] > 0.5f,
                    Score = (float)Math.Log(Math.Max(scores[i], 1e-15) / Math.Max(1 - scores[i], 1e-15)),
                }));
                var m = ml.BinaryClassification.Evaluate(view);
                (metric, secondary) = (m.AreaUnderRocCurve, m.LogLoss);
                (labels, rowScores) = (label.Select(v => v ? 1.0 : 0.0).ToArray(), label.Select((_, i) => (double)scores[i]).ToArray());
                break;
            }
            default:
            {
                var label = test.GetColumn<uint>("Label").ToArray();
                double[] right;
                (metric, secondary, right) = MulticlassMetrics(label, scores, classes);
                (labels, rowScores) = (label.Select(v => (double)v).ToArray(), right);
                break;
            }
        }
        return new Comparison.Result(set.Name, set.Task, rows, features, name, seconds, metric, secondary, labels, rowScores);
    }
}
