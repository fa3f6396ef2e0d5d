using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The NuGet packages as a user gets them: `dotnet pack` into a local folder feed (with a version of
/// its own, so that no cached copy is used), then a fresh console app consumes them; and the notebook,
/// run headlessly as committed.
/// </summary>
[TestClass]
public sealed class PackageTests
{
    private static string _feed = null!;
    private static string _version = null!;
    private static string _work = null!;

    [ClassInitialize]
    public static void Pack(TestContext context)
    {
        _work = Directory.CreateTempSubdirectory("autoclip-packages").FullName;
        _feed = Path.Combine(_work, "feed");
        _version = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmss");
        string suffix = _version["0.1.0-".Length..];
        foreach (string project in new[] { "src/Microsoft.ML.AutoClip", "src/Microsoft.ML.AutoClipNet" })
        {
            Run(TestData.RepoRoot, "dotnet", "pack", project, "-c", "Release", "-o", _feed, "--version-suffix", suffix);
        }
    }

    [ClassCleanup]
    public static void CleanUp()
    {
        if (_work is not null)
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private static string Run(string directory, string file, params string[] args) => Processes.Run(directory, file, args);

    [TestMethod]
    public void The_packages_carry_readme_licence_docs_symbols_and_the_native_fix()
    {
        string autoClip = Path.Combine(_feed, $"Microsoft.ML.AutoClip.{_version}.nupkg");
        string autoClipNet = Path.Combine(_feed, $"Microsoft.ML.AutoClipNet.{_version}.nupkg");
        Assert.IsTrue(File.Exists(Path.Combine(_feed, $"Microsoft.ML.AutoClip.{_version}.snupkg")), "symbols");
        Assert.IsTrue(File.Exists(Path.Combine(_feed, $"Microsoft.ML.AutoClipNet.{_version}.snupkg")), "symbols");

        using (var zip = ZipFile.OpenRead(autoClip))
        {
            var names = zip.Entries.Select(e => e.FullName).ToHashSet();
            CollectionAssert.IsSubsetOf(new[]
            {
                "README.md", "LICENSE", "lib/net8.0/Microsoft.ML.AutoClip.dll", "lib/net8.0/Microsoft.ML.AutoClip.xml",
                "buildTransitive/Microsoft.ML.AutoClip.targets", "buildTransitive/TorchSharpNativeFix.targets", "buildTransitive/TorchSharpNativeFix.cs",
            }, names.ToArray());
            var nuspec = XDocument.Load(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            var dependencies = nuspec.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")!.Value).ToArray();
            CollectionAssert.AreEquivalent(new[] { "TorchSharp" }, dependencies, "the TorchSharp face depends on TorchSharp only, not on ML.NET");
            Assert.AreEqual("MIT", nuspec.Descendants().Single(e => e.Name.LocalName == "license").Value);
        }
        using (var zip = ZipFile.OpenRead(autoClipNet))
        {
            var names = zip.Entries.Select(e => e.FullName).ToHashSet();
            CollectionAssert.IsSubsetOf(new[] { "README.md", "LICENSE", "lib/net8.0/Microsoft.ML.AutoClipNet.dll", "lib/net8.0/Microsoft.ML.AutoClipNet.xml" }, names.ToArray());
            var nuspec = XDocument.Load(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            var dependencies = nuspec.Descendants().Where(e => e.Name.LocalName == "dependency")
                .ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value);
            CollectionAssert.AreEquivalent(new[] { "Microsoft.ML", "Microsoft.ML.AutoClip", "TorchSharp", "System.IO.Hashing" }, dependencies.Keys.ToArray(), "no build tool leaks into the dependencies");
            Assert.AreEqual("[5.0.1, 7.0.0)", dependencies["Microsoft.ML"], "every Microsoft.ML of majors 5 and 6 (Directory.Packages.props says why not 7)");
            Assert.AreEqual(_version, dependencies["Microsoft.ML.AutoClip"]);
        }
    }

    /// <summary>
    /// A fresh console app on each supported ML.NET, with every NuGet warning an error (NU1608 is what a version outside the
    /// package's range gives): it restores, builds, trains the three tasks, saves them, exports them to ONNX and reloads them in
    /// a fresh process; the models each version saved load in the other and score the same bits.
    /// </summary>
    [TestMethod]
    [Timeout(1_800_000, CooperativeCancellation = true)]
    public void A_fresh_console_app_on_ML_NET_5_or_6_restores_without_warnings_trains_saves_exports_and_reloads()
    {
        var legs = new[] { ("5.0.1", "0.23.1"), ("6.0.0", "0.24.0") };
        var apps = new System.Collections.Generic.Dictionary<string, string>();
        foreach (var (mlnet, converter) in legs)
        {
            string app = CreateConsumer(mlnet, converter);
            apps[mlnet] = app;
            string models = Path.Combine(app, "models");
            string output = Run(app, "dotnet", "run", "-c", "Release", "--", "train", models);
            Console.WriteLine(output);
            StringAssert.Contains(output, $"Microsoft.ML {mlnet}+", "the app runs on the ML.NET it asked for");
            AssertAbove(output, "R2", 0.95);
            AssertAbove(output, "AUC", 0.95);
            AssertAbove(output, "accuracy", 0.85);
            // The package's build-time fix patched the app's own copy: the runtime path found nothing to do.
            StringAssert.Contains(output, "native: ");
            Assert.IsFalse(output.Contains("native: fixed", StringComparison.Ordinal), output);
            foreach (string task in new[] { "regression", "binary", "multiclass" })
            {
                Assert.IsGreaterThan(1000L, new FileInfo(Path.Combine(models, task + ".onnx")).Length, $"{task}.onnx under {mlnet}");
            }
        }

        // Each version's models in a fresh process of its own and of the other version: the same scores, bit for bit.
        foreach (var (saver, _) in legs)
        {
            string models = Path.Combine(apps[saver], "models");
            string expected = File.ReadAllText(Path.Combine(models, "scores.txt"));
            foreach (var (loader, _) in legs)
            {
                string output = Run(apps[loader], "dotnet", "run", "-c", "Release", "--no-build", "--", "load", models);
                StringAssert.Contains(output, $"Microsoft.ML {loader}+");
                Assert.AreEqual(expected, File.ReadAllText(Path.Combine(models, "loaded.txt")), $"saved under {saver}, loaded under {loader}");
            }
        }
    }

    private static void AssertAbove(string output, string metric, double floor)
    {
        var match = Regex.Match(output, metric + @" (\d+\.\d+)");
        Assert.IsTrue(match.Success, output);
        Assert.IsGreaterThan(floor, double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), metric);
    }

    /// <summary>A console app that references the packed AutoClipNet beside Microsoft.ML <paramref name="mlnet"/>.</summary>
    private static string CreateConsumer(string mlnet, string converter)
    {
        string app = Path.Combine(_work, "consumer-" + mlnet);
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{_feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <!-- Every warning is an error, NuGet's too: a dependency outside the package's range (NU1608) fails the build. -->
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Microsoft.ML" Version="{mlnet}" />
                <PackageReference Include="Microsoft.ML.OnnxConverter" Version="{converter}" />
                <PackageReference Include="Microsoft.ML.AutoClipNet" Version="{_version}" />
                <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using System.Reflection;
            using Microsoft.ML;
            using Microsoft.ML.AutoClip;
            using Microsoft.ML.Data;

            var ml = new MLContext(seed: 0);
            string version = typeof(MLContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
            Console.WriteLine($"Microsoft.ML {version}");
            string mode = args[0], models = args[1];
            Directory.CreateDirectory(models);

            var rng = new Random(0);
            var rows = Enumerable.Range(0, 3000).Select(_ =>
            {
                float a = (float)rng.NextDouble(), b = (float)rng.NextDouble(), c = (float)rng.NextDouble();
                return new Row { Features = new[] { a, b, c }, Label = 3 * a - 2 * b * b + MathF.Sin(4 * c) };
            }).ToArray();
            var regression = ml.Data.LoadFromEnumerable(rows);
            var binary = ml.Data.LoadFromEnumerable(rows.Select(r => new BinaryRow { Features = r.Features, Label = r.Label > 0.5f }));
            var classRows = ml.Data.LoadFromEnumerable(rows.Select(r => new ClassRow { Features = r.Features, Class = r.Label < 0 ? "low" : r.Label < 1 ? "middle" : "high" }));
            var multiclass = ml.Transforms.Conversion.MapValueToKey("Label", "Class").Fit(classRows).Transform(classRows);
            var data = new Dictionary<string, IDataView> { ["regression"] = regression, ["binary"] = binary, ["multiclass"] = multiclass };

            if (mode == "train")
            {
                var trained = new Dictionary<string, ITransformer>
                {
                    ["regression"] = ml.Regression.Trainers.AutoClipNet(numberOfEpochs: 15).Fit(regression),
                    ["binary"] = ml.BinaryClassification.Trainers.AutoClipNet(numberOfEpochs: 15).Fit(binary),
                    ["multiclass"] = ml.MulticlassClassification.Trainers.AutoClipNet(numberOfEpochs: 15).Fit(multiclass),
                };
                Console.WriteLine($"R2 {ml.Regression.Evaluate(trained["regression"].Transform(regression)).RSquared:F4}");
                Console.WriteLine($"AUC {ml.BinaryClassification.Evaluate(trained["binary"].Transform(binary)).AreaUnderRocCurve:F4}");
                Console.WriteLine($"accuracy {ml.MulticlassClassification.Evaluate(trained["multiclass"].Transform(multiclass)).MicroAccuracy:F4}");
                Console.WriteLine($"native: {TorchSharpNative.Outcome}");
                foreach (var (task, model) in trained)
                {
                    ml.Model.Save(model, data[task].Schema, Path.Combine(models, task + ".zip"));
                    using var onnx = File.Create(Path.Combine(models, task + ".onnx"));
                    ml.Model.ConvertToOnnx(model, data[task], onnx);
                }
                File.WriteAllText(Path.Combine(models, "scores.txt"), Scores(trained));
            }
            else
            {
                var loaded = data.Keys.ToDictionary(task => task, task => ml.Model.Load(Path.Combine(models, task + ".zip"), out _));
                File.WriteAllText(Path.Combine(models, "loaded.txt"), Scores(loaded));
            }

            // Every score of the first 50 rows as the bits of its floats.
            string Scores(Dictionary<string, ITransformer> models)
            {
                var text = new System.Text.StringBuilder();
                foreach (var (task, model) in models.OrderBy(m => m.Key, StringComparer.Ordinal))
                {
                    var scored = model.Transform(ml.Data.TakeRows(data[task], 50));
                    var column = scored.Schema["Score"];
                    if (column.Type is VectorDataViewType)
                    {
                        foreach (var score in scored.GetColumn<float[]>(column))
                        {
                            text.AppendLine(task + " " + string.Join(" ", score.Select(s => BitConverter.SingleToInt32Bits(s).ToString("X8"))));
                        }
                    }
                    else
                    {
                        foreach (float score in scored.GetColumn<float>(column))
                        {
                            text.AppendLine(task + " " + BitConverter.SingleToInt32Bits(score).ToString("X8"));
                        }
                    }
                }
                return text.ToString();
            }

            public sealed class BinaryRow
            {
                public bool Label { get; set; }

                [VectorType(3)]
                public float[] Features { get; set; } = new float[3];
            }

            public sealed class ClassRow
            {
                public string Class { get; set; } = "";

                [VectorType(3)]
                public float[] Features { get; set; } = new float[3];
            }

            public sealed class Row
            {
                public float Label { get; set; }

                [VectorType(3)]
                public float[] Features { get; set; } = new float[3];
            }
            """);
        return app;
    }

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void The_notebook_runs_headlessly_and_every_cell_succeeds()
    {
        // The notebook as committed: it references the Release build of the libraries and TorchSharp from the NuGet cache.
        string root = TestData.RepoRoot;
        string notebooks = Path.Combine(root, "notebooks");
        string trx = Path.Combine(_work, "notebook.trx");
        var started = DateTime.UtcNow;
        Run(root, "dotnet", "build", "src/Microsoft.ML.AutoClipNet", "-c", "Release");
        Run(root, "dotnet", "tool", "restore");
        string output = Processes.Run(notebooks, "dotnet", new[] { "repl", "--run", Path.Combine(notebooks, "AutoClipNet.ipynb"), "--exit-after-run",
            "--output-format", "trx", "--output-path", trx }, out int exitCode, throwOnFailure: false);
        Console.WriteLine(output);
        Assert.IsTrue(File.Exists(trx), $"dotnet repl exited with {exitCode} and wrote no results:\n{output}");

        // dotnet-repl declares UTF-16 in the TRX header but writes UTF-8: parse the text without the declaration.
        string trxText = Regex.Replace(File.ReadAllText(trx), @"^\s*<\?xml[^>]*\?>", "");
        var results = XDocument.Parse(trxText).Descendants().Where(e => e.Name.LocalName == "UnitTestResult").ToArray();
        Console.WriteLine(string.Join("\n", results.Select(r => $"{r.Attribute("testName")?.Value}: {r.Attribute("outcome")?.Value}")));
        Assert.IsGreaterThanOrEqualTo(6, results.Length, "every code cell is a result");
        var failed = results.Where(r => r.Attribute("outcome")?.Value != "Passed").ToArray();
        Assert.IsEmpty(failed, "failed cells:\n" + string.Join("\n", failed.Select(r => r.ToString())));
        Assert.AreEqual(0, exitCode, output);
        Assert.IsTrue(File.GetLastWriteTimeUtc(Path.Combine(notebooks, "model.zip")) > started, "the last cell saves the model");
        Assert.IsTrue(File.GetLastWriteTimeUtc(Path.Combine(notebooks, "training-dynamics.png")) > started, "the plot cell draws the dynamics");
    }
}
