using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// ONNX export: whole pipelines (missing-value replacement, one-hot encoding, concatenation, the trainer)
/// converted with <c>mlContext.Model.ConvertToOnnx</c> and scored by ONNX Runtime on held-out rows of real
/// data must give ML.NET's outputs: Score and Probability within 1e-5 relative, identical predicted labels, for
/// every task, activation and layer kind. "Relative" is to the value, but at least to 1 (probabilities, logits) and,
/// for regression scores, to the scores' root mean square: a price near 0 is z·scale + mean with terms of the
/// label's size, whose rounding (one unit in the last place of 4,000 is 2.4e-4) no other implementation shares.
/// </summary>
[TestClass]
public sealed class OnnxExportTests
{
    private const double Tolerance = 1e-5;

    private static readonly string Directory = Path.Combine(Path.GetTempPath(), "autoclipnet-onnx-tests-" + Environment.ProcessId);

    [ClassInitialize]
    public static void Start(TestContext context) => System.IO.Directory.CreateDirectory(Directory);

    [ClassCleanup]
    public static void Finish() => System.IO.Directory.Delete(Directory, recursive: true);

    [TestMethod]
    [DataRow("regression")]
    [DataRow("binary")]
    [DataRow("multiclass")]
    public void An_exported_pipeline_scores_in_ONNX_Runtime_as_in_MLNet(string task)
    {
        var fixture = TaskFixture.ByName(task);
        var ml = new MLContext(seed: 1);
        var (train, test) = Split(ml, fixture.DataSet, rows: 3000);
        IEstimator<ITransformer> estimator = BundledData.FeatureMaker(ml, fixture.DataSet).Append(fixture.QuickTrainer(ml, epochs: 3));
        if (fixture.DataSet.Task == DataTask.Multiclass)
        {
            // The class names back from the key, as users write it: ML.NET exports this step as a LabelEncoder.
            estimator = estimator.Append(ml.Transforms.Conversion.MapKeyToValue("PredictedClass", "PredictedLabel"));
        }
        var model = estimator.Fit(train);
        if (fixture.DataSet.Task == DataTask.Regression)
        {
            Assert.IsNotNull(model.GetOutputSchema(test.Schema).GetColumnOrNull("UpperBound"), "the prediction interval, compared below");
        }
        var report = Compare(ml, model, test, fixture.DataSet.Task, $"{task}.onnx");
        Console.WriteLine($"{task}: {report}");
    }

    [TestMethod]
    public void Every_activation_and_layer_kind_exports_exactly()
    {
        var ml = new MLContext(seed: 1);
        var set = BundledData.DiamondsSet;
        var (train, test) = Split(ml, set, rows: 2000);
        // The network alone: the exported graph's only inputs are Features (and Label, which it does not read).
        var features = BundledData.FeatureMaker(ml, set).Append(ml.Transforms.SelectColumns("Label", "Features")).Fit(train);
        var featurizedTrain = ml.Data.Cache(features.Transform(train));
        var featurizedTest = ml.Data.Cache(features.Transform(test));
        foreach (var architecture in new[] { AutoClipNetArchitecture.RealMlp, AutoClipNetArchitecture.Mlp })
        {
            foreach (var activation in Enum.GetValues<AutoClipNetActivation>())
            {
                var options = TestOptions.QuickOptions(epochs: 2);
                options.Architecture = architecture;
                options.Activation = activation;
                var model = ml.Regression.Trainers.AutoClipNet(options).Fit(featurizedTrain);
                string layers = model.Model.Layers;
                if (architecture == AutoClipNetArchitecture.RealMlp)
                {
                    foreach (string kind in new[] { "feature transform", "smoothly clipped", "periodic embedding", "feature scale", "dense" })
                    {
                        StringAssert.Contains(layers, kind, $"the default recipe's network should have a {kind} layer: {layers}");
                    }
                }
                var report = Compare(ml, model, featurizedTest, DataTask.Regression, $"{architecture}-{activation}.onnx");
                Console.WriteLine($"{architecture,-8} {activation,-10} {report}   {layers}");
            }
        }
    }

