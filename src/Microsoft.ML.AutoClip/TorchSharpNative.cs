using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.ML.AutoClip.NativeFix;

namespace Microsoft.ML.AutoClip;

/// <summary>
/// Makes TorchSharp 0.107's native library loadable on Linux systems whose libstdc++ predates GCC 13
/// (Debian 12, Ubuntu 22.04) when no build step could fix it: notebooks and scripts that load
/// TorchSharp straight from the NuGet cache. Applications built with this package's MSBuild targets
/// are fixed at build time and need none of this; on other systems it does nothing.
/// </summary>
/// <remarks>
/// The library declares that it needs the symbol version GLIBCXX_3.4.32, which binds only a symbol
/// that is never called. When the system libstdc++ lacks that version, a copy of the library with
/// that one requirement marked weak is written under the user's cache folder (never into the NuGet
/// cache), next to links to its LibTorch siblings, and loaded before TorchSharp's first call, so that
/// TorchSharp's own load by name finds it. AutoClip calls this itself before it first touches a tensor.
/// </remarks>
public static class TorchSharpNative
{
    private static readonly object Gate = new();
    private static string? _outcome;

    /// <summary>What <see cref="EnsureLoadable"/> found or did (null before it ran).</summary>
    public static string? Outcome => _outcome;

    /// <summary>
    /// Prepares TorchSharp's native library for this system if it needs it (see the type's remarks).
    /// Call it before the first TorchSharp call of the process; later calls return at once. Never throws:
    /// if nothing can be done, TorchSharp reports its own error on first use.
    /// </summary>
    public static void EnsureLoadable()
    {
        if (_outcome is not null)
        {
            return;
        }
        lock (Gate)
        {
            if (_outcome is not null)
            {
                return;
            }
            try
            {
                _outcome = Prepare(TorchSharpAssemblyDirectory(), AppContext.BaseDirectory, CacheRoot(), load: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or DllNotFoundException or BadImageFormatException)
            {
                _outcome = "not fixed: " + e.Message;
            }
        }
    }

    private static string TorchSharpAssemblyDirectory()
        => Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location) ?? AppContext.BaseDirectory;

