using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.ML.Data;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The test assembly is also a console program, so that tests can check behaviour in a fresh process.
/// With no arguments it does nothing (the test platform runs the tests). Modes:
/// <list type="bullet">
/// <item><c>load &lt;zip&gt; &lt;task&gt; &lt;out&gt;</c>: loads a saved pipeline without touching any AutoClipNet type first, scores the task's test rows, writes the outputs' bytes.</item>
/// <item><c>train &lt;task&gt; &lt;rows&gt; &lt;seed&gt; &lt;out&gt; [zip]</c>: trains a quick pipeline from scratch, writes its weights and outputs, optionally saves it.</item>
/// <item><c>burn &lt;seconds&gt;</c>: keeps every core busy (for tests under CPU load).</item>
/// <item><c>call &lt;type&gt; &lt;method&gt; [args]</c>: runs a test class's static <c>int Method(string[] args)</c> of this assembly in a fresh process
/// (a measurement that other tests' leftovers in the test process must not disturb).</item>
/// </list>
/// The environment variable AUTOCLIP_TEST_JUNK=N makes the process allocate N small managed arrays and
/// TorchSharp tensors first, which moves later allocations in memory (alignment must not matter).
/// </summary>
public static class ChildProcess
{
    /// <summary>How many test rows the child processes score.</summary>
    internal const int ScoredRows = 1000;

    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            return 0;
        }
        Perturb();
        // Each mode is its own method, so that compiling Main loads no AutoClipNet type.
        return args[0] switch
        {
            "load" => LoadAndScore(args[1], args[2], args[3]),
            "train" => TrainAndScore(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture), args[4], args.Length > 5 ? args[5] : null,
                args.Length > 6 ? int.Parse(args[6], CultureInfo.InvariantCulture) : 2),
            "burn" => Burn(double.Parse(args[1], CultureInfo.InvariantCulture)),
            "call" => Call(args[1], args[2], args[3..]),
            _ => Unknown(args[0]),
        };
    }

    private static readonly List<object> Junk = new();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Perturb()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("AUTOCLIP_TEST_JUNK"), out int junk))
        {
            return;
        }
        for (int i = 0; i < junk; i++)
        {
            Junk.Add(new float[1 + i % 5]);
            Junk.Add(TorchSharp.torch.tensor(new float[1 + i % 3], new long[] { 1 + i % 3 }));
        }
    }

    private static int Unknown(string mode)
    {
        Console.Error.WriteLine($"unknown mode '{mode}'");
        return 2;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int LoadAndScore(string modelPath, string task, string outputPath)
    {
        bool loadedBefore = AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "Microsoft.ML.AutoClipNet");
        var ml = new MLContext(seed: 0);
        var model = ml.Model.Load(modelPath, out _);
        File.WriteAllBytes(outputPath, Scores(ml, model, task));
        Console.WriteLine($"autoclipnet-loaded-before={loadedBefore}; last transformer {((TransformerChain<ITransformer>)model).LastTransformer.GetType().FullName}");
        return 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int TrainAndScore(string task, int rows, int seed, string outputPath, string? modelPath, int epochs)
    {
        var ml = new MLContext(seed: 0);
        var fixture = TaskFixture.ByName(task);
        var raw = TestData.Raw(ml, fixture.DataSet, rows);
        var pipeline = AutoClip.Shared.BundledData.Featurizer(ml, fixture.DataSet).Append(fixture.QuickTrainer(ml, epochs: epochs, seed: seed)).Fit(raw);
        File.WriteAllBytes(outputPath, Fingerprint.Of(ml, pipeline, task));
        // Which members ran fewer epochs than planned (the cycle stop), for the caller to check that the stop was exercised.
        var histories = fixture.ModelOf(pipeline).MemberTrainingHistories;
        Console.WriteLine($"members-stopped={string.Join(',', histories.Select(h => h.Epochs.Count < epochs ? h.Epochs.Count : 0))}");
        if (modelPath is not null)
        {
            ml.Model.Save(pipeline, raw.Schema, modelPath);
        }
        return 0;
    }

    private static int Call(string type, string method, string[] args)
    {
        var target = typeof(ChildProcess).Assembly.GetType(type, throwOnError: true)!
            .GetMethod(method, System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)
            ?? throw new MissingMethodException(type, method);
        return (int)target.Invoke(null, new object[] { args })!;
    }

    /// <summary>Runs <paramref name="method"/> (a static <c>int M(string[] args)</c> of <typeparamref name="T"/>) in a fresh process; returns what it printed.</summary>
    internal static string Call<T>(string method, params string[] args) => Run(new[] { "call", typeof(T).FullName!, method }.Concat(args).ToArray());

    private static int Burn(double seconds)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        var threads = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => new Thread(() =>
        {
            double x = 1;
            while (DateTime.UtcNow < until)
            {
                for (int i = 0; i < 100_000; i++)
                {
                    x = Math.Sqrt(x + i);
                }
            }
            GC.KeepAlive(x);
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }
        foreach (var thread in threads)
        {
            thread.Join();
        }
        return 0;
    }

    /// <summary>The outputs of <paramref name="model"/> (a pipeline from raw rows) on the task's <see cref="ScoredRows"/> test rows.</summary>
    internal static byte[] Scores(MLContext ml, ITransformer model, string task)
    {
        var fixture = TaskFixture.ByName(task);
        var rows = TestData.Raw(ml, fixture.DataSet, ScoredRows, seed: 11);
        return Outputs.Bytes(model.Transform(rows), fixture.OutputColumns);
    }

    /// <summary>Runs this assembly as a child process and returns what it printed.</summary>
    internal static string Run(params string[] args) => RunPerturbed(0, args);

    /// <summary>Runs this assembly as a child process with AUTOCLIP_TEST_JUNK=<paramref name="junk"/> (0: none).</summary>
    internal static string RunPerturbed(int junk, params string[] args)
        => Processes.Run(AppContext.BaseDirectory, "dotnet", new[] { typeof(ChildProcess).Assembly.Location }.Concat(args), out _,
            environment: junk > 0 ? new Dictionary<string, string> { ["AUTOCLIP_TEST_JUNK"] = junk.ToString(CultureInfo.InvariantCulture) } : null);
}

/// <summary>Kept apart from <see cref="ChildProcess"/> so that loading that class touches no AutoClipNet type.</summary>
internal static class Fingerprint
{
    /// <summary>Every value of every layer of every member of the model, followed by its outputs on the task's test rows.</summary>
    internal static byte[] Of(MLContext ml, ITransformer model, string task)
    {
        var network = TaskFixture.ByName(task).ModelOf(model);
        return NetworkValues.Of(network.NetworkLayers).SelectMany(BitConverter.GetBytes).Concat(ChildProcess.Scores(ml, model, task)).ToArray();
    }
}
