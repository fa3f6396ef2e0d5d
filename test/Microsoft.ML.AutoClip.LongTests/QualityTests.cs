using System;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Default AutoClipNet against what users would otherwise pick, on whole bundled data sets with held-out rows: clearly ahead
/// of Sdca on diamonds, ahead of logistic regression on spam, far ahead of maximum entropy on letter. Minutes of training,
/// hence in the long tests (the benchmark, bench/RESULTS.md, compares every trainer on every bundled set).
/// </summary>
[TestClass]
public sealed class QualityTests
{
    private static (IDataView Train, IDataView Test) Split(MLContext ml, BundledDataSet set) => TestData.SplitFeaturized(ml, set);

    [TestMethod]
    public void Default_options_beat_LbfgsLogisticRegression_on_held_out_AUC()
    {
        var ml = new MLContext(seed: 0);
        var (train, test) = Split(ml, BundledData.SpamSet);
        var ours = ml.BinaryClassification.Evaluate(ml.BinaryClassification.Trainers.AutoClipNet().Fit(train).Transform(test));
        var lbfgs = ml.Transforms.NormalizeMinMax("Features").Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression()).Fit(train);
        var theirs = ml.BinaryClassification.Evaluate(lbfgs.Transform(test));
        Console.WriteLine($"spam, held-out: AutoClipNet AUC {ours.AreaUnderRocCurve:F4}, log-loss {ours.LogLoss:F4}, F1 {ours.F1Score:F4}; " +
            $"LbfgsLogisticRegression AUC {theirs.AreaUnderRocCurve:F4}, log-loss {theirs.LogLoss:F4}, F1 {theirs.F1Score:F4}");
        Assert.IsGreaterThan(theirs.AreaUnderRocCurve, ours.AreaUnderRocCurve);
        Assert.IsLessThan(theirs.LogLoss, ours.LogLoss);
    }

    [TestMethod]
    public void Default_options_beat_LbfgsMaximumEntropy_on_letter_by_a_clear_margin()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.Cache(BundledData.Load(ml, BundledData.LetterSet));
        var featurized = ml.Data.Cache(BundledData.Featurizer(ml, BundledData.LetterSet).Fit(data).Transform(data));
        var split = ml.Data.TrainTestSplit(featurized, testFraction: 0.25, seed: 1);
        var ours = ml.MulticlassClassification.Evaluate(ml.MulticlassClassification.Trainers.AutoClipNet().Fit(split.TrainSet).Transform(split.TestSet));
        var maxEnt = ml.Transforms.NormalizeMinMax("Features").Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy()).Fit(split.TrainSet);
        var theirs = ml.MulticlassClassification.Evaluate(maxEnt.Transform(split.TestSet));
        Console.WriteLine($"letter, held-out: AutoClipNet micro accuracy {ours.MicroAccuracy:F4}, macro {ours.MacroAccuracy:F4}, log-loss {ours.LogLoss:F4}; " +
            $"LbfgsMaximumEntropy micro {theirs.MicroAccuracy:F4}, macro {theirs.MacroAccuracy:F4}, log-loss {theirs.LogLoss:F4}");
        Assert.IsGreaterThan(theirs.MicroAccuracy + 0.1, ours.MicroAccuracy);
        Assert.IsLessThan(theirs.LogLoss, ours.LogLoss);
    }

    [TestMethod]
    public void Default_options_beat_Sdca_clearly_on_held_out_diamonds()
    {
        var ml = new MLContext(seed: 0);
        var split = ml.Data.TrainTestSplit(TestData.Diamonds(ml), testFraction: 0.2, seed: 1);
        var featurize = TestData.DiamondsFeaturizer(ml);

        var autoClipNet = featurize.Append(ml.Regression.Trainers.AutoClipNet()).Fit(split.TrainSet);
        var sdca = featurize.Append(ml.Transforms.NormalizeMinMax("Features")).Append(ml.Regression.Trainers.Sdca()).Fit(split.TrainSet);

        var ours = ml.Regression.Evaluate(autoClipNet.Transform(split.TestSet));
        var theirs = ml.Regression.Evaluate(sdca.Transform(split.TestSet));
        Console.WriteLine($"held-out R² AutoClipNet {ours.RSquared:F4} (RMSE {ours.RootMeanSquaredError:F0}), Sdca {theirs.RSquared:F4} (RMSE {theirs.RootMeanSquaredError:F0})");
        Assert.IsGreaterThan(0.95, ours.RSquared);
        Assert.IsGreaterThan(theirs.RSquared + 0.04, ours.RSquared, "AutoClipNet must beat Sdca by a clear margin");
        Assert.IsLessThan(0.8 * theirs.RootMeanSquaredError, ours.RootMeanSquaredError);
    }
}
