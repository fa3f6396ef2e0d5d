using System;
using System.IO;
using System.Linq;

namespace Microsoft.ML.AutoClip.Shared;

/// <summary>What the reports say of the machine they ran on (compiled into the benchmark and the studies).</summary>
internal static class MachineInfo
{
    /// <summary>The processor's model name as Linux reports it (/proc/cpuinfo's "model name", e.g. "AMD EPYC"); null where it cannot be read.</summary>
    public static string? CpuModel()
    {
        try
        {
            string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
