// AutoClip in a plain TorchSharp loop (no ML.NET): trains a small network on the diabetes data set
// (442 patients, 10 measurements, disease progression after one year), evaluates it on held-out rows,
// then saves a checkpoint (weights, optimizer and AutoClip state) and resumes from it.
using System;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip;
using TorchSharp;
using static TorchSharp.torch;

const int Epochs = 100;
const int BatchSize = 32;

// Load the CSV and split it 80/20 with a fixed permutation.
string[] lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "data", "diabetes.csv"));
float[][] rows = lines.Skip(1).Select(l => l.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
int[] order = Enumerable.Range(0, rows.Length).OrderBy(i => new Random(i * 7919).Next()).ToArray();
int trainCount = rows.Length * 4 / 5;
int features = rows[0].Length - 1;
(Tensor X, Tensor Y) ToTensors(int[] index)
{
    var x = tensor(index.SelectMany(i => rows[i][..^1]).ToArray(), index.Length, features);
    var y = tensor(index.Select(i => rows[i][^1]).ToArray(), index.Length, 1);
    return (x, y);
}
var (trainX, trainY) = ToTensors(order[..trainCount]);
var (testX, testY) = ToTensors(order[trainCount..]);

// Standardize with the training rows' statistics.
var (xMean, xStd) = (trainX.mean([0]), trainX.std([0]));
var (yMean, yStd) = (trainY.mean(), trainY.std());
trainX = (trainX - xMean) / xStd;
testX = (testX - xMean) / xStd;
var trainYScaled = (trainY - yMean) / yStd;

manual_seed(0);
var model = nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, 1));

// <quickstart>
// The one changed line: wrap any TorchSharp optimizer with AutoClip (p = 10 of all norms so far).
var optimizer = optim.Adam(model.parameters(), lr: 1e-3).WithAutoClip();

for (int epoch = 1; epoch <= Epochs; epoch++)
{
    for (long start = 0; start < trainCount; start += BatchSize)
    {
        using var scope = NewDisposeScope();
        long size = Math.Min(BatchSize, trainCount - start);
        optimizer.zero_grad();
        var loss = nn.functional.mse_loss(model.call(trainX.narrow(0, start, size)), trainYScaled.narrow(0, start, size));
        loss.backward();
        optimizer.step(); // clips the gradient to the AutoClip threshold, then steps Adam
    }
    if (epoch % 25 == 0)
    {
        var last = optimizer.LastStep;
        Console.WriteLine($"epoch {epoch,3}: gradient norm {last.GradientNorm:F3}, threshold {last.Threshold:F3}, scale {last.Scale:F3}");
    }
}
// </quickstart>

// Errors are squared as e * e: TorchSharp's square() and a + b pass LibTorch a temporary Scalar, which the garbage
// collector may free while LibTorch reads it (see Microsoft.ML.AutoClipNet's Network/Scalars.cs).
double MeanSquare(Tensor error) => error.mul(error).mean().item<float>();
double Rmse(nn.Module<Tensor, Tensor> m)
{
    using var scope = NewDisposeScope();
    using var noGrad = no_grad();
    using var one = 1f.ToScalar();
    var predicted = m.call(testX).mul(yStd).add_(yMean, one);
    return Math.Sqrt(MeanSquare(predicted - testY));
}
double baseline = Math.Sqrt(MeanSquare(testY - yMean));
double rmse = Rmse(model);
Console.WriteLine($"held-out RMSE {rmse:F1} (predicting the mean: {baseline:F1}); {optimizer.Clipper.RecordedSteps} steps, final threshold {optimizer.Clipper.Threshold:F3}");

// Checkpoint everything, then resume into fresh objects: the clipper continues with its whole history.
string checkpoint = Path.Combine(Path.GetTempPath(), "autoclip-torchsharp-loop.ckpt");
using (var writer = new BinaryWriter(File.Create(checkpoint)))
{
    model.save(writer);
    ((TorchSharp.Modules.OptimizerHelper)optimizer.Inner).save_state_dict(writer);
    optimizer.Clipper.Save(writer);
}
var restored = nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, 1));
AutoClipOptimizer resumed;
using (var reader = new BinaryReader(File.OpenRead(checkpoint)))
{
    restored.load(reader);
    var adam = optim.Adam(restored.parameters(), lr: 1e-3);
    adam.load_state_dict(reader);
    resumed = adam.WithAutoClip(AutoClipper.Load(reader));
}
Console.WriteLine($"restored from {checkpoint}: RMSE {Rmse(restored):F1}, {resumed.Clipper.HistoryCount} norms in the history, threshold {resumed.Clipper.Threshold:F3}");
if (Rmse(restored) != rmse || resumed.Clipper.Threshold != optimizer.Clipper.Threshold)
{
    Console.Error.WriteLine("The restored model differs from the trained one.");
    return 1;
}
return 0;