    private static string CacheRoot()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string root = !string.IsNullOrEmpty(xdg) ? xdg : !string.IsNullOrEmpty(home) ? Path.Combine(home, ".cache") : Path.GetTempPath();
        return Path.Combine(root, "Microsoft.ML.AutoClip");
    }

    /// <summary>
    /// The work of <see cref="EnsureLoadable"/>, with its inputs explicit for tests: finds the
    /// libLibTorchSharp.so TorchSharp would load (the app folder first, then the NuGet package layout
    /// beside TorchSharp.dll), and, if it needs the fix, writes the patched copy under
    /// <paramref name="cacheRoot"/> and (when <paramref name="load"/>) loads it.
    /// </summary>
    internal static string Prepare(string torchSharpDirectory, string appDirectory, string cacheRoot, bool load)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "not needed: not Linux";
        }
        string? library = FindLibTorchSharp(torchSharpDirectory, appDirectory);
        if (library is null)
        {
            return "not found: no libLibTorchSharp.so in the app folder or the NuGet package layout";
        }
        string? system = GlibcxxVersionFix.FindSystemLibStdCxx();
        if (system is null)
        {
            return "not needed: no system libstdc++.so.6";
        }
        var defined = GlibcxxVersionFix.ReadDefinedVersions(File.ReadAllBytes(system));
        byte[] image = File.ReadAllBytes(library);
        var report = GlibcxxVersionFix.Analyze(image, defined, apply: true);
        if (report.Verdict != GlibcxxFixVerdict.Patchable)
        {
            return $"{report.Describe()} ({library})";
        }

        // One folder per distinct library content and LibTorch folder, so that neither different TorchSharp versions nor two apps
        // with LibTorch in different places collide: the copy loads the LibTorch its folder links to, and a process that also
        // loaded another folder's libtorch_cpu.so (TorchSharp loads the app's own) would hold two copies of LibTorch and abort.
        var siblings = FindLibTorchDirectory(Path.GetDirectoryName(library)!, torchSharpDirectory);
        string hash = Convert.ToHexString(SHA256.HashData(image)).Substring(0, 16).ToLowerInvariant();
        string place = siblings is null ? "none" : Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(siblings))).Substring(0, 8).ToLowerInvariant();
        string folder = Path.Combine(cacheRoot, $"libtorchsharp-{hash}-{place}");
        Directory.CreateDirectory(folder);
        string patched = Path.Combine(folder, "libLibTorchSharp.so");
        if (!File.Exists(patched) || !File.ReadAllBytes(patched).AsSpan().SequenceEqual(image))
        {
            string temp = patched + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllBytes(temp, image);
            File.Move(temp, patched, overwrite: true);
        }

        // The copy finds libtorch.so, libc10.so and libtorch_cpu.so through its RUNPATH ($ORIGIN): link them in.
        if (siblings is not null)
        {
            foreach (string file in Directory.GetFiles(siblings, "*.so*"))
            {
                string name = Path.GetFileName(file);
                if (name == "libLibTorchSharp.so")
                {
                    continue;
                }
                string link = Path.Combine(folder, name);
                if (!File.Exists(link))
                {
                    try
                    {
                        File.CreateSymbolicLink(link, file);
                    }
                    catch (IOException) when (File.Exists(link))
                    {
                        // Another process made it first.
                    }
                }
            }
        }
        if (load)
        {
            NativeLibrary.Load(patched);
        }
        return $"fixed: loaded {patched} ({report.Describe()}; original {library})";
    }

    /// <summary>The copy TorchSharp loads: the app's runtimes folder or base folder, else the NuGet package of TorchSharp.dll.</summary>
    internal static string? FindLibTorchSharp(string torchSharpDirectory, string appDirectory)
    {
        string rid = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        var candidates = new[]
        {
            Path.Combine(appDirectory, "runtimes", rid, "native", "libLibTorchSharp.so"),
            Path.Combine(appDirectory, "libLibTorchSharp.so"),
            Path.Combine(torchSharpDirectory, "libLibTorchSharp.so"),
            // NuGet layout: torchsharp/<version>/lib/<tfm>/TorchSharp.dll and torchsharp/<version>/runtimes/<rid>/native/.
            Path.GetFullPath(Path.Combine(torchSharpDirectory, "..", "..", "runtimes", rid, "native", "libLibTorchSharp.so")),
        };
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>Where libtorch.so is: beside libLibTorchSharp.so in an app folder, else the libtorch-cpu-&lt;rid&gt; package next to torchsharp in the NuGet cache.</summary>
    private static string? FindLibTorchDirectory(string libTorchSharpDirectory, string torchSharpDirectory)
    {
        if (File.Exists(Path.Combine(libTorchSharpDirectory, "libtorch.so")))
        {
            return libTorchSharpDirectory;
        }
        string rid = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        string root = Path.GetFullPath(Path.Combine(torchSharpDirectory, "..", "..", "..", "..", "libtorch-cpu-" + rid));
        if (!Directory.Exists(root))
        {
            return null;
        }
        // The newest version by number (2.10.0 above 2.9.0, which an ordinal sort would invert).
        return Directory.GetDirectories(root)
            .Where(version => File.Exists(Path.Combine(version, "runtimes", rid, "native", "libtorch.so")))
            .OrderByDescending(version => Version.TryParse(Path.GetFileName(version).Split('-')[0], out var v) ? v : new Version(0, 0))
            .ThenByDescending(version => version, StringComparer.Ordinal)
            .Select(version => Path.Combine(version, "runtimes", rid, "native"))
            .FirstOrDefault();
    }
}
