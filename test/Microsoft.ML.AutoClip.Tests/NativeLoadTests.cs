using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.ML.AutoClip.NativeFix;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>Proves that the build-time fix for TorchSharp's native library works on this machine.</summary>
[TestClass]
public sealed class NativeLoadTests
{
    private static string OutputCopy => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    private static string CacheCopy
    {
        get
        {
            string root = typeof(NativeLoadTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .Single(a => a.Key == "NuGetPackageRoot").Value!;
            return Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        }
    }

    /// <summary>
    /// A stand-in for Debian 12's libstdc++: every version the library requires except GLIBCXX_3.4.32.
    /// </summary>
    private static string[] VersionsWithout3432(byte[] library)
        => GlibcxxVersionFix.Analyze((byte[])library.Clone(), Array.Empty<string>(), apply: false)
            .MissingVersions.Where(v => v != "GLIBCXX_3.4.32").ToArray();

    private static bool SystemLacksGlibcxx3432()
    {
        string? system = GlibcxxVersionFix.FindSystemLibStdCxx();
        return system is not null && !GlibcxxVersionFix.ReadDefinedVersions(File.ReadAllBytes(system)).Contains("GLIBCXX_3.4.32");
    }

    [TestMethod]
    public void The_loaded_native_library_trains_a_network()
    {
        // Forward, backward, an optimizer step and clip_grad_norm_ all go through libLibTorchSharp.so.
        manual_seed(0);
        using var model = nn.Linear(3, 1);
        using var optimizer = optim.SGD(model.parameters(), 0.1);
        using var x = tensor(new float[] { 0.1f, 0.2f, 0.3f, 0.4f, -0.5f, 0.6f }, 2, 3);
        using var y = tensor(new float[] { 1, -1 }, 2, 1);
        float before = 0;
        for (int i = 0; i < 300; i++)
        {
            optimizer.zero_grad();
            using var loss = nn.functional.mse_loss(model.call(x), y);
            if (i == 0) before = loss.item<float>();
            loss.backward();
            nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            optimizer.step();
        }
        using var final = nn.functional.mse_loss(model.call(x), y);
        Assert.IsLessThan(before / 10, final.item<float>());
        StringAssert.StartsWith(torch.__version__, "2.10.0");
    }

    [TestMethod]
    public void The_output_copy_is_patched_exactly_when_the_system_needs_it_and_the_cache_is_untouched()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            Assert.Inconclusive("The native fix concerns linux-x64 only.");
        }
        byte[] output = File.ReadAllBytes(OutputCopy);
        byte[] cache = File.ReadAllBytes(CacheCopy);
        Assert.AreEqual(cache.Length, output.Length);

        // The cache copy still has the strong requirement: analysing it against a libstdc++ without the version says "patchable".
        var withoutVersion = VersionsWithout3432(cache);
        var cacheReport = GlibcxxVersionFix.Analyze((byte[])cache.Clone(), withoutVersion, apply: false);
        Assert.AreEqual(GlibcxxFixVerdict.Patchable, cacheReport.Verdict);
        CollectionAssert.AreEqual(new[] { "GLIBCXX_3.4.32" }, cacheReport.MissingVersions);

