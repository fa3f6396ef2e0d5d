using System;
using System.Diagnostics;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;

// Times one default AutoClipNet fit on the bundled diamonds (featurized and cached first, after a small warm-up fit) and prints
// "<seconds> <steps>". bench/compare-commits.sh builds it against two commits of the library and runs them alternately.
//   dotnet run -c Release --project bench/FitTiming -- <repository root> <epochs>
string repo = args[0];
int epochs = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
var ml = new MLContext(seed: 0);
var data = ml.Data.LoadFromTextFile(Path.Combine(repo, "data", "diamonds.csv"), new[]
{
    new TextLoader.Column("carat", DataKind.Single, 0), new TextLoader.Column("cut", DataKind.String, 1), new TextLoader.Column("color", DataKind.String, 2),
    new TextLoader.Column("clarity", DataKind.String, 3), new TextLoader.Column("depth", DataKind.Single, 4), new TextLoader.Column("table", DataKind.Single, 5),
    new TextLoader.Column("Label", DataKind.Single, 6), new TextLoader.Column("x", DataKind.Single, 7), new TextLoader.Column("y", DataKind.Single, 8), new TextLoader.Column("z", DataKind.Single, 9),
}, separatorChar: ',', hasHeader: true, allowQuoting: true);
var featurized = ml.Data.Cache(ml.Transforms.Categorical.OneHotEncoding(new[] { new InputOutputColumnPair("cut"), new InputOutputColumnPair("color"), new InputOutputColumnPair("clarity") })
    .Append(ml.Transforms.Concatenate("Features", "carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z")).Fit(data).Transform(data));
featurized.Preview(10);
var trainer = ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options { NumberOfEpochs = epochs, Seed = 1 });
trainer.Fit(ml.Data.TakeRows(featurized, 2000)); // warm-up
var watch = Stopwatch.StartNew();
var model = trainer.Fit(featurized);
Console.WriteLine(FormattableString.Invariant($"{watch.Elapsed.TotalSeconds:F3} {model.Model.TrainingHistory.StepCount}"));
