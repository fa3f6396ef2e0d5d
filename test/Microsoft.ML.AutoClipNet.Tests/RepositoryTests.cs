using System;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>Checks that keep the README, the examples, the code's layout and the public API honest.</summary>
[TestClass]
public sealed class RepositoryTests
{
    private static string RepoRoot => RepositoryChecks.RepoRoot;

    [TestMethod]
    public void The_README_quick_start_is_the_code_the_QuickStart_example_runs()
    {
        string snippet = RepositoryChecks.AssertReadmeShows(Path.Combine("examples", "QuickStart", "Program.cs"));
        StringAssert.Contains(snippet, "mlContext.Regression.Trainers.AutoClipNet(");
        StringAssert.Contains(snippet, "mlContext.Regression.Evaluate(");
        StringAssert.Contains(snippet, "mlContext.Model.Save(");
        StringAssert.Contains(snippet, ".Model.Load(");
    }

    [TestMethod]
    public void The_READMEs_LightGbm_section_is_the_code_the_QuickStart_example_runs()
    {
        string snippet = RepositoryChecks.AssertReadmeShows(Path.Combine("examples", "QuickStart", "Program.cs"), "fromlightgbm");
        StringAssert.Contains(snippet, "MissingRealsAsNaNs = true");
        StringAssert.Contains(snippet, "mlContext.Regression.Trainers.LightGbm(labelColumnName: \"Mpg\", exampleWeightColumnName: \"Importance\")");
        StringAssert.Contains(snippet, "mlContext.Regression.Trainers.AutoClipNet(labelColumnName: \"Mpg\", exampleWeightColumnName: \"Importance\")");
        StringAssert.Contains(snippet, "mlContext.Transforms.CalculateFeatureContribution(autoClipNet.LastTransformer)");
        StringAssert.Contains(snippet, "LowerBound");
        Assert.IsFalse(snippet.Contains("ReplaceMissingValues(", StringComparison.Ordinal), "the NaN go into the model");
        StringAssert.Contains(RepositoryChecks.AssertReadmeShows(Path.Combine("examples", "QuickStart", "Program.cs")), "CalculateFeatureContribution(", "the quick start explains a prediction");
    }

    [TestMethod]
    public void The_README_classification_example_is_the_code_the_Classification_example_runs()
    {
        string snippet = RepositoryChecks.AssertReadmeShows(Path.Combine("examples", "Classification", "Program.cs"));
        StringAssert.Contains(snippet, "mlContext.BinaryClassification.Trainers.AutoClipNet(");
        StringAssert.Contains(snippet, "mlContext.BinaryClassification.Evaluate(");
        StringAssert.Contains(snippet, "mlContext.MulticlassClassification.Trainers.AutoClipNet(");
    }

    [TestMethod]
    public void The_README_database_example_is_the_code_the_Database_example_runs()
    {
        string snippet = RepositoryChecks.AssertReadmeShows(Path.Combine("examples", "Database", "Program.cs"));
        StringAssert.Contains(snippet, "mlContext.Data.CreateDatabaseLoader<");
        StringAssert.Contains(snippet, "MaxRowsInMemory = ");
        StringAssert.Contains(snippet, "mlContext.Regression.Trainers.AutoClipNet(");
    }

    [TestMethod]
    public void The_README_ONNX_example_is_the_code_the_OnnxExport_and_OnnxServing_examples_run()
    {
        string export = RepositoryChecks.AssertReadmeShows(Path.Combine("examples", "OnnxExport", "Program.cs"));
        StringAssert.Contains(export, "mlContext.Model.ConvertToOnnx(");
        string serving = RepositoryChecks.AssertReadmeShows(Path.Combine("examples", "OnnxServing", "Program.cs"));
        StringAssert.Contains(serving, "new InferenceSession(");
        // The serving process references ONNX Runtime and nothing else: no TorchSharp, no ML.NET, not this library.
        string project = File.ReadAllText(Path.Combine(RepoRoot, "examples", "OnnxServing", "OnnxServing.csproj"));
        var references = System.Text.RegularExpressions.Regex.Matches(project, "<(PackageReference|ProjectReference) Include=\"([^\"]+)\"")
            .Select(m => m.Groups[2].Value).ToArray();
        CollectionAssert.AreEqual(new[] { "Microsoft.ML.OnnxRuntime" }, references);
    }