        int[] differences = Enumerable.Range(0, cache.Length).Where(i => cache[i] != output[i]).ToArray();
        if (SystemLacksGlibcxx3432())
        {
            // Only the flags field of that one requirement differs, by the VER_FLG_WEAK bit.
            long flags = cacheReport.PatchOffsets.Single();
            CollectionAssert.AreEqual(new[] { (int)flags }, differences);
            Assert.AreEqual(cache[flags] | 0x2, output[flags]);
            Assert.AreEqual(GlibcxxFixVerdict.NotNeeded, GlibcxxVersionFix.Analyze(output, withoutVersion, apply: false).Verdict);
        }
        else
        {
            Assert.IsEmpty(differences, "nothing may change where the fix is not needed");
        }
    }

    [TestMethod]
    public void The_fix_changes_nothing_where_the_system_has_the_version_and_refuses_unknown_gaps()
    {
        if (!File.Exists(CacheCopy))
        {
            Assert.Inconclusive("TorchSharp's linux-x64 native library is not in the package cache.");
        }
        byte[] original = File.ReadAllBytes(CacheCopy);
        string[] all = VersionsWithout3432(original).Append("GLIBCXX_3.4.32").ToArray();
        byte[] image = (byte[])original.Clone();
        Assert.AreEqual(GlibcxxFixVerdict.NotNeeded, GlibcxxVersionFix.Analyze(image, all, apply: true).Verdict);
        CollectionAssert.AreEqual(original, image);

        // With GLIBCXX_3.4.30 missing too, weakening would not help: nothing is patched.
        image = (byte[])original.Clone();
        var gap = GlibcxxVersionFix.Analyze(image, all.Where(v => v != "GLIBCXX_3.4.30").ToArray(), apply: true);
        Assert.AreEqual(GlibcxxFixVerdict.Unfixable, gap.Verdict);
        CollectionAssert.Contains(gap.MissingVersions, "GLIBCXX_3.4.30");
        CollectionAssert.AreEqual(original, image);

        // Not an ELF file at all.
        Assert.AreEqual(GlibcxxFixVerdict.NotApplicable, GlibcxxVersionFix.Analyze(new byte[100], all, apply: true).Verdict);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int link(string oldPath, string newPath);

    [TestMethod]
    public void Patching_never_writes_through_a_hard_link_and_keeps_the_timestamp()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(CacheCopy))
        {
            Assert.Inconclusive("Needs Linux and TorchSharp's linux-x64 native library in the package cache.");
        }
        string dir = Directory.CreateTempSubdirectory("autoclip-elf").FullName;
        try
        {
            // "cache" and "output" are two names of one file, as when MSBuild hard-links outputs to the NuGet cache.
            string cache = Path.Combine(dir, "cache.so");
            string output = Path.Combine(dir, "libLibTorchSharp.so");
            File.Copy(CacheCopy, cache);
            Assert.AreEqual(0, link(cache, output), "could not create the hard link");
            var stamp = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
            File.SetLastWriteTimeUtc(output, stamp);
            byte[] original = File.ReadAllBytes(cache);
            var debian12 = VersionsWithout3432(original).ToHashSet();

            var report = GlibcxxVersionFix.PatchFile(output, debian12);

            Assert.AreEqual(GlibcxxFixVerdict.Patchable, report.Verdict);
            CollectionAssert.AreEqual(original, File.ReadAllBytes(cache), "the linked cache file was written through");
            Assert.AreEqual(GlibcxxFixVerdict.NotNeeded, GlibcxxVersionFix.Analyze(File.ReadAllBytes(output), debian12, apply: false).Verdict);
            Assert.AreEqual(stamp, File.GetLastWriteTimeUtc(output));
            Assert.HasCount(2, Directory.GetFiles(dir), "no temporary file is left behind");

            // Idempotent: a second run finds nothing to do.
            Assert.AreEqual(GlibcxxFixVerdict.NotNeeded, GlibcxxVersionFix.PatchFile(output, debian12).Verdict);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A NuGet cache layout under <paramref name="packages"/>: TorchSharp's folder, its native folder with the cached library, and LibTorch's with stand-ins.</summary>
    private static (string TorchSharp, string Native, string LibTorch) PackageLayout(string packages)
    {
        string torchSharp = Directory.CreateDirectory(Path.Combine(packages, "torchsharp", "0.107.0", "lib", "net8.0")).FullName;
        string native = Directory.CreateDirectory(Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native")).FullName;
        string libtorch = Directory.CreateDirectory(Path.Combine(packages, "libtorch-cpu-linux-x64", "2.10.0", "runtimes", "linux-x64", "native")).FullName;
        File.Copy(CacheCopy, Path.Combine(native, "libLibTorchSharp.so"));
        File.WriteAllText(Path.Combine(libtorch, "libtorch.so"), "stand-in");
        File.WriteAllText(Path.Combine(libtorch, "libc10.so"), "stand-in");
        return (torchSharp, native, libtorch);
    }

    [TestMethod]
    public void Without_a_build_step_the_runtime_path_patches_a_copy_outside_the_package_cache()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64 || !File.Exists(CacheCopy))
        {
            Assert.Inconclusive("Needs linux-x64 and TorchSharp's native library in the package cache.");
        }
        string root = Directory.CreateTempSubdirectory("autoclip-runtime-fix").FullName;
        try
        {
            // A NuGet cache layout, as a notebook kernel sees it, and an app folder without natives.
            var (torchSharp, native, libtorch) = PackageLayout(Path.Combine(root, "packages"));
            string app = Directory.CreateDirectory(Path.Combine(root, "app")).FullName;
            string cache = Path.Combine(root, "cache");
            byte[] original = File.ReadAllBytes(Path.Combine(native, "libLibTorchSharp.so"));

            string outcome = TorchSharpNative.Prepare(torchSharp, app, cache, load: false);

            CollectionAssert.AreEqual(original, File.ReadAllBytes(Path.Combine(native, "libLibTorchSharp.so")), "the package's copy must not change");
            if (SystemLacksGlibcxx3432())
            {
                StringAssert.StartsWith(outcome, "fixed: loaded " + cache);
                string folder = Directory.GetDirectories(cache).Single();
                byte[] patched = File.ReadAllBytes(Path.Combine(folder, "libLibTorchSharp.so"));
                Assert.AreEqual(GlibcxxFixVerdict.NotNeeded, GlibcxxVersionFix.Analyze(patched, VersionsWithout3432(original), apply: false).Verdict);
                Assert.AreEqual(Path.Combine(libtorch, "libtorch.so"), new FileInfo(Path.Combine(folder, "libtorch.so")).LinkTarget);
                Assert.AreEqual(Path.Combine(libtorch, "libc10.so"), new FileInfo(Path.Combine(folder, "libc10.so")).LinkTarget);
                // A second run reuses the same folder.
                StringAssert.StartsWith(TorchSharpNative.Prepare(torchSharp, app, cache, load: false), "fixed: loaded " + cache);
                Assert.HasCount(1, Directory.GetDirectories(cache));

                // The same library with LibTorch elsewhere (another package cache, another app) gets a folder of its own: links
                // into the first one's LibTorch would load a second copy of LibTorch beside the one TorchSharp loads, and abort.
                var (otherTorchSharp, _, otherLibtorch) = PackageLayout(Path.Combine(root, "other-packages"));
                // An older LibTorch beside it: 2.10.0 is newer than 2.9.0, which an ordinal sort would put first.
                string older = Directory.CreateDirectory(Path.Combine(root, "other-packages", "libtorch-cpu-linux-x64", "2.9.0", "runtimes", "linux-x64", "native")).FullName;
                File.WriteAllText(Path.Combine(older, "libtorch.so"), "stand-in");
                StringAssert.StartsWith(TorchSharpNative.Prepare(otherTorchSharp, app, cache, load: false), "fixed: loaded " + cache);
                string otherFolder = Directory.GetDirectories(cache).Single(d => d != folder);
                Assert.AreEqual(Path.Combine(otherLibtorch, "libtorch.so"), new FileInfo(Path.Combine(otherFolder, "libtorch.so")).LinkTarget);
                Assert.AreEqual(Path.Combine(libtorch, "libtorch.so"), new FileInfo(Path.Combine(folder, "libtorch.so")).LinkTarget, "the first folder's links stay");
            }
            else
            {
                StringAssert.Contains(outcome, "defines every version");
                Assert.IsFalse(Directory.Exists(cache));
            }

            // An app folder with an already fixed copy takes precedence and needs nothing.
            string appNative = Directory.CreateDirectory(Path.Combine(app, "runtimes", "linux-x64", "native")).FullName;
            File.Copy(OutputCopy, Path.Combine(appNative, "libLibTorchSharp.so"));
            StringAssert.Contains(TorchSharpNative.Prepare(torchSharp, app, cache, load: false), "defines every version");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [TestMethod]
    public void In_this_test_host_the_build_time_fix_left_the_runtime_path_nothing_to_do()
    {
        TorchSharpNative.EnsureLoadable();
        Assert.IsNotNull(TorchSharpNative.Outcome);
        Assert.IsFalse(TorchSharpNative.Outcome!.StartsWith("fixed", StringComparison.Ordinal), TorchSharpNative.Outcome);
    }
}
