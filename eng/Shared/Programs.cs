using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Microsoft.ML.AutoClip.Shared;

/// <summary>
/// Runs another program and returns what it printed (its standard output, then its standard error): one runner for the
/// tests, the benchmark's Python anchors and the separation study's text-to-speech (compiled into each of them).
/// </summary>
internal static class Programs
{
    /// <summary>
    /// Runs <paramref name="program"/> with <paramref name="arguments"/> (each passed as one argument, no shell quoting),
    /// in <paramref name="directory"/> (default: the current one) with <paramref name="environment"/> added, and waits for it.
    /// </summary>
    public static string Run(string program, IEnumerable<string> arguments, out int exitCode, string? directory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (directory is not null)
        {
            start.WorkingDirectory = directory;
        }
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                start.Environment[key] = value;
            }
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"'{program}' did not start.");
        // Both streams are read at once: a child that fills one pipe while the other is read would otherwise hang.
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        exitCode = process.ExitCode;
        return output + error.Result;
    }

    /// <summary>As <see cref="Run(string, IEnumerable{string}, out int, string?, IReadOnlyDictionary{string, string}?)"/>, and throws with the command and its output when it exits with other than 0.</summary>
    public static string RunOrThrow(string program, IEnumerable<string> arguments, string? directory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var list = new List<string>(arguments);
        string output = Run(program, list, out int exitCode, directory, environment);
        if (exitCode != 0)
        {
            string where = directory is null ? "" : $" in {directory}";
            throw new InvalidOperationException($"'{program} {string.Join(' ', list)}'{where} exited with {exitCode}:\n{output}");
        }
        return output;
    }
}
