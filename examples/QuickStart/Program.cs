// AutoClipNet quick start: predict the price of a diamond from its carat, cut, colour, clarity and
// dimensions (53,940 diamonds, data/diamonds.csv), compare with ML.NET's LightGbm and FastTree on held-out rows, then
// save the model to out/model.zip, load it back in a fresh MLContext and predict, and draw the
// training dynamics to out/training-dynamics.png.
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;

string output = Path.Combine(Environment.CurrentDirectory, "out");
Directory.CreateDirectory(output);
string modelPath = Path.Combine(output, "model.zip");

// <quickstart>
var mlContext = new MLContext(seed: 0);
mlContext.Log += (_, e) => { if (e.Source.StartsWith("AutoClipNet", StringComparison.Ordinal) && e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info) Console.WriteLine(e.RawMessage); };

// Load the data and hold out 20% of the rows for evaluation.
IDataView data = mlContext.Data.LoadFromTextFile<Diamond>(Path.Combine(AppContext.BaseDirectory, "data", "diamonds.csv"),
    separatorChar: ',', hasHeader: true, allowQuoting: true);
var split = mlContext.Data.TrainTestSplit(data, testFraction: 0.2, seed: 1);

// One-hot encode the categories, gather the features, and train AutoClipNet with its defaults
// (AutoClip p = 10; the features are robust-scaled and the label standardized inside the trainer).
var pipeline = mlContext.Transforms.Categorical.OneHotEncoding(new[]
        { new InputOutputColumnPair("Cut"), new InputOutputColumnPair("Color"), new InputOutputColumnPair("Clarity") })
    .Append(mlContext.Transforms.Concatenate("Features", "Carat", "Cut", "Color", "Clarity", "Depth", "Table", "X", "Y", "Z"))
    .Append(mlContext.Regression.Trainers.AutoClipNet(labelColumnName: "Price"));
var watch = Stopwatch.StartNew();
var model = pipeline.Fit(split.TrainSet);
double fitSeconds = watch.Elapsed.TotalSeconds;

// Evaluate on the held-out rows.
RegressionMetrics metrics = mlContext.Regression.Evaluate(model.Transform(split.TestSet), labelColumnName: "Price");
Console.WriteLine($"AutoClipNet: R² {metrics.RSquared:F4}, RMSE {metrics.RootMeanSquaredError:F0}");

// Save the whole pipeline in an ordinary ML.NET .zip, then load it in a fresh MLContext.
mlContext.Model.Save(model, data.Schema, modelPath);
var loaded = new MLContext().Model.Load(modelPath, out DataViewSchema inputSchema);
var engine = new MLContext().Model.CreatePredictionEngine<Diamond, PricePrediction>(loaded);

// Explain one prediction: each feature's share of the predicted price, measured from a typical diamond of the training
// rows (integrated gradients: the shares add up to the price minus the typical diamond's). The model also gives a 90%
// prediction interval (LowerBound, UpperBound) beside every Score.
IDataView scored = model.Transform(split.TestSet);
var explained = mlContext.Transforms.CalculateFeatureContribution(model.LastTransformer, normalize: false).Fit(scored).Transform(scored);
var first = mlContext.Data.CreateEnumerable<ExplainedPrice>(explained, reuseRowObject: false).First();
VBuffer<ReadOnlyMemory<char>> slots = default;
scored.Schema["Features"].GetSlotNames(ref slots);
var names = slots.DenseValues().Select(n => n.ToString()).ToArray();
Console.WriteLine($"Price {first.Price:F0}: predicted {first.Score:F0}, 90% interval {first.LowerBound:F0} to {first.UpperBound:F0}; " +
    string.Join(", ", first.FeatureContributions.Select((c, j) => (c, j)).OrderByDescending(t => Math.Abs(t.c)).Take(3).Select(t => $"{names[t.j]} {t.c:+0;-0}")));
// </quickstart>

