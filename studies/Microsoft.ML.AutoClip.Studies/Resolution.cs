using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;

namespace Microsoft.ML.AutoClip.Studies;

/// <summary>
/// Where the default AutoClipNet stays behind LightGbm (flights-200k and hpc-jobs in bench/RESULTS.md), how much of
/// LightGbm's lead comes from telling feature values apart finely: LightGbm with fewer histogram bins per feature
/// (255 is its default), beside AutoClipNet, each on the held-out rows and on the rows it trained on.
/// </summary>
internal static class Resolution
{
    private static readonly int[] Bins = { 255, 64, 16, 8, 4 };

    /// <summary>Where piecewise-linear encodings are measured: the two sets above and others of every task.</summary>
    private static readonly string[] EncodingSets = { "flights-200k", "hpc-jobs", "cars", "diabetes", "sacramento", "telco-churn", "credit", "pima-diabetes", "attrition", "letter", "satellite" };

    public static void Run(string docs, bool quick)
    {
        var sets = new[] { BundledData.FlightsSet, BundledData.HpcJobsSet };
        var lines = new List<string>();
        foreach (var set in sets)
        {
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 600 : null);
            var cells = new List<string>();
            foreach (int bins in quick ? Bins.Take(2) : Bins)
            {
                IEstimator<ITransformer> trainer = set.Task == DataTask.Regression
                    ? ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options { MaximumBinCountPerFeature = bins })
                    : ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options { MaximumBinCountPerFeature = bins });
                cells.Add(Measure(ml, set, trainer, train, test, $"LightGbm, {bins} bins"));
            }
            var options = AutoClipNetTasks.NewOptions(set.Task);
            options.Seed = 1;
            if (quick)
            {
                options.NumberOfEpochs = 1;
            }
            cells.Add(Measure(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, options), train, test, "AutoClipNet, defaults"));
            lines.Add($"| {set.Name} ({(set.Task == DataTask.Regression ? "R²" : "accuracy")}) | " + string.Join(" | ", cells) + " |");
        }
        var text = new StringBuilder();
        text.AppendLine("# Where LightGbm's lead comes from: telling values apart");
        text.AppendLine();
        text.AppendLine("Command: `dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Studies -- resolution` (five minutes)  ");
        text.AppendLine($"Machine: {StudyTools.MachineLine()}; {DateTime.UtcNow:yyyy-MM-dd} UTC.");
        text.AppendLine();
        text.AppendLine("On two bundled sets the default AutoClipNet stays clearly behind LightGbm (bench/RESULTS.md, section 6). LightGbm sorts");
        text.AppendLine("each feature's values into at most 255 bins and splits between any two of them. Here it is limited to fewer bins per");
        text.AppendLine("feature, beside AutoClipNet (seed 1), on the held-out 20% (TrainTestSplit seed 1) and on the rows each trained on. Cells:");
        text.AppendLine("held-out / training rows.");
        text.AppendLine();
        text.AppendLine("| data | " + string.Join(" | ", (quick ? Bins.Take(2) : Bins).Select(b => $"LightGbm, {b} bins")) + " | AutoClipNet, defaults |");
        text.AppendLine("|---|" + string.Concat((quick ? Bins.Take(2) : Bins).Select(_ => "---|")) + "---|");
        foreach (string line in lines)
        {
            text.AppendLine(line);
        }
        text.AppendLine();
        text.AppendLine("## Piecewise-linear encodings");
        text.AppendLine();
        text.AppendLine("Does giving the network fine value resolution close the gap? Each numeric feature (more than two values) is encoded");
        text.AppendLine($"piecewise-linearly over {PiecewiseLinear.Bins} quantile bins of the training rows (Gorishniy et al., NeurIPS 2022: the value's");
        text.AppendLine("position in each bin, 0 below it, 1 above it), the encodings appended to the features, before AutoClipNet with its");
        text.AppendLine("defaults but without its periodic embeddings (the encodings take their place). Seed 1, held-out / training rows.");
        text.AppendLine();
        text.AppendLine("| data | features (+ encodings) | AutoClipNet, defaults | AutoClipNet on piecewise-linear encodings | difference |");
        text.AppendLine("|---|---|---|---|---|");
        foreach (string name in quick ? EncodingSets.Take(2) : EncodingSets)
        {
            var set = BundledData.Named(name);
            var ml = new MLContext(seed: 0);
            var (train, test) = BundledData.HeldOutSplit(ml, set, quick ? 600 : null);
            var options = AutoClipNetTasks.NewOptions(set.Task);
            options.Seed = 1;
            var encoded = AutoClipNetTasks.NewOptions(set.Task);
            encoded.Seed = 1;
            encoded.EmbeddingFrequencies = 0;
            if (quick)
            {
                options.NumberOfEpochs = encoded.NumberOfEpochs = 1;
            }
            var (plainHeldOut, plainTrained) = Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, options), train, test, "AutoClipNet, defaults");
            var (encodedTrain, encodedTest, added) = PiecewiseLinear.Encode(ml, set.Task, train, test);
            var (heldOut, trained) = Fit(ml, set, AutoClipNetTasks.Trainer(ml, set.Task, encoded), encodedTrain, encodedTest, "on piecewise-linear encodings");
            int features = ((VectorDataViewType)train.Schema["Features"].Type).Size;
            text.AppendLine($"| {name} ({(set.Task == DataTask.Regression ? "R²" : set.Task == DataTask.Binary ? "AUC" : "accuracy")}) | {features} (+{added}) | {plainHeldOut:F4} / {plainTrained:F4} | {heldOut:F4} / {trained:F4} | {heldOut - plainHeldOut:+0.0000;-0.0000} |");
        }
        string path = Path.Combine(docs, quick ? "resolution-quick.md" : "resolution.md");
        File.WriteAllText(path, text.ToString());
        Console.WriteLine($"Written to {path}");
    }

    private static string Measure(MLContext ml, BundledDataSet set, IEstimator<ITransformer> trainer, IDataView train, IDataView test, string name)
    {
        var (heldOut, trained) = Fit(ml, set, trainer, train, test, name);
        return $"{heldOut:F4} / {trained:F4}";
    }

    private static (double HeldOut, double Trained) Fit(MLContext ml, BundledDataSet set, IEstimator<ITransformer> trainer, IDataView train, IDataView test, string name)
    {
        var watch = Stopwatch.StartNew();
        var model = trainer.Fit(train);
        double seconds = watch.Elapsed.TotalSeconds;
        double heldOut = AutoClipNetTasks.Metric(ml, set.Task, model.Transform(test));
        double trained = AutoClipNetTasks.Metric(ml, set.Task, model.Transform(train));
        Console.WriteLine($"{set.Name,-14} {name,-30} held-out {heldOut:F4}  training rows {trained:F4}  {seconds:F1} s");
        return (heldOut, trained);
    }
}