    [TestMethod]
    public void The_exported_graph_uses_only_standard_ops_at_opset_12_or_below()
    {
        var fixture = TaskFixture.ByName("multiclass");
        var ml = new MLContext(seed: 1);
        var (train, _) = Split(ml, fixture.DataSet, rows: 1000);
        var featurized = BundledData.FeatureMaker(ml, fixture.DataSet).Append(ml.Transforms.SelectColumns("Label", "Features")).Fit(train).Transform(train);
        var options = (AutoClipNetOptionsBase)TestOptions.Quick(fixture.NewOptions(), epochs: 1);
        options.Activation = AutoClipNetActivation.Gelu;
        var model = fixture.Trainer(ml, options).Fit(featurized);
        using var stream = new MemoryStream();
        ml.Model.ConvertToOnnx(model, featurized, stream);
        var graph = OnnxModelReader.Read(stream.ToArray());
        Assert.IsTrue(graph.OpSets.All(o => o.Domain is "" or "ai.onnx" ? o.Version <= 12 : o.Domain == "ai.onnx.ml"), string.Join(", ", graph.OpSets));
        CollectionAssert.IsSubsetOf(new[] { "Erf", "Gemm", "Gather", "Cos", "MatMul", "Softmax", "ArgMax" }, graph.Nodes.Select(n => n.OpType).Distinct().ToList());
        Assert.IsTrue(graph.Nodes.Where(n => n.OpType is "Gemm" or "Erf" or "Cos" or "MatMul").All(n => n.Domain == ""), "AutoClipNet's nodes are in the standard domain");
        Console.WriteLine(string.Join(" ", graph.Nodes.GroupBy(n => n.OpType).Select(g => $"{g.Key}×{g.Count()}")));
    }

    [TestMethod]
    public void Piecewise_linear_encodings_export_exactly()
    {
        var fixture = TaskFixture.ByName("regression");
        var ml = new MLContext(seed: 1);
        var (train, test) = Split(ml, fixture.DataSet, rows: 2000);
        var options = (AutoClipNetOptionsBase)TestOptions.Quick(fixture.NewOptions(), epochs: 2);
        options.PiecewiseLinearBins = 16;
        var model = BundledData.FeatureMaker(ml, fixture.DataSet).Append(fixture.Trainer(ml, options)).Fit(train);
        StringAssert.Contains(TaskFixture.PredictionTransformer(model) is AutoClipNetPredictionTransformer t ? t.Model.Layers : "", "piecewise-linear encodings");
        Console.WriteLine(Compare(ml, model, test, DataTask.Regression, "encodings.onnx"));
    }

