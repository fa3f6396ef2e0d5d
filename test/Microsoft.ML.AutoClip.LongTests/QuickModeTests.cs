using System;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The benchmarks, the studies and the ONNX example in their quick modes (tiny sizes, seconds to a minute each), so that they
/// never rot: each program as built beside these tests (they are build-order references of this project), run from the
/// repository's root as the README runs it, must end with exit code 0. Their full runs write bench/RESULTS.md and docs/.
/// </summary>
[TestClass]
public sealed class QuickModeTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>Runs the built program of <paramref name="project"/> (a folder under the repository's root) with <paramref name="args"/>; returns what it printed.</summary>
    private static string RunBuilt(string project, params string[] args)
    {
        string folder = Path.Combine(TestData.RepoRoot, project);
        string name = Path.GetFileName(project);
        // bin/<configuration>/net10.0/, or a runtime's folder below it (the ONNX serving example is built for its runtime).
        string? dll = Directory.Exists(Path.Combine(folder, "bin", Configuration))
            ? Directory.GetFiles(Path.Combine(folder, "bin", Configuration), name + ".dll", SearchOption.AllDirectories).OrderBy(f => f.Length).FirstOrDefault()
            : null;
        Assert.IsNotNull(dll, $"{project} was not built in {Configuration} (it is a build-order reference of the long tests)");
        string output = Processes.Run(TestData.RepoRoot, "dotnet", new[] { dll }.Concat(args), out int exitCode, throwOnFailure: false);
        Assert.AreEqual(0, exitCode, $"{project} {string.Join(' ', args)} failed:\n{Tail(output)}");
        Console.WriteLine(Tail(output));
        return output;
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : "...\n" + text[^4000..];

    [TestMethod]
    [Timeout(1_200_000, CooperativeCancellation = true)]
    public void The_benchmarks_run_in_their_quick_mode_with_the_python_anchors_where_they_are_installed()
    {
        RunBuilt("bench/Microsoft.ML.AutoClip.Benchmarks", "--quick");
        string results = File.ReadAllText(Path.Combine(Path.GetTempPath(), "autoclip-bench-quick", "RESULTS.md"));
        StringAssert.Contains(results, "## 8. Fit time and memory against the data's size");
        StringAssert.Contains(results, "| 2,000 × 50 |");
        StringAssert.Contains(results, "## 9. One thread against two");
        StringAssert.Contains(results, "| credit | AutoClipNet |");
        StringAssert.Contains(results, "## 10. Packed members: the matrix products alone");
        StringAssert.Contains(results, "| 128 | 256 |");
        // .ci/run installs Debian's python3-xgboost and python3-sklearn when it can; without them the section must say how.
        int exitCode = 1;
        if (File.Exists("/usr/bin/python3"))
        {
            Processes.Run(TestData.RepoRoot, "/usr/bin/python3", new[] { "-c", "import xgboost, sklearn" }, out exitCode, throwOnFailure: false);
        }
        if (exitCode == 0)
        {
            StringAssert.Contains(results, "| XGBoost | HistGradientBoosting |");
            StringAssert.Contains(results, "trained by bench/anchors.py");
        }
        else
        {
            StringAssert.Contains(results, "apt-get install python3-xgboost python3-sklearn");
        }
    }

    [TestMethod]
    [Timeout(1_200_000, CooperativeCancellation = true)]
    public void The_ablation_learning_rate_resolution_and_dropin_studies_run_in_their_quick_mode()
        => RunBuilt("studies/Microsoft.ML.AutoClip.Studies", "ablation", "lr-study", "resolution", "dropin", "--quick");

    [TestMethod]
    [Timeout(1_200_000, CooperativeCancellation = true)]
    public void The_cheaper_fast_variants_set_the_small_data_members()
    {
        // As docs/fast-cheaper.md runs them: small=N sets the members up to 4,000 training rows, steps and cap the epochs.
        RunBuilt("studies/Microsoft.ML.AutoClip.Studies", "ablation", "--quick", "--variants", "effort=Fast|small=4;steps=256;cap=64",
            "--baseline", "effort=Fast", "--output", "fast-cheaper");
        string report = File.ReadAllText(Path.Combine(Path.GetTempPath(), "autoclip-studies", "fast-cheaper-quick.md"));
        StringAssert.Contains(report, "| effort=Fast | 15 |", "five networks on each of the quick mode's three sets");
        StringAssert.Contains(report, "| small=4;steps=256;cap=64 | 12 |", "four networks on each of them");
    }

    [TestMethod]
    [Timeout(1_200_000, CooperativeCancellation = true)]
    public void The_effort_curve_runs_in_its_quick_mode_with_its_figure_and_the_times_against_LightGbm()
    {
        string figure = Path.Combine(Path.GetTempPath(), "autoclip-studies", "figures", "effort-curve.png");
        if (File.Exists(figure))
        {
            File.Delete(figure);
        }
        // As docs/effort.md runs it: Best with its seeds as the yardstick (--baseline), an effort over two seeds, one over one.
        RunBuilt("studies/Microsoft.ML.AutoClip.Studies", "ablation", "--quick", "--variants", "effort=Best|effort=Best;seed=2|effort=Fast|effort=Fast;seed=2|effort=Fastest",
            "--baseline", "effort=Best", "--output", "effort", "--figure");
        string report = File.ReadAllText(Path.Combine(Path.GetTempPath(), "autoclip-studies", "effort-quick.md"));
        StringAssert.Contains(report, "fit time / LightGbm's: median, highest");
        StringAssert.Contains(report, "![Fit time against accuracy](figures/effort-curve.png)");
        StringAssert.Contains(report, "## Where the members kept their best epoch");
        StringAssert.Contains(report, "| effort=Fastest | 3 |", "one network per set at the fastest effort, on the quick mode's three sets");
        StringAssert.Contains(report, "The default is run with 2 seeds", "the baseline's seed rows are Best's");
        StringAssert.Contains(report, "## Variants over several seeds");
        StringAssert.Contains(report, "| effort=Fast | 2 |", "Fast's two seeds averaged; Fastest (one seed) and Best (the yardstick) are not in that table");
        Assert.IsFalse(report.Contains("| effort=Best | 2 |", StringComparison.Ordinal));
        foreach (string task in new[] { "binary", "multiclass", "regression" })
        {
            StringAssert.Contains(report, $"| effort=Fastest | {task} |", task);
        }
        Assert.IsTrue(new FileInfo(figure).Length > 1000, "the curve's figure was written");
    }

    [TestMethod]
    [Timeout(1_200_000, CooperativeCancellation = true)]
    public void The_speech_separation_study_runs_in_its_quick_mode_on_the_committed_sample_for_all_five_objectives()
    {
        string output = RunBuilt("studies/Microsoft.ML.AutoClip.Separation", "study", "--quick");
        string report = File.ReadAllText(Path.Combine(Path.GetTempPath(), "autoclip-separation-quick", "separation-quick.md"));
        foreach (string objective in new[] { "dc", "wkm", "mi", "chimera", "snr" })
        {
            // Each objective trained with AutoClip p = 10 and without clipping, and its row in the summary table.
            Assert.AreEqual(2, output.Split('\n').Count(line => line.StartsWith(objective + " ", StringComparison.Ordinal) && line.Contains("SI-SDRi", StringComparison.Ordinal)), objective);
        }
        foreach (string title in new[] { "L_DC", "L_WKM", "L_MI (", "L_MI+WKM", "L_SNR" })
        {
            StringAssert.Contains(report, $"| {title}", title);
        }
        StringAssert.Contains(report, "L_WKM (whitened k-means): training dynamics");
    }

    [TestMethod]
    [Timeout(1_200_000, CooperativeCancellation = true)]
    public void The_ONNX_example_exports_the_quick_starts_model_and_a_process_with_only_ONNX_Runtime_scores_it()
    {
        RunBuilt("examples/OnnxExport");
        string served = RunBuilt("examples/OnnxServing");
        StringAssert.Contains(served, "diamonds");
    }
}