// The trainers ML.NET users would pick instead, on the same features (fit time: Fit of the whole pipeline).
var featurizer = mlContext.Transforms.Categorical.OneHotEncoding(new[]
        { new InputOutputColumnPair("Cut"), new InputOutputColumnPair("Color"), new InputOutputColumnPair("Clarity") })
    .Append(mlContext.Transforms.Concatenate("Features", "Carat", "Cut", "Color", "Clarity", "Depth", "Table", "X", "Y", "Z"));
(RegressionMetrics Metrics, double Seconds) Baseline(IEstimator<ITransformer> trainer)
{
    var clock = Stopwatch.StartNew();
    var fitted = featurizer.Append(trainer).Fit(split.TrainSet);
    double seconds = clock.Elapsed.TotalSeconds;
    return (mlContext.Regression.Evaluate(fitted.Transform(split.TestSet), labelColumnName: "Price"), seconds);
}
var lightGbm = Baseline(mlContext.Regression.Trainers.LightGbm(labelColumnName: "Price"));
var fastTree = Baseline(mlContext.Regression.Trainers.FastTree(labelColumnName: "Price"));

var history = model.LastTransformer.Model.TrainingHistory;
Console.WriteLine();
Console.WriteLine("Held-out metrics (10,788 diamonds):");
Console.WriteLine($"  {"trainer",-12} {"R²",8} {"RMSE",8} {"MAE",8} {"fit",8}");
Console.WriteLine($"  {"AutoClipNet",-12} {metrics.RSquared,8:F4} {metrics.RootMeanSquaredError,8:F1} {metrics.MeanAbsoluteError,8:F1} {fitSeconds,6:F1} s");
Console.WriteLine($"  {"LightGbm",-12} {lightGbm.Metrics.RSquared,8:F4} {lightGbm.Metrics.RootMeanSquaredError,8:F1} {lightGbm.Metrics.MeanAbsoluteError,8:F1} {lightGbm.Seconds,6:F1} s");
Console.WriteLine($"  {"FastTree",-12} {fastTree.Metrics.RSquared,8:F4} {fastTree.Metrics.RootMeanSquaredError,8:F1} {fastTree.Metrics.MeanAbsoluteError,8:F1} {fastTree.Seconds,6:F1} s");
Console.WriteLine($"AutoClip clipped {history.ClippedStepCount:N0} of {history.StepCount:N0} steps; final threshold {history.Steps[^1].Threshold:F3}.");

