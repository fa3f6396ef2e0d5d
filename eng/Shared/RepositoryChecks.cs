using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClip.Shared;

/// <summary>Helpers of the tests that keep the README, the examples and the public API honest (compiled into both test projects).</summary>
internal static class RepositoryChecks
{
    /// <summary>The folder holding Microsoft.ML.AutoClip.sln.</summary>
    public static string RepoRoot
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

    /// <summary>The text between <paramref name="start"/> and <paramref name="end"/>.</summary>
    public static string Region(string text, string start, string end)
    {
        int from = text.IndexOf(start, StringComparison.Ordinal);
        int to = text.IndexOf(end, StringComparison.Ordinal);
        Assert.IsGreaterThanOrEqualTo(0, from, $"'{start}' not found");
        Assert.IsGreaterThan(from, to, $"'{end}' not found after '{start}'");
        return text[(from + start.Length)..to];
    }

    /// <summary>Checks that README.md shows the snippet between <c>// &lt;quickstart&gt;</c> markers of <paramref name="program"/> (a path from the root).</summary>
    public static string AssertReadmeShows(string program, string marker = "quickstart")
    {
        string text = File.ReadAllText(Path.Combine(RepoRoot, program));
        string snippet = Region(text, $"// <{marker}>\n", $"// </{marker}>");
        if (marker != "quickstart")
        {
            // A region inside a method: its lines lose the method's indentation in the README.
            snippet = string.Join('\n', snippet.Split('\n').Select(line => line.StartsWith("    ", StringComparison.Ordinal) ? line[4..] : line)).TrimEnd(' ');
        }
        string readme = File.ReadAllText(Path.Combine(RepoRoot, "README.md"));
        StringAssert.Contains(readme, "```csharp\n" + snippet + "```", $"README.md's code differs from {program}");
        return snippet;
    }

    /// <summary>
    /// The public API of <paramref name="assembly"/> is tracked in <paramref name="trackedFile"/> so that every change to it is
    /// deliberate. When it changes on purpose, copy the .received.txt file written next to the test output over the tracked file.
    /// </summary>
    public static void AssertApi(Assembly assembly, string trackedFile)
    {
        string name = assembly.GetName().Name!;
        string actual = DescribePublicApi(assembly);
        string expected = File.Exists(trackedFile) ? File.ReadAllText(trackedFile).ReplaceLineEndings("\n") : "";
        if (actual != expected)
        {
            string received = Path.Combine(AppContext.BaseDirectory, name + ".received.txt");
            File.WriteAllText(received, actual);
            Assert.Fail($"The public API of {name} changed. If that is intended, copy {received} to {trackedFile}.");
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
