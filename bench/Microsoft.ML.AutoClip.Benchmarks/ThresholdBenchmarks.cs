using System;
using System.Collections.Generic;
using BenchmarkDotNet.Attributes;

namespace Microsoft.ML.AutoClip.Benchmarks;

/// <summary>
/// Target 1: the threshold bookkeeping of one step, AutoClipper.Observe against the reference
/// algorithm, once the history already holds HistorySize norms (unbounded history).
/// </summary>
public class ThresholdBenchmarks
{
    public const int AutoClipOperations = 1000;
    public const int ReferenceOperations = 5;

    public static IEnumerable<int> Sizes => Run.Quick ? new[] { 1_000 } : new[] { 1_000, 10_000, 100_000, 1_000_000 };

    [ParamsSource(nameof(Sizes))]
    public int HistorySize;

    private double[] _norms = Array.Empty<double>();
    private AutoClipper _clipper = null!;
    private ReferenceAutoClip _reference = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        // Log-normal norms, like real gradient norms; extra ones for the measured steps.
        _norms = new double[HistorySize + AutoClipOperations];
        for (int i = 0; i < _norms.Length; i++)
        {
            _norms[i] = Math.Exp(rng.NextDouble() * 4 - 2);
        }
    }

    [IterationSetup(Target = nameof(AutoClip))]
    public void FillAutoClip()
    {
        _clipper = new AutoClipper();
        for (int i = 0; i < HistorySize; i++)
        {
            _clipper.Observe(_norms[i]);
        }
    }

    [IterationSetup(Target = nameof(Reference))]
    public void FillReference()
    {
        _reference = new ReferenceAutoClip(10);
        for (int i = 0; i < HistorySize; i++)
        {
            _reference.Observe(_norms[i], skipPercentile: true);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = ReferenceOperations)]
    public double Reference()
    {
        double sum = 0;
        for (int i = 0; i < ReferenceOperations; i++)
        {
            sum += _reference.Observe(_norms[HistorySize + i]);
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = AutoClipOperations)]
    public double AutoClip()
    {
        double sum = 0;
        for (int i = 0; i < AutoClipOperations; i++)
        {
            sum += _clipper.Observe(_norms[HistorySize + i]);
        }
        return sum;
    }
}

/// <summary>
/// Target 1, windowed: AutoClipper.Observe with a window, after a million steps of training,
/// against the reference algorithm over the same window.
/// </summary>
public class WindowedThresholdBenchmarks
{
    public const int Operations = 1000;
    public const int ReferenceOperations = 50;

    public static IEnumerable<int> Windows => Run.Quick ? new[] { 1_000 } : new[] { 1_000, 10_000 };

    public static int TrainingSteps => Run.Quick ? 20_000 : 1_000_000;

    [ParamsSource(nameof(Windows))]
    public int Window;

    private double[] _norms = Array.Empty<double>();
    private AutoClipper _clipper = null!;
    private ReferenceAutoClip _reference = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        _norms = new double[TrainingSteps];
        for (int i = 0; i < _norms.Length; i++)
        {
            _norms[i] = Math.Exp(rng.NextDouble() * 4 - 2);
        }
        _clipper = new AutoClipper(new AutoClipOptions { HistoryWindow = Window });
        foreach (double norm in _norms)
        {
            _clipper.Observe(norm);
        }
        _reference = new ReferenceAutoClip(10, Window);
        for (int i = 0; i < Window; i++)
        {
            _reference.Observe(_norms[i], skipPercentile: true);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = ReferenceOperations)]
    public double Reference()
    {
        double sum = 0;
        for (int i = 0; i < ReferenceOperations; i++)
        {
            sum += _reference.Observe(_norms[_next++ % _norms.Length]);
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public double AutoClip()
    {
        double sum = 0;
        for (int i = 0; i < Operations; i++)
        {
            sum += _clipper.Observe(_norms[_next++ % _norms.Length]);
        }
        return sum;
    }
}