// The reloaded model predicts exactly as the trained one.
var reloadedMetrics = mlContext.Regression.Evaluate(loaded.Transform(split.TestSet), labelColumnName: "Price");
Console.WriteLine($"Saved to {modelPath} ({new FileInfo(modelPath).Length / 1024:N0} KB); reloaded: R² {reloadedMetrics.RSquared:F4}, RMSE {reloadedMetrics.RootMeanSquaredError:F0}.");
foreach (var diamond in mlContext.Data.CreateEnumerable<Diamond>(split.TestSet, reuseRowObject: false).Take(3))
{
    Console.WriteLine($"  {diamond.Carat:F2} ct {diamond.Cut,-9} {diamond.Color} {diamond.Clarity,-4}: price {diamond.Price,6:F0}, predicted {engine.Predict(diamond).Price,6:F0}");
}
// The training dynamics: the gradient norm with the AutoClip threshold over it, and the loss, at the steps the
// model kept (HistoryDetail.Summary, the default: 1,024 to 2,048 evenly spaced steps; EveryStep keeps them all).
string picture = Path.Combine(output, "training-dynamics.png");
var steps = history.Steps;
double[] stepNumbers = steps.Select(s => (double)s.Step).ToArray();
var plot = new ScottPlot.Plot();
// The loss, averaged over the last 50 kept steps, on the right axis; then the norms; the threshold on top.
double[] smoothedLoss = new double[steps.Count];
double window = 0;
for (int i = 0; i < steps.Count; i++)
{
    window += steps[i].Loss - (i >= 50 ? steps[i - 50].Loss : 0);
    smoothedLoss[i] = Math.Log10(window / Math.Min(i + 1, 50));
}
var losses = plot.Add.Scatter(stepNumbers, smoothedLoss);
losses.LegendText = "loss, mean of 50 kept steps (right axis)";
losses.MarkerSize = 0;
losses.LineWidth = 1.5f;
losses.Color = ScottPlot.Colors.Gray;
losses.Axes.YAxis = plot.Axes.Right;
var norms = plot.Add.Scatter(stepNumbers, steps.Select(s => Math.Log10(s.GradientNorm)).ToArray());
norms.LegendText = "gradient norm";
norms.MarkerSize = 0;
norms.LineWidth = 1;
norms.Color = ScottPlot.Colors.SteelBlue.WithAlpha(0.6);
var thresholds = plot.Add.Scatter(stepNumbers, steps.Select(s => Math.Log10(s.Threshold)).ToArray());
thresholds.LegendText = "AutoClip threshold (p = 10)";
thresholds.MarkerSize = 0;
thresholds.LineWidth = 2.5f;
thresholds.Color = ScottPlot.Colors.OrangeRed;
plot.Title("AutoClipNet on diamonds: training dynamics");
plot.Axes.Bottom.Label.Text = "step";
plot.Axes.Left.Label.Text = "log10 gradient norm";
plot.Axes.Right.Label.Text = "log10 loss (standardized units)";
plot.ShowLegend();
plot.SavePng(picture, 1000, 550);
Console.WriteLine($"Training dynamics drawn to {picture}.");

FromLightGbm();

if (reloadedMetrics.RootMeanSquaredError != metrics.RootMeanSquaredError)
{
    Console.Error.WriteLine("The reloaded model does not predict as the trained one.");
    return 1;
}
return 0;

