// ONNX export, part 2 of 2: score the quick start's model, exported by examples/OnnxExport, with ONNX
// Runtime alone (this project references nothing else), compare with ML.NET's predictions, and time it.
//   dotnet run -c Release --project examples/OnnxExport && dotnet run -c Release --project examples/OnnxServing
using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

string output = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "OnnxExport", "out"));
string onnxPath = Path.Combine(output, "diamonds.onnx"), heldOut = Path.Combine(output, "held-out.csv");
if (!File.Exists(onnxPath) || !File.Exists(heldOut))
{
    Console.Error.WriteLine($"{onnxPath} or {heldOut} is missing: run examples/OnnxExport first.");
    return 1;
}
var lines = File.ReadLines(heldOut).Skip(1).Select(l => l.Split(',')).ToArray();
int n = lines.Length;
float F(string[] row, int column) => float.Parse(row[column], CultureInfo.InvariantCulture);

// <quickstart>
// (Warnings quieted: ONNX Runtime notes that ML.NET's one-hot nodes declare their outputs' shapes loosely.)
using var sessionOptions = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
using var session = new InferenceSession(onnxPath, sessionOptions);
// One column per graph input, one row per diamond: numbers as float, categories as strings, each n × 1.
NamedOnnxValue Numbers(string name, int column) =>
    NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(lines.Select(r => F(r, column)).ToArray(), new[] { n, 1 }));
NamedOnnxValue Texts(string name, int column) =>
    NamedOnnxValue.CreateFromTensor(name, new DenseTensor<string>(lines.Select(r => r[column]).ToArray(), new[] { n, 1 }));
var inputs = new[]
{
    Numbers("Carat", 0), Texts("Cut", 1), Texts("Color", 2), Texts("Clarity", 3),
    Numbers("Depth", 4), Numbers("Table", 5), Numbers("X", 6), Numbers("Y", 7), Numbers("Z", 8),
};
float[] prices;
using (var results = session.Run(inputs, new[] { "Score.output" }))
{
    prices = results[0].AsTensor<float>().ToArray();
}
// </quickstart>
double worst = 0, squared = 0, total = 0, mean = lines.Average(r => F(r, 9));
for (int i = 0; i < n; i++)
{
    double expected = F(lines[i], 10);
    worst = Math.Max(worst, Math.Abs(prices[i] - expected) / Math.Max(1, Math.Abs(expected)));
    squared += Math.Pow(prices[i] - F(lines[i], 9), 2);
    total += Math.Pow(F(lines[i], 9) - mean, 2);
}
Console.WriteLine($"ONNX Runtime {typeof(InferenceSession).Assembly.GetName().Version} scored {n:N0} held-out diamonds: R² {1 - squared / total:F4}, " +
    $"RMSE {Math.Sqrt(squared / n):F1}; largest difference from ML.NET's prediction {worst:E1} (relative).");
for (int i = 0; i < 3; i++)
{
    Console.WriteLine($"  {lines[i][0]} ct {lines[i][1],-9} {lines[i][2]} {lines[i][3],-4}: price {lines[i][9],6}, ML.NET {F(lines[i], 10),8:F1}, ONNX Runtime {prices[i],8:F1}");
}
if (worst > 1e-5)
{
    Console.Error.WriteLine("ONNX Runtime and ML.NET disagree by more than 1e-5 relative.");
    return 1;
}

// Throughput: the whole held-out set as one batch, best of 5 runs after a warm-up.
session.Run(inputs, new[] { "Score.output" }).Dispose();
double best = double.MaxValue;
for (int round = 0; round < 5; round++)
{
    var watch = Stopwatch.StartNew();
    session.Run(inputs, new[] { "Score.output" }).Dispose();
    best = Math.Min(best, watch.Elapsed.TotalSeconds);
}
long bytes = Directory.EnumerateFiles(AppContext.BaseDirectory, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
Console.WriteLine($"{n / best:N0} rows/s in batches of {n:N0} ({Environment.ProcessorCount} cores); this deployment's folder: {bytes / 1e6:F0} MB.");
return 0;
