// This one file is compiled twice:
//  * into Microsoft.ML.AutoClip (with AUTOCLIP_LIBRARY defined), where the runtime loader uses
//    GlibcxxVersionFix to prepare TorchSharp for hosts that have no build step (notebooks);
//  * by MSBuild's RoslynCodeTaskFactory (TorchSharpNativeFix.targets), where the task at the end of
//    the file patches the copy of libLibTorchSharp.so in every output and publish folder.
// It must therefore compile against netstandard2.0 with C# 7.3-era features only.
//
// The problem (measured on Debian 12, GCC 12 runtime): TorchSharp 0.107's libLibTorchSharp.so was
// linked against GCC 13's libstdc++ and declares that it needs the symbol version GLIBCXX_3.4.32,
// which libstdc++ only defines from GCC 13 on. The only symbol bound to that version is
// std::ios_base_library_init, which GCC 13's <iostream> references to force linking; nothing calls it.
// glibc's loader refuses the library because the version is missing, unless the requirement is
// flagged VER_FLG_WEAK, in which case a missing version is reported but not fatal.
//
// The fix sets VER_FLG_WEAK on that one requirement (a 2-byte field in .gnu.version_r), and only
// when the system's libstdc++ really lacks the version. Nothing else in the file changes.

#nullable disable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Microsoft.ML.AutoClip.NativeFix
{
    /// <summary>What <see cref="GlibcxxVersionFix.Analyze"/> found about one ELF file.</summary>
    internal enum GlibcxxFixVerdict
    {
        /// <summary>Not a 64-bit little-endian ELF file, or it needs nothing from libstdc++.</summary>
        NotApplicable,

        /// <summary>Every libstdc++ version the file needs is defined by the system library (or is already weak).</summary>
        NotNeeded,

        /// <summary>Only weakenable versions are missing: patching makes the file loadable.</summary>
        Patchable,

        /// <summary>A missing version is not one that is known to be safe to weaken: patching cannot help.</summary>
        Unfixable,
    }

    /// <summary>The result of analysing (and possibly patching) one ELF image.</summary>
    internal sealed class GlibcxxFixReport
    {
        public GlibcxxFixVerdict Verdict { get; set; }

        /// <summary>Versions required from libstdc++ that the system library does not define.</summary>
        public List<string> MissingVersions { get; } = new List<string>();

        /// <summary>File offsets of the vna_flags fields that were (or would be) set weak.</summary>
        public List<long> PatchOffsets { get; } = new List<long>();

        public string Describe()
        {
            switch (Verdict)
            {
                case GlibcxxFixVerdict.NotApplicable: return "not a 64-bit little-endian ELF file that needs libstdc++";
                case GlibcxxFixVerdict.NotNeeded: return "the system libstdc++ defines every version it needs";
                case GlibcxxFixVerdict.Patchable: return "marked weak: " + string.Join(", ", MissingVersions);
                default: return "the system libstdc++ lacks " + string.Join(", ", MissingVersions) + ", which cannot be made weak safely";
            }
        }
    }

    /// <summary>Reads ELF version tables and weakens the harmless GLIBCXX_3.4.32 requirement.</summary>
    internal static class GlibcxxVersionFix
    {
        /// <summary>The file name of the library whose requirement is weakened.</summary>
        public const string LibStdCxx = "libstdc++.so.6";

        /// <summary>Versions whose requirement is known to bind only symbols that are never called.</summary>
        public static readonly string[] WeakenableVersions = { "GLIBCXX_3.4.32" };

        private const uint ShtGnuVerdef = 0x6ffffffd;
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlgWeak = 0x2;

        private static readonly string[] LibraryDirectories =
        {
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64", "/lib64", "/usr/lib", "/lib",
        };

        /// <summary>
        /// Finds the libstdc++.so.6 that the dynamic loader would use: LD_LIBRARY_PATH first, then the
        /// usual system folders. Returns null when there is none (then nothing is patched).
        /// </summary>
        public static string FindSystemLibStdCxx()
        {
            var dirs = new List<string>();
            var ldPath = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
            if (!string.IsNullOrEmpty(ldPath))
            {
                dirs.AddRange(ldPath.Split(new[] { ':' }, StringSplitOptions.RemoveEmptyEntries));
            }
            dirs.AddRange(LibraryDirectories);
            foreach (var dir in dirs)
            {
                var candidate = Path.Combine(dir, LibStdCxx);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
            return null;
        }

        /// <summary>The symbol versions an ELF shared library defines (its .gnu.version_d names).</summary>
        public static HashSet<string> ReadDefinedVersions(byte[] image)
        {
            var result = new HashSet<string>(StringComparer.Ordinal);
            var elf = ElfView.TryOpen(image);
            if (elf == null)
            {
                return result;
            }
            foreach (var section in elf.Sections(ShtGnuVerdef))
            {
                long strtab = elf.SectionOffset(section.Link);
                long entry = section.Offset;
                for (uint i = 0; i < section.Info; i++)
                {
                    ushort auxCount = elf.U16(entry + 6);
                    long aux = entry + elf.U32(entry + 12);
                    for (int a = 0; a < auxCount; a++)
                    {
                        result.Add(elf.CString(strtab + elf.U32(aux)));
                        uint auxNext = elf.U32(aux + 4);
                        if (auxNext == 0) break;
                        aux += auxNext;
                    }
                    uint next = elf.U32(entry + 16);
                    if (next == 0) break;
                    entry += next;
                }
            }
            return result;
        }

        /// <summary>
        /// Compares what <paramref name="image"/> needs from libstdc++ with what the system library
        /// defines and, when <paramref name="apply"/> is true and the verdict is
        /// <see cref="GlibcxxFixVerdict.Patchable"/>, sets VER_FLG_WEAK in place.
        /// </summary>
        public static GlibcxxFixReport Analyze(byte[] image, ICollection<string> systemVersions, bool apply)
        {
            var report = new GlibcxxFixReport { Verdict = GlibcxxFixVerdict.NotApplicable };
            var elf = ElfView.TryOpen(image);
            if (elf == null)
            {
                return report;
            }
            bool needsLibStdCxx = false;
            bool unfixable = false;
            foreach (var section in elf.Sections(ShtGnuVerneed))
            {
                long strtab = elf.SectionOffset(section.Link);
                long entry = section.Offset;
                for (uint i = 0; i < section.Info; i++)
                {
                    ushort auxCount = elf.U16(entry + 2);
                    string file = elf.CString(strtab + elf.U32(entry + 4));
                    long aux = entry + elf.U32(entry + 8);
                    for (int a = 0; a < auxCount && file == LibStdCxx; a++)
                    {
                        needsLibStdCxx = true;
                        ushort flags = elf.U16(aux + 4);
                        string name = elf.CString(strtab + elf.U32(aux + 8));
                        if ((flags & VerFlgWeak) == 0 && !systemVersions.Contains(name))
                        {
                            report.MissingVersions.Add(name);
                            if (Array.IndexOf(WeakenableVersions, name) >= 0)
                            {
                                report.PatchOffsets.Add(aux + 4);
                            }
                            else
                            {
                                unfixable = true;
                            }
                        }
                        uint auxNext = elf.U32(aux + 12);
                        if (auxNext == 0) break;
                        aux += auxNext;
                    }
                    uint next = elf.U32(entry + 12);
                    if (next == 0) break;
                    entry += next;
                }
            }

            if (!needsLibStdCxx)
            {
                return report;
            }
            if (unfixable)
            {
                report.Verdict = GlibcxxFixVerdict.Unfixable;
                return report;
            }
            if (report.MissingVersions.Count == 0)
            {
                report.Verdict = GlibcxxFixVerdict.NotNeeded;
                return report;
            }
            report.Verdict = GlibcxxFixVerdict.Patchable;
            if (apply)
            {
                foreach (long offset in report.PatchOffsets)
                {
                    elf.SetU16(offset, (ushort)(elf.U16(offset) | VerFlgWeak));
                }
            }
            return report;
        }

        /// <summary>
        /// Patches the file at <paramref name="path"/> when needed. The new content is written to a
        /// temporary file beside it and moved over it, so a hard link into the NuGet cache is replaced,
        /// never written through, and a failure leaves the original untouched. The file's timestamp is
        /// kept so that incremental copies still see it as up to date.
        /// </summary>
        public static GlibcxxFixReport PatchFile(string path, ICollection<string> systemVersions)
        {
            byte[] image = File.ReadAllBytes(path);
            var report = Analyze(image, systemVersions, apply: true);
            if (report.Verdict != GlibcxxFixVerdict.Patchable)
            {
                return report;
            }
            var info = new FileInfo(path);
            DateTime lastWrite = info.LastWriteTimeUtc;
            string temp = path + ".autoclip-" + Guid.NewGuid().ToString("N") + ".tmp";
            try
            {
                File.WriteAllBytes(temp, image);
                File.SetLastWriteTimeUtc(temp, lastWrite);
                // A rename: the directory entry is replaced, the old inode (maybe the cache's) is untouched.
                File.Replace(temp, path, null);
            }
            finally
            {
                if (File.Exists(temp))
                {
                    File.Delete(temp);
                }
            }
            return report;
        }

        /// <summary>A minimal reader of 64-bit little-endian ELF section headers.</summary>
        private sealed class ElfView
        {
            private readonly byte[] _image;
            private readonly long _shoff;
            private readonly int _shentsize;
            private readonly int _shnum;

            private ElfView(byte[] image, long shoff, int shentsize, int shnum)
            {
                _image = image;
                _shoff = shoff;
                _shentsize = shentsize;
                _shnum = shnum;
            }

            public static ElfView TryOpen(byte[] image)
            {
                if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
                {
                    return null;
                }
                if (image[4] != 2 || image[5] != 1)
                {
                    return null; // only ELFCLASS64, ELFDATA2LSB
                }
                var probe = new ElfView(image, 0, 0, 0);
                long shoff = (long)probe.U64(0x28);
                int shentsize = probe.U16(0x3A);
                int shnum = probe.U16(0x3C);
                if (shentsize < 64 || shoff <= 0 || shoff + (long)shentsize * shnum > image.Length)
                {
                    return null;
                }
                return new ElfView(image, shoff, shentsize, shnum);
            }

            public struct Section
            {
                public long Offset;
                public uint Link;
                public uint Info;
            }

            public IEnumerable<Section> Sections(uint type)
            {
                for (int i = 0; i < _shnum; i++)
                {
                    long header = _shoff + (long)i * _shentsize;
                    if (U32(header + 4) == type)
                    {
                        yield return new Section { Offset = (long)U64(header + 24), Link = U32(header + 40), Info = U32(header + 44) };
                    }
                }
            }

            public long SectionOffset(uint index)
            {
                if (index >= _shnum)
                {
                    throw new InvalidDataException("ELF section link " + index + " is out of range.");
                }
                return (long)U64(_shoff + (long)index * _shentsize + 24);
            }

            public ushort U16(long at)
            {
                Check(at, 2);
                return (ushort)(_image[at] | (_image[at + 1] << 8));
            }

            public uint U32(long at)
            {
                Check(at, 4);
                return (uint)(_image[at] | (_image[at + 1] << 8) | (_image[at + 2] << 16) | (_image[at + 3] << 24));
            }

            public ulong U64(long at)
            {
                return U32(at) | ((ulong)U32(at + 4) << 32);
            }

            public void SetU16(long at, ushort value)
            {
                Check(at, 2);
                _image[at] = (byte)value;
                _image[at + 1] = (byte)(value >> 8);
            }

            public string CString(long at)
            {
                Check(at, 1);
                long end = at;
                while (end < _image.Length && _image[end] != 0)
                {
                    end++;
                }
                return Encoding.ASCII.GetString(_image, (int)at, (int)(end - at));
            }

            private void Check(long at, int size)
            {
                if (at < 0 || at + size > _image.Length)
                {
                    throw new InvalidDataException("ELF structure points outside the file (offset " + at + ").");
                }
            }
        }
    }

#if !AUTOCLIP_LIBRARY
    /// <summary>
    /// MSBuild task: weakens the GLIBCXX_3.4.32 requirement of each given libLibTorchSharp.so when the
    /// system libstdc++ lacks that version. Does nothing on systems that have it.
    /// </summary>
    public sealed class AutoClipPatchLibTorchSharp : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; }

        public override bool Execute()
        {
            string system = GlibcxxVersionFix.FindSystemLibStdCxx();
            if (system == null)
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "AutoClip: no system libstdc++.so.6 found; libLibTorchSharp.so left as is.");
                return true;
            }
            var defined = GlibcxxVersionFix.ReadDefinedVersions(File.ReadAllBytes(system));
            foreach (var item in Files)
            {
                string path = item.GetMetadata("FullPath");
                if (!File.Exists(path))
                {
                    continue;
                }
                try
                {
                    var report = GlibcxxVersionFix.PatchFile(path, defined);
                    var importance = report.Verdict == GlibcxxFixVerdict.Patchable
                        ? Microsoft.Build.Framework.MessageImportance.Normal
                        : Microsoft.Build.Framework.MessageImportance.Low;
                    if (report.Verdict == GlibcxxFixVerdict.Unfixable)
                    {
                        Log.LogWarning("AutoClip: " + path + ": " + report.Describe() + " (system library: " + system + "). TorchSharp will not load on this system.");
                    }
                    else
                    {
                        Log.LogMessage(importance, "AutoClip: " + path + ": " + report.Describe() + ".");
                    }
                }
                catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException || ex is InvalidDataException)
                {
                    Log.LogError("AutoClip: could not patch " + path + " for this system's libstdc++: " + ex.Message);
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
