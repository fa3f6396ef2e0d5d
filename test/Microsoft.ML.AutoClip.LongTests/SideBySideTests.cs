using System;
using System.IO;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Microsoft.ML.TorchSharp (ML.NET's own TorchSharp trainers) and this library in one application:
/// a new console app that references both restores, builds and trains AutoClipNet.
/// </summary>
[TestClass]
public sealed class SideBySideTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    [DataRow("0.23.1", "5.0.1", DisplayName = "Microsoft.ML.TorchSharp 0.23.1 (ML.NET 5)")]
    [DataRow("0.24.0", "6.0.0", DisplayName = "Microsoft.ML.TorchSharp 0.24.0 (ML.NET 6)")]
    public void An_app_referencing_Microsoft_ML_TorchSharp_restores_builds_and_trains_AutoClipNet(string torchSharpTrainers, string mlnet)
    {
        string root = TestData.RepoRoot;
        string dir = Directory.CreateTempSubdirectory("autoclip-side-by-side").FullName;
        try
        {
            File.Copy(Path.Combine(root, "NuGet.config"), Path.Combine(dir, "NuGet.config"));
            File.WriteAllText(Path.Combine(dir, "SideBySide.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <!-- Microsoft.ML.TorchSharp asks for a SkiaSharp NuGet does not serve (0.23.1: 2.88.8; 2.88.9 is served). -->
                    <NoWarn>$(NoWarn);NU1603</NoWarn>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Microsoft.ML.TorchSharp" Version="{torchSharpTrainers}" />
                    <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
                    <ProjectReference Include="{root}/src/Microsoft.ML.AutoClipNet/Microsoft.ML.AutoClipNet.csproj" />
                  </ItemGroup>
                  <Import Project="{root}/src/Microsoft.ML.AutoClip/build/TorchSharpNativeFix.targets" />
                </Project>
                """);
            File.WriteAllText(Path.Combine(dir, "Program.cs"), """
                using Microsoft.ML;
                using Microsoft.ML.TorchSharp;

                var ml = new MLContext(seed: 0);
                Console.WriteLine("Microsoft.ML " + System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(typeof(MLContext).Assembly)!.InformationalVersion);
                var rng = new Random(0);
                var rows = Enumerable.Range(0, 2000).Select(_ =>
                {
                    float a = (float)rng.NextDouble(), b = (float)rng.NextDouble();
                    return new Row { Features = new[] { a, b }, Label = 3 * a - 2 * b * b };
                }).ToArray();
                var data = ml.Data.LoadFromEnumerable(rows);
                var model = ml.Regression.Trainers.AutoClipNet(numberOfEpochs: 10).Fit(data);
                var metrics = ml.Regression.Evaluate(model.Transform(data));
                // Microsoft.ML.TorchSharp's own catalog lives in the same app.
                var text = ml.MulticlassClassification.Trainers.TextClassification(sentence1ColumnName: "Text");
                Console.WriteLine($"AutoClipNet R2 {metrics.RSquared:F4}; {text.GetType().FullName}");

                public sealed class Row
                {
                    public float Label { get; set; }

                    [Microsoft.ML.Data.VectorType(2)]
                    public float[] Features { get; set; } = new float[2];
                }
                """);

            string output = Processes.Run(dir, "dotnet", new[] { "run", "-c", Configuration }, out int exitCode, throwOnFailure: false);
            Console.WriteLine(output);

            Assert.AreEqual(0, exitCode, output);
            StringAssert.Contains(output, "Microsoft.ML.TorchSharp.NasBert.TextClassificationTrainer");
            StringAssert.Contains(output, $"Microsoft.ML {mlnet}+", $"Microsoft.ML.TorchSharp {torchSharpTrainers} brings Microsoft.ML {mlnet}");
            var r2 = System.Text.RegularExpressions.Regex.Match(output, @"AutoClipNet R2 (\d+\.\d+)");
            Assert.IsTrue(r2.Success, output);
            Assert.IsGreaterThan(0.98, double.Parse(r2.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
