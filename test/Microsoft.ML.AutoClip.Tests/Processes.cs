using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>Runs a program for the tests that need another process, and returns what it printed.</summary>
internal static class Processes
{
    public static string Run(string directory, string file, IEnumerable<string> args, out int exitCode, bool throwOnFailure = true)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
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
}
