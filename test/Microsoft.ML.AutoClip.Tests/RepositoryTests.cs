using System.IO;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>Checks that keep the README's TorchSharp loop and the AutoClip library's public API honest.</summary>
[TestClass]
public sealed class RepositoryTests
{
    [TestMethod]
    public void The_README_shows_the_TorchSharp_loop_that_the_example_compiles()
        => RepositoryChecks.AssertReadmeShows(Path.Combine("examples", "TorchSharpLoop", "Program.cs"));

    [TestMethod]
    public void The_public_API_is_the_tracked_one()
        => RepositoryChecks.AssertApi(typeof(AutoClipper).Assembly,
            Path.Combine(RepositoryChecks.RepoRoot, "test", "Microsoft.ML.AutoClip.Tests", "PublicApi", "Microsoft.ML.AutoClip.txt"));

    [TestMethod]
    public void This_test_project_does_not_pull_in_ML_NET()
    {
        // The TorchSharp face of the library stands alone: its tests run without any ML.NET assembly.
        foreach (string file in Directory.GetFiles(System.AppContext.BaseDirectory, "Microsoft.ML*.dll"))
        {
            string name = Path.GetFileNameWithoutExtension(file);
            Assert.IsTrue(name is "Microsoft.ML.AutoClip" or "Microsoft.ML.AutoClip.Tests", $"{name}.dll is in the output of the AutoClip tests");
        }
    }
}