// From LightGbm to AutoClipNet: the same pipeline, with missing values, example weights, explanations and an interval.
static void FromLightGbm()
{
    // <fromlightgbm>
    var mlContext = new MLContext(seed: 0);
    // Fuel economy of 398 cars (data/cars.csv); 6 have no horsepower: they stay NaN, no ReplaceMissingValues step.
    IDataView cars = mlContext.Data.LoadFromTextFile<Car>(Path.Combine(AppContext.BaseDirectory, "data", "cars.csv"),
        new TextLoader.Options { Separators = new[] { ',' }, HasHeader = true, AllowQuoting = true, MissingRealsAsNaNs = true });
    cars = mlContext.Data.FilterRowsByMissingValues(cars, "Mpg"); // 8 cars without a label
    var split = mlContext.Data.TrainTestSplit(cars, testFraction: 0.2, seed: 1);

    // The cars of the 1980s count twice (an example weight column, as every ML.NET trainer takes it).
    var importance = Enumerable.Range(1970, 13).ToDictionary(year => $"{year}-01-01", year => year >= 1980 ? 2f : 1f);
    var featurize = mlContext.Transforms.Conversion.MapValue("Importance", importance, "Year")
        .Append(mlContext.Transforms.Categorical.OneHotEncoding(new[] { new InputOutputColumnPair("Origin"), new InputOutputColumnPair("ModelYear", "Year") }))
        .Append(mlContext.Transforms.Concatenate("Features", "Cylinders", "Displacement", "Horsepower", "Weight", "Acceleration", "ModelYear", "Origin"));
    var lightGbm = featurize.Append(mlContext.Regression.Trainers.LightGbm(labelColumnName: "Mpg", exampleWeightColumnName: "Importance")).Fit(split.TrainSet);
    var autoClipNet = featurize.Append(mlContext.Regression.Trainers.AutoClipNet(labelColumnName: "Mpg", exampleWeightColumnName: "Importance")).Fit(split.TrainSet);

    // Evaluated alike, and explained alike: CalculateFeatureContribution takes either model.
    IDataView byLightGbm = lightGbm.Transform(split.TestSet), byAutoClipNet = autoClipNet.Transform(split.TestSet);
    Console.WriteLine($"Cars: LightGbm R² {mlContext.Regression.Evaluate(byLightGbm, labelColumnName: "Mpg").RSquared:F3}, " +
        $"AutoClipNet R² {mlContext.Regression.Evaluate(byAutoClipNet, labelColumnName: "Mpg").RSquared:F3}");
    var lightGbmWhy = mlContext.Transforms.CalculateFeatureContribution(lightGbm.LastTransformer).Fit(byLightGbm).Transform(byLightGbm);
    var autoClipNetWhy = mlContext.Transforms.CalculateFeatureContribution(autoClipNet.LastTransformer).Fit(byAutoClipNet).Transform(byAutoClipNet);

    // The first held-out car without a horsepower: both predictions, AutoClipNet's 90% interval, each model's three largest contributions.
    VBuffer<ReadOnlyMemory<char>> slots = default;
    byAutoClipNet.Schema["Features"].GetSlotNames(ref slots);
    var names = slots.DenseValues().Select(n => n.ToString()).ToArray();
    var car = mlContext.Data.CreateEnumerable<ExplainedCar>(autoClipNetWhy, reuseRowObject: false).Select((c, row) => (c, row)).First(t => float.IsNaN(t.c.Horsepower));
    var tree = mlContext.Data.CreateEnumerable<ExplainedCar>(lightGbmWhy, reuseRowObject: false, ignoreMissingColumns: true).ElementAt(car.row);
    string Top(float[] contributions) => string.Join(", ", contributions.Select((c, j) => (c, j)).OrderByDescending(t => Math.Abs(t.c)).Take(3).Select(t => $"{names[t.j]} {t.c:+0.00;-0.00}"));
    Console.WriteLine($"{car.c.Name} ({car.c.Mpg} mpg, horsepower missing): LightGbm {tree.Score:F1} ({Top(tree.FeatureContributions)}); " +
        $"AutoClipNet {car.c.Score:F1}, 90% interval {car.c.LowerBound:F1} to {car.c.UpperBound:F1} ({Top(car.c.FeatureContributions)})");
    // </fromlightgbm>
}

/// <summary>A row of data/cars.csv.</summary>
public sealed class Car
{
    [LoadColumn(0)] public string Name { get; set; } = "";
    [LoadColumn(1)] public float Mpg { get; set; }
    [LoadColumn(2)] public float Cylinders { get; set; }
    [LoadColumn(3)] public float Displacement { get; set; }
    [LoadColumn(4)] public float Horsepower { get; set; }
    [LoadColumn(5)] public float Weight { get; set; }
    [LoadColumn(6)] public float Acceleration { get; set; }
    [LoadColumn(7)] public string Year { get; set; } = "";
    [LoadColumn(8)] public string Origin { get; set; } = "";
}

/// <summary>A car's prediction, interval (AutoClipNet's) and contributions (normalized as ML.NET does by default).</summary>
public sealed class ExplainedCar
{
    public string Name { get; set; } = "";
    public float Mpg { get; set; }
    public float Horsepower { get; set; }
    public float Score { get; set; }
    public float LowerBound { get; set; }
    public float UpperBound { get; set; }
    public float[] FeatureContributions { get; set; } = Array.Empty<float>();
}

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

/// <summary>A diamond's prediction, its interval and its features' contributions.</summary>
public sealed class ExplainedPrice
{
    public float Price { get; set; }
    public float Score { get; set; }
    public float LowerBound { get; set; }
    public float UpperBound { get; set; }
    public float[] FeatureContributions { get; set; } = Array.Empty<float>();
}

/// <summary>The model's output.</summary>
public sealed class PricePrediction
{
    [ColumnName("Score")] public float Price { get; set; }
}
