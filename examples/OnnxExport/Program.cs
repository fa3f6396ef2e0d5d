// ONNX export, part 1 of 2: train the quick start's model (the same data, split, pipeline and seed as
// examples/QuickStart), convert the whole pipeline (one-hot encoding, concatenation, AutoClipNet) to ONNX
// with ML.NET's converter, and write the held-out diamonds with ML.NET's predictions beside it. Part 2,
// examples/OnnxServing, scores them in a process that references only ONNX Runtime.
//   dotnet run -c Release --project examples/OnnxExport && dotnet run -c Release --project examples/OnnxServing
using System;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;

string output = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "out"));
Directory.CreateDirectory(output);

var mlContext = new MLContext(seed: 0);
IDataView data = mlContext.Data.LoadFromTextFile<Diamond>(Path.Combine(AppContext.BaseDirectory, "data", "diamonds.csv"),
    separatorChar: ',', hasHeader: true, allowQuoting: true);
var split = mlContext.Data.TrainTestSplit(data, testFraction: 0.2, seed: 1);
var pipeline = mlContext.Transforms.Categorical.OneHotEncoding(new[]
        { new InputOutputColumnPair("Cut"), new InputOutputColumnPair("Color"), new InputOutputColumnPair("Clarity") })
    .Append(mlContext.Transforms.Concatenate("Features", "Carat", "Cut", "Color", "Clarity", "Depth", "Table", "X", "Y", "Z"))
    .Append(mlContext.Regression.Trainers.AutoClipNet(labelColumnName: "Price"));
var model = pipeline.Fit(split.TrainSet);
var metrics = mlContext.Regression.Evaluate(model.Transform(split.TestSet), labelColumnName: "Price");
Console.WriteLine($"AutoClipNet (quick start): held-out R² {metrics.RSquared:F4}, RMSE {metrics.RootMeanSquaredError:F1}");

// <quickstart>
// The graph's inputs are the columns of the data handed to the converter: without the label, a serving
// process feeds only the nine features (Carat, Cut, ..., Z; strings for the categories), one row per diamond.
IDataView features = mlContext.Transforms.DropColumns("Price").Fit(split.TestSet).Transform(split.TestSet);
string onnxPath = Path.Combine(output, "diamonds.onnx");
using (var stream = File.Create(onnxPath))
{
    mlContext.Model.ConvertToOnnx(model, features, stream);
}
// </quickstart>
Console.WriteLine($"Exported to {onnxPath} ({new FileInfo(onnxPath).Length / 1024.0:F0} KB); output 'Score.output' is the price.");

// The held-out rows with what ML.NET predicts (Transform), for the serving process to compare with.
var scored = model.Transform(split.TestSet);
var rows = mlContext.Data.CreateEnumerable<Diamond>(split.TestSet, reuseRowObject: false).ToList();
var scores = scored.GetColumn<float>("Score").ToList();
string heldOut = Path.Combine(output, "held-out.csv");
using (var writer = new StreamWriter(heldOut))
{
    writer.WriteLine("carat,cut,color,clarity,depth,table,x,y,z,price,mlnet_score");
    for (int i = 0; i < rows.Count; i++)
    {
        var d = rows[i];
        writer.WriteLine(string.Join(',', new[] { R(d.Carat), d.Cut, d.Color, d.Clarity, R(d.Depth), R(d.Table), R(d.X), R(d.Y), R(d.Z), R(d.Price), R(scores[i]) }));
    }
}
Console.WriteLine($"Wrote {rows.Count:N0} held-out diamonds with ML.NET's predictions to {heldOut}.");
return 0;

static string R(float value) => value.ToString("R", CultureInfo.InvariantCulture);

/// <summary>A row of data/diamonds.csv.</summary>
public sealed class Diamond
{
    [LoadColumn(0)] public float Carat { get; set; }
    [LoadColumn(1)] public string Cut { get; set; } = "";
    [LoadColumn(2)] public string Color { get; set; } = "";
    [LoadColumn(3)] public string Clarity { get; set; } = "";
    [LoadColumn(4)] public float Depth { get; set; }
    [LoadColumn(5)] public float Table { get; set; }
    [LoadColumn(6)] public float Price { get; set; }
    [LoadColumn(7)] public float X { get; set; }
    [LoadColumn(8)] public float Y { get; set; }
    [LoadColumn(9)] public float Z { get; set; }
}
