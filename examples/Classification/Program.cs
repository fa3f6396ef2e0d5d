// AutoClipNet's classification trainers on real data. Binary: will a telco customer leave? (7,043 customers,
// data/telco-churn.csv) — evaluated on held-out rows beside ML.NET's logistic regression, saved to
// out/churn-model.zip, loaded back in a fresh MLContext, and its ROC curve and calibration drawn to
// out/churn-roc.png and out/churn-calibration.png. Multiclass: the soil type under a Landsat pixel (6,435 pixels,
// data/satellite.csv), with the class names carried through the key label.
using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;

string output = Path.Combine(Environment.CurrentDirectory, "out");
Directory.CreateDirectory(output);
string modelPath = Path.Combine(output, "churn-model.zip");
string dataDirectory = Path.Combine(AppContext.BaseDirectory, "data");

// <quickstart>
var mlContext = new MLContext(seed: 0);

// Binary classification: the label is a Boolean (the text loader reads "Yes"/"No" as true/false).
IDataView customers = mlContext.Data.LoadFromTextFile<Customer>(Path.Combine(dataDirectory, "telco-churn.csv"),
    separatorChar: ',', hasHeader: true, allowQuoting: true);
var split = mlContext.Data.TrainTestSplit(customers, testFraction: 0.25, seed: 1);

// Fill the 11 missing total charges, one-hot encode the services, gather the features, train.
string[] services = { "MultipleLines", "InternetService", "OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport",
    "StreamingTv", "StreamingMovies", "Contract", "PaymentMethod" };
var churnPipeline = mlContext.Transforms.ReplaceMissingValues("TotalCharges")
    .Append(mlContext.Transforms.Categorical.OneHotEncoding(services.Select(s => new InputOutputColumnPair(s)).ToArray()))
    .Append(mlContext.Transforms.Concatenate("Features", new[] { "Female", "SeniorCitizen", "Partner", "Dependents", "Tenure", "PhoneService",
        "PaperlessBilling", "MonthlyCharges", "TotalCharges" }.Concat(services).ToArray()))
    .Append(mlContext.BinaryClassification.Trainers.AutoClipNet(labelColumnName: "Churn"));
var churnModel = churnPipeline.Fit(split.TrainSet);

// Score, Probability and PredictedLabel, as ML.NET's calibrated trainers give them.
CalibratedBinaryClassificationMetrics churn = mlContext.BinaryClassification.Evaluate(churnModel.Transform(split.TestSet), labelColumnName: "Churn");
Console.WriteLine($"Churn: AUC {churn.AreaUnderRocCurve:F4}, log-loss {churn.LogLoss:F4}, F1 {churn.F1Score:F4}");

// Save, reload in a fresh MLContext, predict one customer.
mlContext.Model.Save(churnModel, customers.Schema, modelPath);
var loaded = new MLContext().Model.Load(modelPath, out _);
var churnEngine = new MLContext().Model.CreatePredictionEngine<Customer, ChurnPrediction>(loaded);

// Multiclass classification: map the class names to a key, and the predicted key back to a name.
IDataView pixels = mlContext.Data.LoadFromTextFile<Pixel>(Path.Combine(dataDirectory, "satellite.csv"),
    separatorChar: ',', hasHeader: true, allowQuoting: true);
var pixelSplit = mlContext.Data.TrainTestSplit(pixels, testFraction: 0.25, seed: 1);
var soilPipeline = mlContext.Transforms.Conversion.MapValueToKey("Label", "Soil")
    .Append(mlContext.MulticlassClassification.Trainers.AutoClipNet(featureColumnName: "Bands"))
    .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedSoil", "PredictedLabel"));
var soilModel = soilPipeline.Fit(pixelSplit.TrainSet);
MulticlassClassificationMetrics soil = mlContext.MulticlassClassification.Evaluate(soilModel.Transform(pixelSplit.TestSet));
Console.WriteLine($"Soil: micro accuracy {soil.MicroAccuracy:F4}, macro accuracy {soil.MacroAccuracy:F4}, log-loss {soil.LogLoss:F4}");
// </quickstart>

// Beside them, what ML.NET users would reach for first.
var lbfgs = mlContext.Transforms.ReplaceMissingValues("TotalCharges")
    .Append(mlContext.Transforms.Categorical.OneHotEncoding(services.Select(s => new InputOutputColumnPair(s)).ToArray()))
    .Append(mlContext.Transforms.Concatenate("Features", new[] { "Female", "SeniorCitizen", "Partner", "Dependents", "Tenure", "PhoneService",
        "PaperlessBilling", "MonthlyCharges", "TotalCharges" }.Concat(services).ToArray()))
    .Append(mlContext.Transforms.NormalizeMinMax("Features"))
    .Append(mlContext.BinaryClassification.Trainers.LbfgsLogisticRegression(labelColumnName: "Churn"))
    .Fit(split.TrainSet);
