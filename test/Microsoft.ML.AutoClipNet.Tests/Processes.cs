using System;
using System.Collections.Generic;
using System.Diagnostics;
using Microsoft.ML.AutoClip.Shared;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>Runs a program for the tests that need another process, and returns what it printed.</summary>
internal static class Processes
{
    public static string Run(string directory, string file, IEnumerable<string> args, out int exitCode, bool throwOnFailure = true,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        if (throwOnFailure)
        {
            exitCode = 0;
            return Programs.RunOrThrow(file, args, directory, environment);
        }
        return Programs.Run(file, args, out exitCode, directory, environment);
    }

    public static string Run(string directory, string file, params string[] args) => Run(directory, file, args, out _);

    /// <summary>Starts this test assembly in "burn" mode: every core busy for <paramref name="seconds"/>.</summary>
    public static Process StartBurner(double seconds)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = AppContext.BaseDirectory, UseShellExecute = false, RedirectStandardOutput = true };
        start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        start.ArgumentList.Add("burn");
        start.ArgumentList.Add(seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return Process.Start(start)!;
    }
}
