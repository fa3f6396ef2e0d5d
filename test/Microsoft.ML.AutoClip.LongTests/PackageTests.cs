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
            Assert.AreEqual("[5.0.1]", dependencies["Microsoft.ML"]);
            Assert.AreEqual(_version, dependencies["Microsoft.ML.AutoClip"]);
        }
    }

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void A_fresh_console_app_restores_builds_trains_and_predicts_from_the_packages()
    {
        string app = Path.Combine(_work, "consumer");
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
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Microsoft.ML.AutoClipNet" Version="{_version}" />
                <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Microsoft.ML;
            using Microsoft.ML.AutoClip;

            var ml = new MLContext(seed: 0);
            var rng = new Random(0);
            var rows = Enumerable.Range(0, 3000).Select(_ =>
            {
                float a = (float)rng.NextDouble(), b = (float)rng.NextDouble(), c = (float)rng.NextDouble();
                return new Row { Features = new[] { a, b, c }, Label = 3 * a - 2 * b * b + MathF.Sin(4 * c) };
            }).ToArray();
            var data = ml.Data.LoadFromEnumerable(rows);
            var model = ml.Regression.Trainers.AutoClipNet(numberOfEpochs: 15).Fit(data);
            var metrics = ml.Regression.Evaluate(model.Transform(data));
            var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(model);
            Console.WriteLine($"R2 {metrics.RSquared:F4}; predicted {engine.Predict(rows[0]).Score:F3} for {rows[0].Label:F3}; native: {TorchSharpNative.Outcome}");
            var binary = ml.Data.LoadFromEnumerable(rows.Select(r => new BinaryRow { Features = r.Features, Label = r.Label > 0.5f }));
            var classifier = ml.BinaryClassification.Trainers.AutoClipNet(numberOfEpochs: 15).Fit(binary);
            Console.WriteLine($"AUC {ml.BinaryClassification.Evaluate(classifier.Transform(binary)).AreaUnderRocCurve:F4}");
            var classes = ml.Transforms.Conversion.MapValueToKey("Label", "Class")
                .Fit(ml.Data.LoadFromEnumerable(rows.Select(r => new ClassRow { Features = r.Features, Class = r.Label < 0 ? "low" : r.Label < 1 ? "middle" : "high" })));
            var keyed = classes.Transform(ml.Data.LoadFromEnumerable(rows.Select(r => new ClassRow { Features = r.Features, Class = r.Label < 0 ? "low" : r.Label < 1 ? "middle" : "high" })));
            var multiclass = ml.MulticlassClassification.Trainers.AutoClipNet(numberOfEpochs: 15).Fit(keyed);
            Console.WriteLine($"accuracy {ml.MulticlassClassification.Evaluate(multiclass.Transform(keyed)).MicroAccuracy:F4}");

            public sealed class BinaryRow
            {
                public bool Label { get; set; }

                [Microsoft.ML.Data.VectorType(3)]
                public float[] Features { get; set; } = new float[3];
            }

            public sealed class ClassRow
            {
                public string Class { get; set; } = "";

                [Microsoft.ML.Data.VectorType(3)]
                public float[] Features { get; set; } = new float[3];
            }

            public sealed class Row
            {
                public float Label { get; set; }

                [Microsoft.ML.Data.VectorType(3)]
                public float[] Features { get; set; } = new float[3];
            }

            public sealed class Prediction
            {
                public float Score { get; set; }
            }
            """);

        string output = Run(app, "dotnet", "run", "-c", "Release");
        Console.WriteLine(output);
        var r2 = Regex.Match(output, @"R2 (\d+\.\d+)");
        Assert.IsTrue(r2.Success, output);
        Assert.IsGreaterThan(0.95, double.Parse(r2.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        var auc = Regex.Match(output, @"AUC (\d+\.\d+)");
        Assert.IsTrue(auc.Success, output);
        Assert.IsGreaterThan(0.95, double.Parse(auc.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        var accuracy = Regex.Match(output, @"accuracy (\d+\.\d+)");
        Assert.IsTrue(accuracy.Success, output);
        Assert.IsGreaterThan(0.85, double.Parse(accuracy.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        // The package's build-time fix patched the app's own copy: the runtime path found nothing to do.
        StringAssert.Contains(output, "native: ");
        Assert.IsFalse(output.Contains("native: fixed", StringComparison.Ordinal), output);
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