    [TestMethod]
    public void Rows_with_missing_values_score_the_same_in_ONNX_Runtime_for_every_task()
    {
        var ml = new MLContext(seed: 1);
        // Binary: pima-diabetes with its empty fields kept as NaN, the featurizer in the exported pipeline.
        var (train, test) = Split(ml, BundledData.PimaSet, rows: 768);
        Assert.IsTrue(test.GetColumn<float>("insulin").Any(float.IsNaN), "held-out rows with a missing value");
        var binary = BundledData.FeatureMaker(ml, BundledData.PimaSet, keepMissing: true)
            .Append(ml.BinaryClassification.Trainers.AutoClipNet(TestOptions.Quick(new AutoClipNetBinaryTrainer.Options(), epochs: 2))).Fit(train);
        Console.WriteLine("binary: " + Compare(ml, binary, test, DataTask.Binary, "missing-binary.onnx"));

        // Regression and multiclass: rows with NaN in a third of the values, in slots with and without an indicator.
        var random = new Random(3);
        MissingRow[] Rows(int count, bool trained) => Enumerable.Range(0, count).Select(_ =>
        {
            var f = Enumerable.Range(0, 5).Select(j => (float)random.NextDouble() * 4 - 2).ToArray();
            float label = f[0] - f[1] * f[2] + (float)Math.Sin(f[3]);
            for (int j = 0; j < 5; j++)
            {
                if ((trained ? j < 3 : true) && random.NextDouble() < 0.3)
                {
                    f[j] = float.NaN;
                }
            }
            return new MissingRow { Label = label, Class = label < -0.5f ? 0u : label < 0.5f ? 1u : 2u, Features = f }; // keys 0-based in .NET objects
        }).ToArray();
        var schema = SchemaDefinition.Create(typeof(MissingRow));
        schema["Class"].ColumnType = new KeyDataViewType(typeof(uint), 3);
        var trainRows = ml.Data.LoadFromEnumerable(Rows(1500, trained: true), schema);
        var testRows = ml.Data.LoadFromEnumerable(Rows(400, trained: false), schema);
        var regression = ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 2)).Fit(trainRows);
        Assert.AreEqual(AutoClipNetLayerKind.MissingValues, regression.Model.NetworkLayers[0].Kind, "a shared first layer, ahead of the ensemble");
        Console.WriteLine("regression: " + Compare(ml, regression, testRows, DataTask.Regression, "missing-regression.onnx"));
        var options = TestOptions.Quick(new AutoClipNetMulticlassTrainer.Options { LabelColumnName = "Class" }, epochs: 2);
        var multiclass = ml.MulticlassClassification.Trainers.AutoClipNet(options).Fit(trainRows);
        Console.WriteLine("multiclass: " + Compare(ml, multiclass, testRows, DataTask.Multiclass, "missing-multiclass.onnx"));
    }

    private sealed class MissingRow
    {
        public float Label { get; set; }

        public uint Class { get; set; }

        [VectorType(5)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void Models_saved_by_the_released_format_1_1_export_too()
    {
        string directory = Path.Combine(TestData.RepoRoot, "test", "Fixtures", "regression-format-1.1");
        var zips = System.IO.Directory.GetFiles(directory, "*.zip").OrderBy(f => f).ToList();
        Assert.HasCount(5, zips);
        foreach (string zip in zips)
        {
            var ml = new MLContext(seed: 0);
            var model = ml.Model.Load(zip, out var schema);
            var rows = ml.Data.LoadFromTextFile(Path.Combine(directory, "rows.csv"),
                schema.Select(c => new TextLoader.Column(c.Name, c.Type == NumberDataViewType.Single ? DataKind.Single : DataKind.String, c.Index)).ToArray(),
                separatorChar: ',', hasHeader: true, allowQuoting: true);
            Console.WriteLine($"{Path.GetFileName(zip)}: {Compare(ml, model, rows, DataTask.Regression, Path.GetFileNameWithoutExtension(zip) + ".onnx")}");
        }
    }

    [TestMethod]
    public void A_model_loaded_from_a_zip_exports_the_same_graph_as_the_trained_one()
    {
        var fixture = TaskFixture.ByName("binary");
        var ml = new MLContext(seed: 1);
        var (train, test) = Split(ml, fixture.DataSet, rows: 1500);
        var model = BundledData.FeatureMaker(ml, fixture.DataSet).Append(fixture.QuickTrainer(ml, epochs: 2)).Fit(train);
        string zip = Path.Combine(Directory, "binary.zip");
        ml.Model.Save(model, train.Schema, zip);
        var loaded = new MLContext().Model.Load(zip, out _);
        using var first = new MemoryStream();
        using var second = new MemoryStream();
        ml.Model.ConvertToOnnx(model, test, first);
        ml.Model.ConvertToOnnx(loaded, test, second);
        CollectionAssert.AreEqual(first.ToArray(), second.ToArray());
    }

    // ---------------------------------------------------------------------------------------------

    /// <summary>Raw rows of a set with the task's label made (the label step is not part of what is exported), 80/20.</summary>
    private static (IDataView Train, IDataView Test) Split(MLContext ml, BundledDataSet set, int rows)
    {
        var raw = ml.Data.TakeRows(ml.Data.ShuffleRows(BundledData.Load(ml, set), seed: 1), rows);
        var labeled = set.Task == DataTask.Regression ? raw : BundledData.LabelMaker(ml, set).Fit(raw).Transform(raw);
        var split = ml.Data.TrainTestSplit(ml.Data.Cache(labeled), testFraction: 0.2, seed: 1);
        return (split.TrainSet, split.TestSet);
    }

    /// <summary>Exports <paramref name="model"/>, scores <paramref name="data"/> with ONNX Runtime and with ML.NET, and compares every output.</summary>
    private static string Compare(MLContext ml, ITransformer model, IDataView data, DataTask task, string file)
    {
        string path = Path.Combine(Directory, file);
        using (var stream = File.Create(path))
        {
            ml.Model.ConvertToOnnx(model, data, stream);
        }
        var scored = model.Transform(data);
        var onnx = OnnxRuntimeScorer.Score(path, data);
        int rows = checked((int)(data.GetRowCount() ?? scored.Preview(int.MaxValue).RowView.Length));
        double worst = 0;
        int compared = 0;
        var scores = Floats(scored, "Score");
        double floor = task == DataTask.Regression ? Math.Max(1, Math.Sqrt(scores.Average(v => (double)v * v))) : 1;
        foreach (var column in task switch
        {
            DataTask.Regression when scored.Schema.GetColumnOrNull("LowerBound") is not null => new[] { "Score", "LowerBound", "UpperBound" },
            DataTask.Regression => new[] { "Score" },
            DataTask.Binary => new[] { "Score", "Probability" },
            _ => new[] { "Score" },
        })
        {
            var expected = Floats(scored, column);
            var actual = onnx[column + ".output"].Floats;
            Assert.HasCount(expected.Length, actual, $"{file}: {column} values");
            for (int i = 0; i < expected.Length; i++)
            {
                if (expected[i] == actual[i])
                {
                    compared++;
                    continue; // infinities included (an unbounded interval)
                }
                double difference = Math.Abs(expected[i] - actual[i]);
                double relative = difference / Math.Max(floor, Math.Abs(expected[i]));
                worst = Math.Max(worst, relative);
                Assert.IsTrue(relative <= Tolerance, $"{file}: {column}[{i}] is {expected[i]:R} in ML.NET and {actual[i]:R} in ONNX Runtime");
                compared++;
            }
        }
        if (task == DataTask.Binary)
        {
            var expected = scored.GetColumn<bool>("PredictedLabel").ToArray();
            var actual = onnx["PredictedLabel.output"].Booleans;
            CollectionAssert.AreEqual(expected, actual, $"{file}: PredictedLabel");
        }
        else if (task == DataTask.Multiclass)
        {
            var expected = scored.GetColumn<uint>("PredictedLabel").ToArray();
            var actual = onnx["PredictedLabel.output"].Keys;
            CollectionAssert.AreEqual(expected, actual, $"{file}: PredictedLabel");
            if (scored.Schema.GetColumnOrNull("PredictedClass") is not null)
            {
                var names = scored.GetColumn<string>("PredictedClass").ToArray();
                CollectionAssert.AreEqual(names, onnx["PredictedClass.output"].Texts, $"{file}: PredictedClass (the class names)");
                Assert.IsGreaterThan(1, names.Distinct().Count(), "more than one class predicted");
            }
        }
        return $"{rows} rows, {compared} values, largest relative difference {worst:E1}, {new FileInfo(path).Length / 1024} KB";
    }

    private static float[] Floats(IDataView scored, string column) => scored.Schema[column].Type is VectorDataViewType
        ? scored.GetColumn<float[]>(column).SelectMany(v => v).ToArray()
        : scored.GetColumn<float>(column).ToArray();
}

/// <summary>Scores an ONNX file exported by ML.NET with ONNX Runtime directly: every graph input from the data view's column of that name.</summary>
internal static class OnnxRuntimeScorer
{
    public sealed record Output(float[] Floats, bool[] Booleans, uint[] Keys, string[] Texts);

    public static Dictionary<string, Output> Score(string path, IDataView data)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(path, options);
        var inputs = new List<NamedOnnxValue>();
        int rows = 0;
        foreach (var (name, meta) in session.InputMetadata)
        {
            var column = data.Schema[name];
            int width = column.Type is VectorDataViewType v ? v.Size : 1;
            if (meta.ElementType == typeof(float))
            {
                var values = column.Type is VectorDataViewType
                    ? data.GetColumn<float[]>(column).SelectMany(x => x).ToArray()
                    : data.GetColumn<float>(column).ToArray();
                rows = values.Length / width;
                inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(values, new[] { rows, width })));
            }
            else if (meta.ElementType == typeof(string))
            {
                var values = data.GetColumn<string>(column).ToArray();
                rows = values.Length;
                inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<string>(values, new[] { rows, 1 })));
            }
            else if (meta.ElementType == typeof(bool))
            {
                var values = data.GetColumn<bool>(column).ToArray();
                inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<bool>(values, new[] { values.Length, 1 })));
            }
            else if (meta.ElementType == typeof(uint))
            {
                var values = data.GetColumn<uint>(column).ToArray();
                inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<uint>(values, new[] { values.Length, 1 })));
            }
            else
            {
                throw new NotSupportedException($"ONNX input '{name}' of {meta.ElementType}");
            }
        }
        using var results = session.Run(inputs);
        var outputs = new Dictionary<string, Output>();
        foreach (var result in results)
        {
            outputs[result.Name] = result.Value switch
            {
                Tensor<float> f => new Output(f.ToArray(), Array.Empty<bool>(), Array.Empty<uint>(), Array.Empty<string>()),
                Tensor<bool> b => new Output(Array.Empty<float>(), b.ToArray(), Array.Empty<uint>(), Array.Empty<string>()),
                Tensor<uint> k => new Output(Array.Empty<float>(), Array.Empty<bool>(), k.ToArray(), Array.Empty<string>()),
                Tensor<string> t => new Output(Array.Empty<float>(), Array.Empty<bool>(), Array.Empty<uint>(), t.ToArray()),
                _ => new Output(Array.Empty<float>(), Array.Empty<bool>(), Array.Empty<uint>(), Array.Empty<string>()),
            };
        }
        return outputs;
    }
}

