using System;
using Microsoft.ML.AutoClip;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// One optimizer step after another on a training module: the forward and backward pass (<see cref="TrainingStep"/>), the clip
/// (AutoClip, a fixed norm or none), the scheduled learning rate, the optimizer's update, and the records of every step: the
/// history the recipe keeps, the exact counts, and every <see cref="Recipe.DiagnosticsInterval"/> steps the paper's step size
/// and local smoothness.
/// </summary>
internal sealed class Optimization : IDisposable
{
    private readonly Recipe _recipe;
    private readonly TrainingModule _module;
    private readonly TrainingStep _step;
    private readonly FlatOptimizer _optimizer;
    private readonly GradientClipping _clipping;
    private readonly ITrainingMonitor _monitor;
    private readonly HistoryRecorder<AutoClipNetTrainingStep> _steps;
    private readonly HistoryRecorder<AutoClipNetDiagnostic> _diagnostics;
    private long _totalSteps = 1;

    // Diagnostics: the weights and gradient of the step before a measured one.
    private Tensor? _previousWeights;
    private Tensor? _previousGradient;

    public Optimization(Recipe recipe, TrainingModule module, TrainingStep step, ITrainingMonitor monitor, AutoClipperState? resume = null)
    {
        _recipe = recipe;
        _module = module;
        _step = step;
        _monitor = monitor;
        _optimizer = FlatOptimizer.Create(recipe.Optimizer, module, recipe.Momentum, recipe.AdamBeta2);
        _clipping = new GradientClipping(recipe.Clipping, recipe.AutoClip, recipe.FixedClipNorm, resume);
        _steps = new HistoryRecorder<AutoClipNetTrainingStep>(recipe.HistoryDetail);
        _diagnostics = new HistoryRecorder<AutoClipNetDiagnostic>(recipe.HistoryDetail);
    }

    /// <summary>Steps taken.</summary>
    public long Steps { get; private set; }

    public long ClippedSteps { get; private set; }

    public long SkippedSteps { get; private set; }

    /// <summary>The current epoch (the steps' records carry it).</summary>
    public int Epoch { get; set; }

    /// <summary>The mean loss of the epoch's steps that were not skipped, and its counts (reset by <see cref="StartEpoch"/>).</summary>
    public (double LossSum, int Steps, int Clipped, int Skipped) EpochTotals { get; private set; }

    /// <summary>AutoClip's threshold after the latest step (NaN without AutoClip).</summary>
    public double Threshold => _clipping.Threshold;

    /// <summary>AutoClip's whole state (null without AutoClip).</summary>
    public AutoClipperState? ClipperState => _clipping.State;

    /// <summary>"AutoClip p = 10", "fixed norm 1", "off".</summary>
    public string DescribeClipping() => _clipping.Describe(_recipe.AutoClip);

    public HistoryRecorder<AutoClipNetTrainingStep> StepRecords => _steps;

    public HistoryRecorder<AutoClipNetDiagnostic> DiagnosticRecords => _diagnostics;

    /// <summary>The steps the learning-rate schedule spreads over (the run's planned steps).</summary>
    public void PlanSteps(long totalSteps) => _totalSteps = totalSteps;

    public void StartEpoch(int epoch)
    {
        Epoch = epoch;
        EpochTotals = default;
    }

    /// <summary>One optimizer step on a batch, inside the batch's dispose scope.</summary>
    public void Step(Batch batch)
    {
        _monitor.CheckAlive();
        long step = ++Steps;
        float lossValue = _step.Step(batch.X, batch.Y, batch.Rows, batch.Weights);

        int interval = _recipe.DiagnosticsInterval;
        bool measure = interval > 0 && step % interval == 0 && _previousWeights is not null;
        bool snapshot = interval > 0 && (step + 1) % interval == 0;
        Tensor? gradient = measure || snapshot ? FlatGradient() : null;

        var clip = _clipping.Clip(_module.Gradients);
        if (measure && !clip.Skipped)
        {
            RecordDiagnostic(step, gradient!, clip.Norm);
        }
        if (snapshot && !clip.Skipped)
        {
            _previousGradient?.Dispose();
            _previousWeights?.Dispose();
            _previousGradient = gradient!.MoveToOuterDisposeScope();
            _previousWeights = FlatWeights().MoveToOuterDisposeScope();
        }
        var totals = EpochTotals;
        if (!clip.Skipped)
        {
            double t = _totalSteps > 0 ? Math.Min(1.0, (double)(step - 1) / _totalSteps) : 0;
            _optimizer.Step(_recipe.LearningRate * Schedules.LearningRateFactor(_recipe.Schedule, t), _recipe.WeightDecay);
            totals.LossSum += lossValue;
        }
        totals.Steps++;
        if (clip.Skipped)
        {
            totals.Skipped++;
            SkippedSteps++;
        }
        if (clip.Scale < 1)
        {
            totals.Clipped++;
            ClippedSteps++;
        }
        EpochTotals = totals;
        _steps.Add(step, new AutoClipNetTrainingStep(Epoch, step, lossValue, clip.Norm, clip.Threshold, clip.Scale, clip.Skipped));
    }

    private Tensor FlatGradient()
    {
        using var noGrad = no_grad();
        return _module.Gradients.to_type(ScalarType.Float64);
    }

    private Tensor FlatWeights()
    {
        using var noGrad = no_grad();
        return _module.Values.to_type(ScalarType.Float64);
    }

    private void RecordDiagnostic(long step, Tensor gradient, double norm)
    {
        var weights = FlatWeights();
        double stepSize = weights.sub(_previousWeights!).norm(2f).item<double>();
        double gradientChange = gradient.sub(_previousGradient!).norm(2f).item<double>();
        if (double.IsNaN(norm))
        {
            norm = gradient.norm(2f).item<double>();
        }
        _diagnostics.Add(step, new AutoClipNetDiagnostic(step, norm, stepSize, stepSize > 0 ? gradientChange / stepSize : double.NaN));
    }

    public void Dispose()
    {
        _previousGradient?.Dispose();
        _previousWeights?.Dispose();
        _optimizer.Dispose();
    }
}