    [TestMethod]
    public void Every_file_the_README_links_to_exists()
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot, "README.md"));
        var links = System.Text.RegularExpressions.Regex.Matches(readme, @"\]\(((?:docs|bench|examples|notebooks|src|data|test)/[^)#]+)\)")
            .Select(m => m.Groups[1].Value).Distinct().ToArray();
        Assert.IsGreaterThan(10, links.Length);
        foreach (string link in links)
        {
            Assert.IsTrue(File.Exists(Path.Combine(RepoRoot, link)) || Directory.Exists(Path.Combine(RepoRoot, link)), $"README.md links to {link}, which does not exist");
        }
    }

    [TestMethod]
    public void The_CI_script_runs_the_READMEs_test_command_and_the_long_tests()
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot, "README.md"));
        string ci = File.ReadAllText(Path.Combine(RepoRoot, ".ci", "run"));
        var commands = readme.Split('\n').Where(l => l.StartsWith("dotnet test", StringComparison.Ordinal)).ToArray();
        CollectionAssert.AreEqual(new[] { "dotnet test Tests.slnf -c Release", "dotnet test test/Microsoft.ML.AutoClip.LongTests -c Release" }, commands,
            "the README's test command, then the long tests");
        foreach (string command in commands)
        {
            StringAssert.Contains(ci, command + " ");
        }
        // The fast command builds the libraries and their two test projects, nothing else.
        string filter = File.ReadAllText(Path.Combine(RepoRoot, "Tests.slnf"));
        foreach (string project in new[] { "Microsoft.ML.AutoClip.csproj", "Microsoft.ML.AutoClipNet.csproj", "Microsoft.ML.AutoClip.Tests.csproj", "Microsoft.ML.AutoClipNet.Tests.csproj" })
        {
            StringAssert.Contains(filter, project);
        }
        Assert.IsFalse(filter.Contains("LongTests", StringComparison.Ordinal) || filter.Contains("examples", StringComparison.Ordinal), "the long tests and the examples stay out of the fast command");
    }

    [TestMethod]
    public void The_public_API_is_the_tracked_one()
        => RepositoryChecks.AssertApi(typeof(AutoClipNetTrainer).Assembly,
            Path.Combine(RepoRoot, "test", "Microsoft.ML.AutoClipNet.Tests", "PublicApi", "Microsoft.ML.AutoClipNet.txt"));

    /// <summary>
    /// The core (Training, Data, Network, Tasks) knows no ML.NET type: ML.NET lives at the edges (Trainers, Model,
    /// Scoring, MLNet). Checked on every type, field, method signature and local of the core namespaces.
    /// </summary>
    [TestMethod]
    public void The_training_data_and_network_code_uses_no_ML_NET_type()
    {
        var assembly = typeof(AutoClipNetTrainer).Assembly;
        string[] core = { "Microsoft.ML.AutoClipNet.Training", "Microsoft.ML.AutoClipNet.Data", "Microsoft.ML.AutoClipNet.Network", "Microsoft.ML.AutoClipNet.Tasks" };
        var coreTypes = assembly.GetTypes().Where(t => core.Any(n => t.Namespace == n)).ToArray();
        Assert.IsGreaterThan(15, coreTypes.Length);
        static bool IsMLNet(Type? t) => t is not null && (t.Assembly.GetName().Name is "Microsoft.ML.Core" or "Microsoft.ML.Data" or "Microsoft.ML.DataView" or "Microsoft.ML.StandardTrainers" or "Microsoft.ML"
            || (t.IsGenericType && t.GetGenericArguments().Any(IsMLNet)) || (t.HasElementType && IsMLNet(t.GetElementType())));
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in coreTypes)
        {
            Assert.IsFalse(IsMLNet(type.BaseType), $"{type} derives from an ML.NET type");
            Assert.IsFalse(type.GetInterfaces().Any(IsMLNet), $"{type} implements an ML.NET interface");
            foreach (var field in type.GetFields(all))
            {
                Assert.IsFalse(IsMLNet(field.FieldType), $"{type}.{field.Name} is of ML.NET type {field.FieldType}");
            }
            foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                Assert.IsFalse(method is MethodInfo m && IsMLNet(m.ReturnType), $"{type}.{method.Name} returns an ML.NET type");
                Assert.IsFalse(method.GetParameters().Any(p => IsMLNet(p.ParameterType)), $"{type}.{method.Name} takes an ML.NET type");
                var body = method.GetMethodBody();
                Assert.IsFalse(body?.LocalVariables.Any(v => IsMLNet(v.LocalType)) == true, $"{type}.{method.Name} has a local of an ML.NET type");
            }
        }
    }

    [TestMethod]
    public void Every_source_file_sits_in_the_folder_of_its_namespace_or_role()
    {
        // A newcomer finds a new task in Tasks/ (with its thin trainer and model in Trainers/ and Model/), a new layer kind in its
        // own folder of Network/Layers/, a format change in Model/.
        string src = Path.Combine(RepoRoot, "src", "Microsoft.ML.AutoClipNet");
        var expected = new[] { "Trainers", "Training", "Data", "Network", "Tasks", "Model", "Scoring", "MLNet" };
        var folders = Directory.GetFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(src, f).Split(Path.DirectorySeparatorChar)).ToArray();
        foreach (var parts in folders.Where(p => p.Length > 1))
        {
            CollectionAssert.Contains(expected, parts[0], string.Join('/', parts));
        }
        CollectionAssert.AreEquivalent(new[] { "AutoClipNetCatalog.cs" }, folders.Where(p => p.Length == 1).Select(p => p[0]).ToArray(), "only the catalog sits at the top");
        foreach (string file in new[] { "Network", "Training", "Data", "Tasks" }.SelectMany(folder => Directory.GetFiles(Path.Combine(src, folder), "*.cs", SearchOption.AllDirectories)))
        {
            Assert.IsFalse(File.ReadAllText(file).Contains("using Microsoft.ML.Data", StringComparison.Ordinal), $"{file} uses ML.NET");
        }
        // One layer kind, one folder: each folder of Network/Layers/ holds its layer and, for a kind that trains, its step.
        foreach (string folder in Directory.GetDirectories(Path.Combine(src, "Network", "Layers")))
        {
            string kind = Path.GetFileName(folder);
            Assert.IsTrue(File.Exists(Path.Combine(folder, kind + "Layer.cs")), $"Network/Layers/{kind}/ holds {kind}Layer.cs");
        }
    }
}