/// <summary>
/// Piecewise-linear encoding (Gorishniy, Rubachev, Babenko, NeurIPS 2022) for the study above: for every feature with more than
/// two values, bin edges at Bins + 1 quantiles of the training rows (repeated edges merged), and for each bin [a, b) the
/// value 0 below it, 1 above it and (x − a)/(b − a) inside; the encodings appended to the features.
/// </summary>
internal static class PiecewiseLinear
{
    public const int Bins = 32;

    public static (IDataView Train, IDataView Test, int Added) Encode(MLContext ml, DataTask task, IDataView train, IDataView test)
    {
        float[][] Rows(IDataView data) => data.GetColumn<VBuffer<float>>("Features").Select(v => v.DenseValues().ToArray()).ToArray();
        var trainRows = Rows(train);
        var testRows = Rows(test);
        int features = trainRows[0].Length;
        var edges = new List<(int Feature, float[] Edges)>();
        for (int j = 0; j < features; j++)
        {
            var sorted = trainRows.Select(r => r[j]).OrderBy(v => v).ToArray();
            if (sorted.Distinct().Take(3).Count() <= 2)
            {
                continue;
            }
            var e = Enumerable.Range(0, Bins + 1).Select(q => sorted[(int)((long)q * (sorted.Length - 1) / Bins)]).Distinct().ToArray();
            if (e.Length >= 3)
            {
                edges.Add((j, e));
            }
        }
        int added = edges.Sum(e => e.Edges.Length - 1);
        float[] Encoded(float[] row)
        {
            var output = new float[features + added];
            row.CopyTo(output, 0);
            int k = features;
            foreach (var (j, e) in edges)
            {
                for (int t = 1; t < e.Length; t++)
                {
                    float low = e[t - 1], high = e[t];
                    output[k++] = row[j] >= high ? 1f : row[j] <= low ? 0f : (row[j] - low) / (high - low);
                }
            }
            return output;
        }
        IDataView Build(IDataView data, float[][] rows)
        {
            var type = new VectorDataViewType(NumberDataViewType.Single, features + added);
            switch (task)
            {
                case DataTask.Regression:
                    var values = data.GetColumn<float>("Label").ToArray();
                    var schema = SchemaDefinition.Create(typeof(FloatRow));
                    schema["Features"].ColumnType = type;
                    return ml.Data.LoadFromEnumerable(rows.Select((r, i) => new FloatRow { Features = Encoded(r), Label = values[i] }), schema);
                case DataTask.Binary:
                    var flags = data.GetColumn<bool>("Label").ToArray();
                    var binarySchema = SchemaDefinition.Create(typeof(BoolRow));
                    binarySchema["Features"].ColumnType = type;
                    return ml.Data.LoadFromEnumerable(rows.Select((r, i) => new BoolRow { Features = Encoded(r), Label = flags[i] }), binarySchema);
                default:
                    // The key's values as numbers, mapped back to a key of the same order.
                    var keys = data.GetColumn<uint>("Label").ToArray();
                    var keySchema = SchemaDefinition.Create(typeof(FloatRow));
                    keySchema["Features"].ColumnType = type;
                    var loaded = ml.Data.LoadFromEnumerable(rows.Select((r, i) => new FloatRow { Features = Encoded(r), Label = keys[i] - 1 }), keySchema);
                    return ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(loaded).Transform(loaded);
            }
        }
        return (ml.Data.Cache(Build(train, trainRows)), ml.Data.Cache(Build(test, testRows)), added);
    }

    private sealed class FloatRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();

        public float Label { get; set; }
    }

    private sealed class BoolRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();

        public bool Label { get; set; }
    }
}
