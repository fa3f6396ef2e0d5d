using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>Runs a program for the tests that need another process, and returns what it printed.</summary>
internal static class Processes
{
    public static string Run(string directory, string file, IEnumerable<string> args, out int exitCode, bool throwOnFailure = true,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                start.Environment[key] = value;
            }
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd() + error.Result;
        process.WaitForExit();
        exitCode = process.ExitCode;
        if (throwOnFailure && exitCode != 0)
        {
            throw new InvalidOperationException($"'{file} {string.Join(' ', args)}' in {directory} exited with {exitCode}:\n{output}");
        }
        return output;
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
