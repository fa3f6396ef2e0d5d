using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>Bad training data gets a clear error naming the column, the row and what was expected.</summary>
[TestClass]
public sealed class AutoClipNetBadInputTests
{
    private static readonly MLContext Ml = new(seed: 0);

    private static Exception FitFails<T>(IEnumerable<T> rows, AutoClipNet.AutoClipNetTrainer.Options? options = null) where T : class
        => FitFails(Ml.Data.LoadFromEnumerable(rows), options);

    private static Exception FitFails(IDataView data, AutoClipNet.AutoClipNetTrainer.Options? options = null)
    {
        var trainer = Ml.Regression.Trainers.AutoClipNet(options ?? TestOptions.QuickOptions(epochs: 1));
        try
        {
            trainer.Fit(data);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return e;
        }
        Assert.Fail("Fit should have failed.");
        return null!;
    }

    private sealed class DoubleLabel
    {
        public double Label { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = new float[3];
    }

    private sealed class VariableFeatures
    {
        public float Label { get; set; }

        public float[] Features { get; set; } = new float[3];
    }

    private sealed class IntFeatures
    {
        public float Label { get; set; }

        [VectorType(3)]
        public int[] Features { get; set; } = new int[3];
    }

    private sealed class ScalarFeature
    {
        public float Label { get; set; }

        public float Features { get; set; }
    }

    private sealed class OtherNames
    {
        public float Price { get; set; }

        [VectorType(3)]
        public float[] Inputs { get; set; } = new float[3];
    }

    [TestMethod]
    public void Missing_columns_are_named()
    {
        var data = Ml.Data.LoadFromEnumerable(new[] { new OtherNames() });
        StringAssert.Contains(FitFails(data).Message, "'Features'");
        var renamed = new AutoClipNet.AutoClipNetTrainer.Options { FeatureColumnName = "Inputs", NumberOfEpochs = 1 };
        StringAssert.Contains(FitFails(data, renamed).Message, "'Label'");
        var both = new AutoClipNet.AutoClipNetTrainer.Options { FeatureColumnName = "Inputs", LabelColumnName = "Price", NumberOfEpochs = 1 };
        Assert.IsNotNull(Ml.Regression.Trainers.AutoClipNet(both).Fit(Ml.Data.LoadFromEnumerable(Enumerable.Range(0, 10).Select(i => new OtherNames { Price = i, Inputs = new float[] { i, 1, 2 } }))));
    }

    [TestMethod]
    public void Wrongly_typed_columns_say_what_was_expected()
    {
        var label = FitFails(new[] { new DoubleLabel() });
        StringAssert.Contains(label.Message, "label column 'Label'");
        StringAssert.Contains(label.Message, "Double");

        var variable = FitFails(new[] { new VariableFeatures() });
        StringAssert.Contains(variable.Message, "Features");
        StringAssert.Contains(variable.Message, "Vector<Single>");

        var ints = FitFails(new[] { new IntFeatures() });
        StringAssert.Contains(ints.Message, "Features");

        var scalar = FitFails(new[] { new ScalarFeature() });
        StringAssert.Contains(scalar.Message, "Features");
    }

    [TestMethod]
    public void NaN_and_infinite_values_name_the_row_and_column_or_are_dropped_and_counted()
    {
        var rows = TestData.SyntheticRows(200);
        rows[17].Features[1] = float.NaN;
        rows[42].Label = float.PositiveInfinity;
        rows[99].Features[2] = float.NegativeInfinity;

        var feature = FitFails(rows);
        StringAssert.Contains(feature.Message, "Row 17 of the training data");
        StringAssert.Contains(feature.Message, "column 'Features', slot 1, is NaN");
        StringAssert.Contains(feature.Message, "DropNonFiniteRows");

        rows[17].Features[1] = 0.5f;
        var label = FitFails(rows);
        StringAssert.Contains(label.Message, "Row 42");
        StringAssert.Contains(label.Message, "column 'Label' is Infinity");

        var options = TestOptions.QuickOptions(epochs: 2);
        options.DropNonFiniteRows = true;
        var model = Ml.Regression.Trainers.AutoClipNet(options).Fit(Ml.Data.LoadFromEnumerable(rows));
        Assert.AreEqual(2, model.Model.TrainingHistory.DroppedRows);
        Assert.AreEqual(198, model.Model.TrainingHistory.TrainingRows);
        Assert.IsTrue(model.Model.GetWeights(0).All(float.IsFinite));
    }

    [TestMethod]
    public void Empty_data_is_refused()
    {
        var empty = FitFails(Array.Empty<TestData.Row>());
        StringAssert.Contains(empty.Message, "The training data has no rows");

        var rows = TestData.SyntheticRows(3);
        foreach (var row in rows)
        {
            row.Label = float.NaN;
        }
        var options = TestOptions.QuickOptions(epochs: 1);
        options.DropNonFiniteRows = true;
        var allDropped = FitFails(rows, options);
        StringAssert.Contains(allDropped.Message, "Every one of the 3 rows");
    }

    [TestMethod]
    public void A_validation_set_of_another_width_is_refused()
    {
        var trainer = Ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 1));
        var train = Ml.Data.LoadFromEnumerable(TestData.SyntheticRows(50));
        var validation = Ml.Data.LoadFromEnumerable(new[] { new OtherNames() });
        var e = Assert.Throws<Exception>(() => trainer.Fit(train, validation));
        StringAssert.Contains(e.Message, "Features");
    }

    [TestMethod]
    public void A_tiny_data_set_trains_without_dividing_by_zero()
    {
        // One row, constant features: the standard deviations are zero and must not produce NaN.
        var rows = new[] { new TestData.Row { Label = 3, Features = new float[] { 1, 1, 1 } } };
        var model = Ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 5)).Fit(Ml.Data.LoadFromEnumerable(rows));
        float score = Ml.Data.CreateEnumerable<ChildProcess.Score>(model.Transform(Ml.Data.LoadFromEnumerable(rows)), false).Single().Value;
        Assert.IsTrue(float.IsFinite(score));
    }
}
