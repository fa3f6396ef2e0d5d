using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>
/// The test assembly is also a console program, so that tests can check behaviour in a fresh process:
/// <c>dotnet Microsoft.ML.AutoClip.Tests.dll load model.zip data.csv out.bin</c> loads a saved model
/// without touching any AutoClipNet type first, and <c>train ...</c> trains one from scratch.
/// With no arguments it does nothing (the test platform runs the tests).
/// </summary>
public static class ChildProcess
{
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            return 0;
        }
        // Each mode is its own method, so that compiling Main loads no AutoClipNet type.
        return args[0] switch
        {
            "load" => LoadAndScore(args[1], args[2]),
            "train" => TrainAndScore(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture), args[2]),
            _ => Unknown(args[0]),
        };
    }

    private static int Unknown(string mode)
    {
        Console.Error.WriteLine($"unknown mode '{mode}'");
        return 2;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int LoadAndScore(string modelPath, string outputPath)
    {
        bool loadedBefore = AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "Microsoft.ML.AutoClipNet");
        var ml = new MLContext(seed: 0);
        var model = ml.Model.Load(modelPath, out _);
        var scores = Scores(ml, model);
        File.WriteAllBytes(outputPath, scores.SelectMany(BitConverter.GetBytes).ToArray());
        Console.WriteLine($"autoclipnet-loaded-before={loadedBefore}; last transformer {((TransformerChain<ITransformer>)model).LastTransformer.GetType().FullName}");
        return 0;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int TrainAndScore(int rows, string outputPath)
    {
        var ml = new MLContext(seed: 0);
        var data = TestData.FeaturizedDiamonds(ml, rows);
        var model = ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 2, seed: 42)).Fit(data);
        File.WriteAllBytes(outputPath, AutoClipNetFingerprint.Of(ml, model, data).SelectMany(BitConverter.GetBytes).ToArray());
        return 0;
    }

    /// <summary>Scores of <paramref name="model"/> (a pipeline from raw diamonds) on the first 3000 raw diamonds.</summary>
    internal static float[] Scores(MLContext ml, ITransformer model)
    {
        var data = ml.Data.TakeRows(TestData.Diamonds(ml), 3000);
        return ml.Data.CreateEnumerable<Score>(model.Transform(data), reuseRowObject: false).Select(s => s.Value).ToArray();
    }

    internal sealed class Score
    {
        [ColumnName("Score")]
        public float Value { get; set; }
    }

    /// <summary>Runs this assembly as a child process and returns what it printed.</summary>
    internal static string Run(params string[] args)
        => Processes.Run(AppContext.BaseDirectory, "dotnet", new[] { typeof(ChildProcess).Assembly.Location }.Concat(args), out _);
}

/// <summary>Kept apart from <see cref="ChildProcess"/> so that loading that class touches no AutoClipNet type.</summary>
internal static class AutoClipNetFingerprint
{
    /// <summary>Every weight of the model followed by its scores on <paramref name="data"/>.</summary>
    internal static float[] Of(MLContext ml, AutoClipNet.AutoClipNetPredictionTransformer model, IDataView data)
    {
        var weights = Enumerable.Range(0, model.Model.HiddenLayerSizes.Count + 1).SelectMany(l => model.Model.GetWeights(l).Concat(model.Model.GetBiases(l)));
        var scores = ml.Data.CreateEnumerable<ChildProcess.Score>(model.Transform(data), reuseRowObject: false).Select(s => s.Value);
        return weights.Concat(scores).ToArray();
    }

}