var lbfgsMetrics = mlContext.BinaryClassification.Evaluate(lbfgs.Transform(split.TestSet), labelColumnName: "Churn");
var maxEnt = mlContext.Transforms.Conversion.MapValueToKey("Label", "Soil")
    .Append(mlContext.Transforms.NormalizeMinMax("Bands"))
    .Append(mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy(featureColumnName: "Bands"))
    .Fit(pixelSplit.TrainSet);
var maxEntMetrics = mlContext.MulticlassClassification.Evaluate(maxEnt.Transform(pixelSplit.TestSet));

Console.WriteLine();
Console.WriteLine("Churn, held-out customers:");
Console.WriteLine($"  {"trainer",-24} {"AUC",7} {"log-loss",9} {"F1",7}");
Console.WriteLine($"  {"AutoClipNet",-24} {churn.AreaUnderRocCurve,7:F4} {churn.LogLoss,9:F4} {churn.F1Score,7:F4}");
Console.WriteLine($"  {"LbfgsLogisticRegression",-24} {lbfgsMetrics.AreaUnderRocCurve,7:F4} {lbfgsMetrics.LogLoss,9:F4} {lbfgsMetrics.F1Score,7:F4}");
Console.WriteLine("Soil, held-out pixels:");
Console.WriteLine($"  {"trainer",-24} {"micro acc.",10} {"macro acc.",10} {"log-loss",9}");
Console.WriteLine($"  {"AutoClipNet",-24} {soil.MicroAccuracy,10:F4} {soil.MacroAccuracy,10:F4} {soil.LogLoss,9:F4}");
Console.WriteLine($"  {"LbfgsMaximumEntropy",-24} {maxEntMetrics.MicroAccuracy,10:F4} {maxEntMetrics.MacroAccuracy,10:F4} {maxEntMetrics.LogLoss,9:F4}");

// The reloaded model predicts exactly as the trained one.
var reloaded = mlContext.BinaryClassification.Evaluate(loaded.Transform(split.TestSet), labelColumnName: "Churn");
Console.WriteLine($"Saved to {modelPath} ({new FileInfo(modelPath).Length / 1024:N0} KB); reloaded: AUC {reloaded.AreaUnderRocCurve:F4}, log-loss {reloaded.LogLoss:F4}.");
foreach (var customer in mlContext.Data.CreateEnumerable<Customer>(split.TestSet, reuseRowObject: false).Take(3))
{
    var p = churnEngine.Predict(customer);
    Console.WriteLine($"  tenure {customer.Tenure,2:F0} months, {customer.Contract,-14}: churned {customer.Churn,-5}, predicted {p.PredictedLabel,-5} (probability {p.Probability:P0})");
}
var soilEngine = mlContext.Model.CreatePredictionEngine<Pixel, SoilPrediction>(soilModel);
foreach (var pixel in mlContext.Data.CreateEnumerable<Pixel>(pixelSplit.TestSet, reuseRowObject: false).Take(3))
{
    Console.WriteLine($"  pixel of {pixel.Soil,-20}: predicted {soilEngine.Predict(pixel).PredictedSoil}");
}

// ROC curve and calibration of the churn probabilities, on the held-out customers.
var scored = churnModel.Transform(split.TestSet);
float[] probability = scored.GetColumn<float>("Probability").ToArray();
bool[] label = scored.GetColumn<bool>("Churn").ToArray();
var order = Enumerable.Range(0, probability.Length).OrderByDescending(i => probability[i]).ToArray();
int positives = label.Count(l => l), negatives = label.Length - positives;
var falsePositiveRate = new double[order.Length + 1];
var truePositiveRate = new double[order.Length + 1];
for (int k = 0, tp = 0, fp = 0; k < order.Length; k++)
{
    if (label[order[k]]) { tp++; } else { fp++; }
    truePositiveRate[k + 1] = (double)tp / positives;
    falsePositiveRate[k + 1] = (double)fp / negatives;
}
var bins = Enumerable.Range(0, 10).Select(b => Enumerable.Range(0, probability.Length).Where(i => Math.Min(9, (int)(probability[i] * 10)) == b).ToArray()).Where(b => b.Length > 0).ToArray();
double[] meanProbability = bins.Select(b => b.Average(i => (double)probability[i])).ToArray();
double[] frequency = bins.Select(b => b.Average(i => label[i] ? 1.0 : 0.0)).ToArray();
double ece = bins.Sum(b => b.Length * Math.Abs(b.Average(i => (double)probability[i]) - b.Average(i => label[i] ? 1.0 : 0.0))) / probability.Length;
Console.WriteLine($"Expected calibration error (10 bins): {ece:F4}.");

