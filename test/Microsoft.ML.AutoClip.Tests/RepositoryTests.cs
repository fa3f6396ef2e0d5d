using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>Checks that keep the README and the public API honest.</summary>
[TestClass]
public sealed class RepositoryTests
{
    internal static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Microsoft.ML.AutoClip.sln")))
            {
                dir = dir.Parent;
            }
            return dir?.FullName ?? throw new InvalidOperationException("The repository root (with Microsoft.ML.AutoClip.sln) is not above " + AppContext.BaseDirectory);
        }
    }

    private static string Region(string text, string start, string end)
    {
        int from = text.IndexOf(start, StringComparison.Ordinal);
        int to = text.IndexOf(end, StringComparison.Ordinal);
        Assert.IsGreaterThanOrEqualTo(0, from, $"'{start}' not found");
        Assert.IsGreaterThan(from, to, $"'{end}' not found after '{start}'");
        return text[(from + start.Length)..to];
    }

    [TestMethod]
    public void The_README_shows_the_TorchSharp_loop_that_the_example_compiles()
    {
        string program = File.ReadAllText(Path.Combine(RepoRoot, "examples", "TorchSharpLoop", "Program.cs"));
        string snippet = Region(program, "// <quickstart>\n", "// </quickstart>");
        string readme = File.ReadAllText(Path.Combine(RepoRoot, "README.md"));
        StringAssert.Contains(readme, "```csharp\n" + snippet + "```", "README.md's TorchSharp loop differs from examples/TorchSharpLoop/Program.cs");
    }

    [TestMethod]
    public void The_README_quick_start_is_the_code_the_QuickStart_example_runs()
    {
        string program = File.ReadAllText(Path.Combine(RepoRoot, "examples", "QuickStart", "Program.cs"));
        string snippet = Region(program, "// <quickstart>\n", "// </quickstart>");
        string readme = File.ReadAllText(Path.Combine(RepoRoot, "README.md"));
        StringAssert.Contains(readme, "```csharp\n" + snippet + "```", "README.md's quick start differs from examples/QuickStart/Program.cs");
        StringAssert.Contains(snippet, "mlContext.Regression.Trainers.AutoClipNet(");
        StringAssert.Contains(snippet, "mlContext.Regression.Evaluate(");
        StringAssert.Contains(snippet, "mlContext.Model.Save(");
        StringAssert.Contains(snippet, ".Model.Load(");
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
    public void The_CI_script_runs_the_READMEs_test_command()
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot, "README.md"));
        string ci = File.ReadAllText(Path.Combine(RepoRoot, ".ci", "run"));
        string command = readme.Split('\n').Single(l => l.StartsWith("dotnet test", StringComparison.Ordinal));
        StringAssert.Contains(ci, command + " ");
    }

    /// <summary>
    /// The public API is tracked in PublicApi/*.txt so that every change to it is deliberate.
    /// When it changes on purpose, copy the .received.txt file written next to the test output over the tracked file.
    /// </summary>
    [TestMethod]
    public void The_public_API_is_the_tracked_one()
    {
        AssertApi(typeof(AutoClipper).Assembly);
        AssertApi(typeof(AutoClipNet.AutoClipNetTrainer).Assembly);
    }

    internal static void AssertApi(Assembly assembly)
    {
        string name = assembly.GetName().Name!;
        string tracked = Path.Combine(RepoRoot, "test", "Microsoft.ML.AutoClip.Tests", "PublicApi", name + ".txt");
        string actual = DescribePublicApi(assembly);
        string expected = File.Exists(tracked) ? File.ReadAllText(tracked).ReplaceLineEndings("\n") : "";
        if (actual != expected)
        {
            string received = Path.Combine(AppContext.BaseDirectory, name + ".received.txt");
            File.WriteAllText(received, actual);
            Assert.Fail($"The public API of {name} changed. If that is intended, copy {received} to {tracked}.");
        }
    }

    private static string DescribePublicApi(Assembly assembly)
    {
        var lines = new StringBuilder();
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            lines.Append(type.FullName).Append(type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) ? " : " + b : "").Append('\n');
            const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            var members = type.GetMembers(flags)
                .Where(m => m is not MethodInfo { IsSpecialName: true } || m.Name.StartsWith("op_", StringComparison.Ordinal))
                .Select(m => "  " + m.MemberType + " " + m.ToString())
                .Where(s => !s.Contains("<Clone>$", StringComparison.Ordinal))
                .OrderBy(s => s, StringComparer.Ordinal);
            foreach (string member in members)
            {
                lines.Append(member).Append('\n');
            }
        }
        return lines.ToString();
    }
}