/// <summary>Just enough of the ONNX protobuf (ModelProto) to list the opsets and the nodes: wire format read by hand.</summary>
internal static class OnnxModelReader
{
    public sealed record OpSet(string Domain, long Version)
    {
        public override string ToString() => $"{(Domain.Length == 0 ? "ai.onnx" : Domain)} {Version}";
    }

    public sealed record Node(string OpType, string Name, string Domain);

    public sealed record Graph(IReadOnlyList<OpSet> OpSets, IReadOnlyList<Node> Nodes);

    public static Graph Read(byte[] model)
    {
        var opSets = new List<OpSet>();
        var nodes = new List<Node>();
        foreach (var (field, value) in Fields(model))
        {
            if (field == 8) // opset_import: OperatorSetIdProto { 1 domain, 2 version }
            {
                string domain = "";
                long version = 0;
                foreach (var (f, v) in Fields(value.Bytes!))
                {
                    if (f == 1) domain = System.Text.Encoding.UTF8.GetString(v.Bytes!);
                    if (f == 2) version = v.Number;
                }
                opSets.Add(new OpSet(domain, version));
            }
            else if (field == 7) // graph: GraphProto { 1 node }
            {
                foreach (var (f, v) in Fields(value.Bytes!).Where(x => x.Field == 1))
                {
                    string op = "", name = "", domain = "";
                    foreach (var (nf, nv) in Fields(v.Bytes!)) // NodeProto { 3 name, 4 op_type, 7 domain }
                    {
                        if (nf == 3) name = System.Text.Encoding.UTF8.GetString(nv.Bytes!);
                        if (nf == 4) op = System.Text.Encoding.UTF8.GetString(nv.Bytes!);
                        if (nf == 7) domain = System.Text.Encoding.UTF8.GetString(nv.Bytes!);
                    }
                    nodes.Add(new Node(op, name, domain));
                }
            }
        }
        return new Graph(opSets, nodes);
    }

    private readonly record struct Value(long Number, byte[]? Bytes);

    private static IEnumerable<(int Field, Value Value)> Fields(byte[] bytes)
    {
        int position = 0;
        while (position < bytes.Length)
        {
            long key = Varint(bytes, ref position);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0:
                    yield return (field, new Value(Varint(bytes, ref position), null));
                    break;
                case 1:
                    position += 8;
                    break;
                case 2:
                    int length = checked((int)Varint(bytes, ref position));
                    yield return (field, new Value(0, bytes.AsSpan(position, length).ToArray()));
                    position += length;
                    break;
                case 5:
                    position += 4;
                    break;
                default:
                    throw new InvalidDataException($"protobuf wire type {wire} at byte {position}");
            }
        }
    }

    private static long Varint(byte[] bytes, ref int position)
    {
        long result = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = bytes[position++];
            result |= (long)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }
    }
}
