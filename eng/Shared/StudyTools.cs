using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ScottPlot;

namespace Microsoft.ML.AutoClip.Shared;

/// <summary>What the studies share (compiled into both studies projects): the repository root, Pearson's r, the machine, line figures.</summary>
internal static class StudyTools
{
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Microsoft.ML.AutoClip.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? Environment.CurrentDirectory;
    }

    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double mx = x.Average(), my = y.Average();
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Count; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxy / Math.Sqrt(sxx * syy);
    }

    public static string MachineLine() =>
        $"{CpuModel()}, {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}";

    /// <summary>The processor's model name as Linux reports it (/proc/cpuinfo), e.g. "AMD EPYC"; "unknown CPU" elsewhere.</summary>
    public static string CpuModel() => MachineInfo.CpuModel() ?? "unknown CPU";

    /// <summary>One line per run over the iterations (or over <paramref name="xLabel"/>, with markers of <paramref name="markerSize"/>), saved as an 800 × 450 PNG.</summary>
    public static void SaveLines(string path, string title, string yLabel, IEnumerable<(string Name, double[] X, double[] Y)> series, string xLabel = "iteration", float markerSize = 0)
    {
        var plot = new Plot();
        foreach (var (name, x, y) in series)
        {
            var line = plot.Add.Scatter(x, y);
            line.LegendText = name;
            line.MarkerSize = markerSize;
            line.LineWidth = 1.5f;
        }
        plot.Title(title);
        plot.Axes.Bottom.Label.Text = xLabel;
        plot.Axes.Left.Label.Text = yLabel;
        plot.ShowLegend();
        plot.SavePng(path, 800, 450);
    }
}