// Both pictures: one curve against the diagonal of the unit square.
string Draw(string file, string title, string xLabel, string yLabel, double[] xs, double[] ys, string legend, bool markers)
{
    var plot = new ScottPlot.Plot();
    var curve = plot.Add.Scatter(xs, ys);
    curve.LineWidth = 2;
    curve.MarkerSize = markers ? 8 : 0;
    curve.LegendText = legend;
    var diagonal = plot.Add.Line(0, 0, 1, 1);
    diagonal.LinePattern = ScottPlot.LinePattern.Dashed;
    diagonal.Color = ScottPlot.Colors.Gray;
    plot.Title(title);
    plot.Axes.Bottom.Label.Text = xLabel;
    plot.Axes.Left.Label.Text = yLabel;
    plot.ShowLegend(ScottPlot.Alignment.LowerRight);
    string path = Path.Combine(output, file);
    plot.SavePng(path, 550, 500);
    return path;
}
string rocPicture = Draw("churn-roc.png", "ROC curve, held-out customers", "false positive rate", "true positive rate",
    falsePositiveRate, truePositiveRate, $"AutoClipNet (AUC {churn.AreaUnderRocCurve:F3})", markers: false);
string calibrationPicture = Draw("churn-calibration.png", "Calibration: 10 probability bins", "mean predicted probability of churn", "observed churn rate",
    meanProbability, frequency, $"AutoClipNet (ECE {ece:F3})", markers: true);
Console.WriteLine($"ROC curve and calibration drawn to {rocPicture} and {calibrationPicture}.");

if (reloaded.LogLoss != churn.LogLoss)
{
    Console.Error.WriteLine("The reloaded model does not predict as the trained one.");
    return 1;
}
return 0;

/// <summary>A row of data/telco-churn.csv.</summary>
public sealed class Customer
{
    [LoadColumn(0)] public bool Churn { get; set; }
    [LoadColumn(1)] public float Female { get; set; }
    [LoadColumn(2)] public float SeniorCitizen { get; set; }
    [LoadColumn(3)] public float Partner { get; set; }
    [LoadColumn(4)] public float Dependents { get; set; }
    [LoadColumn(5)] public float Tenure { get; set; }
    [LoadColumn(6)] public float PhoneService { get; set; }
    [LoadColumn(7)] public string MultipleLines { get; set; } = "";
    [LoadColumn(8)] public string InternetService { get; set; } = "";
    [LoadColumn(9)] public string OnlineSecurity { get; set; } = "";
    [LoadColumn(10)] public string OnlineBackup { get; set; } = "";
    [LoadColumn(11)] public string DeviceProtection { get; set; } = "";
    [LoadColumn(12)] public string TechSupport { get; set; } = "";
    [LoadColumn(13)] public string StreamingTv { get; set; } = "";
    [LoadColumn(14)] public string StreamingMovies { get; set; } = "";
    [LoadColumn(15)] public string Contract { get; set; } = "";
    [LoadColumn(16)] public float PaperlessBilling { get; set; }
    [LoadColumn(17)] public string PaymentMethod { get; set; } = "";
    [LoadColumn(18)] public float MonthlyCharges { get; set; }
    [LoadColumn(19)] public float TotalCharges { get; set; } = float.NaN;
}

/// <summary>The binary model's outputs.</summary>
public sealed class ChurnPrediction
{
    public float Score { get; set; }
    public float Probability { get; set; }
    public bool PredictedLabel { get; set; }
}

/// <summary>A row of data/satellite.csv: 36 spectral values of a 3×3 neighbourhood in 4 bands, and the soil class.</summary>
public sealed class Pixel
{
    [LoadColumn(0, 35), VectorType(36)] public float[] Bands { get; set; } = Array.Empty<float>();
    [LoadColumn(36)] public string Soil { get; set; } = "";
}

/// <summary>The multiclass model's prediction, mapped back to the class name.</summary>
public sealed class SoilPrediction
{
    public string PredictedSoil { get; set; } = "";
}
