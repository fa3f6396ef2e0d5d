using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;
using Microsoft.ML.AutoClipNet.Tasks;
using Microsoft.ML.AutoClipNet.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// The recipe, resolved once from the options (Training/Recipe.cs): the README's table of options says what it resolves to,
/// the options' documentation points at it instead of restating its numbers, the plan made before the rows are read follows
/// the same rules, and what a run reads of the data path (weights and groups carried with the rows, validation through the
/// training step's forward) holds.
/// </summary>
[TestClass]
public sealed class RecipeTests
{
    private static string Invariant(FormattableString text) => FormattableString.Invariant(text);

    [TestMethod]
    public void The_READMEs_table_of_options_shows_what_the_recipe_resolves_to()
    {
        string readme = File.ReadAllText(Path.Combine(TestData.RepoRoot, "README.md"));
        long manyRows = 1_000_000;
        var real = Recipe.Resolve(new AutoClipNetTrainer.Options(), RegressionTask.Instance, manyRows);
        var mlp = Recipe.Resolve(new AutoClipNetTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp }, RegressionTask.Instance, manyRows);
        var realClassifier = Recipe.Resolve(new AutoClipNetBinaryTrainer.Options(), BinaryTask.Instance, manyRows);
        var realMulticlass = Recipe.Resolve(new AutoClipNetMulticlassTrainer.Options(), MulticlassTask.Instance, manyRows);
        var mlpMulticlass = Recipe.Resolve(new AutoClipNetMulticlassTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp }, MulticlassTask.Instance, manyRows);
        var realBinary = realClassifier;
        Assert.AreEqual(realClassifier.LearningRate, realMulticlass.LearningRate, "the classification rate the table quotes is both classification tasks'");
        string Sizes(int[] sizes) => "{" + string.Join(", ", sizes) + "}";
        string Steps(Recipe r) => Invariant($"about {EffortProfile.Of(r.Effort).StepBudget:N0} steps: {Recipe.MinimumDefaultEpochs} to {EffortProfile.Of(r.Effort).MaxEpochs} epochs");
        string Epochs(Recipe r) => r == real ? Invariant($"{Steps(real)} regression and binary, {Steps(realMulticlass)} multiclass, by data size") : Invariant($"{r.Epochs}");
        Assert.AreEqual(real.Effort, realBinary.Effort, "the table quotes one effort for regression and binary");
        CollectionAssert.AreEqual(real.HiddenLayerSizes, realBinary.HiddenLayerSizes);
        string Selection(Recipe r) => r.EpochSelection == AutoClipNetEpochSelection.ValidationError ? "by validation error" : "by loss";
        var rows = new[]
        {
            Invariant($"| `FeatureScaling` | `{real.FeatureScaling}` | `{mlp.FeatureScaling}` |"),
            Invariant($"| `EmbeddingFrequencies` | {real.EmbeddingFrequencies} | {mlp.EmbeddingFrequencies} |"),
            Invariant($"| `PiecewiseLinearBins` | {real.PiecewiseLinearBins} (off) | {mlp.PiecewiseLinearBins} |"),
            Invariant($"| `HiddenLayerSizes`, `Activation` | {Sizes(real.HiddenLayerSizes)} regression and binary, {Sizes(realMulticlass.HiddenLayerSizes)} multiclass; `{real.Activation}` | {Sizes(mlp.HiddenLayerSizes)}, `{mlp.Activation}` |"),
            Invariant($"| `NumberOfEpochs` | {Epochs(real)} | {Epochs(mlp)} |"),
            Invariant($"| `BatchSize` | {real.BatchSize} (or all rows when fewer) | {mlp.BatchSize} |"),
            Invariant($"| `LearningRate`, `LearningRateSchedule` | {real.LearningRate} regression, {realClassifier.LearningRate} classification; `{real.Schedule}` | {mlp.LearningRate:0.000}, constant |"),
            Invariant($"| `Optimizer`, `Momentum`, `AdamBeta2`, `WeightDecay` | `{real.Optimizer}`, {real.Momentum}, {real.AdamBeta2}, {real.WeightDecay} | `{mlp.Optimizer}`, {mlp.Momentum}, {mlp.AdamBeta2}, {mlp.WeightDecay} |"),
            Invariant($"| `ValidationFraction`, `EpochSelection`, `EarlyStoppingPatience` | {real.ValidationFraction}, {Selection(real)}, {real.EarlyStoppingPatience} (no patience rule) | {mlp.ValidationFraction}, {Selection(mlp)}, {mlp.EarlyStoppingPatience} |"),
            Invariant($"| `CycleEarlyStopping` | {real.CycleEarlyStopping.ToString().ToLowerInvariant()} (stop after the schedule's third cycle if it did not improve on the first two) | {mlp.CycleEarlyStopping.ToString().ToLowerInvariant()} |"),
            Invariant($"| `EnsembleSize` | {Recipe.DefaultEnsembleMembers} up to {Recipe.DefaultEnsembleMaxRows:N0} training rows, else {Recipe.DefaultEnsembleSize(Recipe.DefaultEnsembleMaxRows + 1)} | {mlp.EnsembleSize} |"),
            Invariant($"| `DropLastPartialBatch` | {real.DropLastPartialBatch.ToString().ToLowerInvariant()} | {mlp.DropLastPartialBatch.ToString().ToLowerInvariant()} |"),
            Invariant($"| `StandardizeLabel`, `ClampPredictions` (regression) | {real.StandardizeLabel.ToString().ToLowerInvariant()}, {real.ClampPredictions.ToString().ToLowerInvariant()} | {mlp.StandardizeLabel.ToString().ToLowerInvariant()}, {mlp.ClampPredictions.ToString().ToLowerInvariant()} |"),
            Invariant($"| `PositiveClassWeight`, `CalibrateProbabilities`, `LabelSmoothing` (binary) | {realBinary.PositiveClassWeight}, {realBinary.CalibrateProbabilities.ToString().ToLowerInvariant()}, {realBinary.LabelSmoothing} | |"),
            Invariant($"| `CalibrateProbabilities`, `LabelSmoothing` (multiclass) | {realMulticlass.CalibrateProbabilities.ToString().ToLowerInvariant()}, {realMulticlass.LabelSmoothing} | {mlpMulticlass.CalibrateProbabilities.ToString().ToLowerInvariant()}, {mlpMulticlass.LabelSmoothing} |"),
            Invariant($"| `MissingValues` | `{new AutoClipNetTrainer.Options().MissingValues}` | same |"),
            Invariant($"| `PredictionIntervalCoverage` (regression) | {new AutoClipNetTrainer.Options().PredictionIntervalCoverage} | {new AutoClipNetTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp }.PredictionIntervalCoverage} |"),
            "| `ExampleWeightColumnName` | none |",
            Invariant($"| `NumberOfThreads` | {(real.Threads is null ? "every core" : "?")} | {(mlp.Threads is null ? "same" : "?")} |"),
            Invariant($"| `Effort` | `{real.Effort}` regression and binary, `{realMulticlass.Effort}` multiclass | `{mlp.Effort}` only |"),
            Invariant($"| `MaxRowsInMemory`, `ShufflePoolSize` | {AutoClipNetDefaults.MaxRowsInMemory:N0}, {real.ShufflePoolSize:N0} |"),
        };
        foreach (var effort in Enum.GetValues<AutoClipNetEffort>())
        {
            var p = EffortProfile.Of(effort);
            rows = rows.Append(Invariant($"| `{effort}` | {{{p.Width}, {p.Width}, {p.Width}}} | about {p.StepBudget:N0} steps: {Recipe.MinimumDefaultEpochs} to {p.MaxEpochs} epochs | {p.SmallDataMembers} up to {Recipe.DefaultEnsembleMaxRows:N0} training rows, else 1 |")).ToArray();
        }
        foreach (string row in rows)
        {
            StringAssert.Contains(readme, row, "the README's table of options");
        }
        Assert.AreEqual(Recipe.DefaultBatchSize(100), Recipe.Resolve(new AutoClipNetTrainer.Options(), RegressionTask.Instance, 100).BatchSize, "all rows when fewer");
        Assert.AreEqual(100, Recipe.DefaultBatchSize(100));
    }

    [TestMethod]
    public void The_options_documentation_points_at_the_recipe_instead_of_restating_its_numbers()
    {
        // A nullable option's default is the recipe's; its documentation says so, and quotes no number the recipe could change.
        string source = string.Join("\n", new[] { "AutoClipNetOptionsBase.cs", "AutoClipNetTrainer.cs", "AutoClipNetBinaryTrainer.cs", "AutoClipNetMulticlassTrainer.cs" }
            .Select(f => File.ReadAllText(Path.Combine(TestData.RepoRoot, "src", "Microsoft.ML.AutoClipNet", "Trainers", f))));
        var restated = Regex.Matches(source, @"Default null: [^.<]*\d").Select(m => m.Value).ToArray();
        Assert.IsEmpty(restated, "option docs that restate a recipe number: " + string.Join("; ", restated));
        Assert.IsGreaterThan(15, Regex.Matches(source, @"Default null: the recipe's").Count);
    }

    [TestMethod]
    public void The_plan_made_before_the_rows_are_read_follows_the_recipes_rules()
    {
        foreach (var options in new AutoClipNetOptionsBase[]
        {
            new AutoClipNetTrainer.Options(),
            new AutoClipNetTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp },
            new AutoClipNetTrainer.Options { ValidationFraction = 0.3, EnsembleSize = 1 },
            new AutoClipNetBinaryTrainer.Options { StandardizeFeatures = false, PiecewiseLinearBins = 8 },
            new AutoClipNetMulticlassTrainer.Options { FeatureScaling = AutoClipNetFeatureScaling.Standardize, EnsembleSize = 3 },
            new AutoClipNetTrainer.Options { Effort = AutoClipNetEffort.Fastest },
            new AutoClipNetTrainer.Options { Effort = AutoClipNetEffort.Fastest, EnsembleSize = 2 },
            new AutoClipNetTrainer.Options { Effort = AutoClipNetEffort.Fast },
        })
        {
            var plan = Recipe.Plan(options, RegressionTask.Instance);
            var recipe = Recipe.Resolve(options, RegressionTask.Instance, 500);
            Assert.AreEqual(recipe.ValidationFraction, plan.ValidationFraction);
            Assert.AreEqual(recipe.FeatureScaling == AutoClipNetFeatureScaling.RobustSmoothClip || recipe.PiecewiseLinearBins > 0, plan.SampleQuantiles);
            Assert.IsTrue(plan.MayBeEnsemble || recipe.EnsembleSize == 1, "an ensemble is only resolved where the plan kept the rows' positions");
        }
    }

    [TestMethod]
    public void Each_effort_sets_the_width_the_steps_and_the_ensemble_and_explicit_options_still_win()
    {
        // Small data (1,000 rows, batch 256, 3 steps an epoch) meets the epoch cap; large data (1,000,000 rows) the step budget.
        var small = new Dictionary<AutoClipNetEffort, Recipe>();
        foreach (var effort in Enum.GetValues<AutoClipNetEffort>())
        {
            var s = small[effort] = Recipe.Resolve(new AutoClipNetBinaryTrainer.Options { Effort = effort }, BinaryTask.Instance, 1_000);
            var large = Recipe.Resolve(new AutoClipNetBinaryTrainer.Options { Effort = effort }, BinaryTask.Instance, 1_000_000);
            Assert.AreEqual(effort, s.Effort);
            CollectionAssert.AreEqual(Enumerable.Repeat(EffortProfile.Of(effort).Width, 3).ToArray(), s.HiddenLayerSizes, effort.ToString());
            Assert.AreEqual(Math.Min(EffortProfile.Of(effort).MaxEpochs, (EffortProfile.Of(effort).StepBudget + 2) / 3), s.Epochs, effort + ": small data");
            Assert.AreEqual(Recipe.MinimumDefaultEpochs, large.Epochs, effort + ": a million rows get the fewest epochs at every effort");
            Assert.AreEqual(EffortProfile.Of(effort).SmallDataMembers, s.EnsembleSize, effort + ": small data");
            Assert.AreEqual(1, large.EnsembleSize, effort + ": large data");
            StringAssert.Contains(s.ToString(), $"RealMlp (effort {effort})", "the log names the effort");
        }
        // Unset, the effort is the task's: Fast for regression and binary, Best for multiclass; Mlp's recipe records Best and ignores it.
        Assert.AreEqual(AutoClipNetEffort.Fast, Recipe.Resolve(new AutoClipNetTrainer.Options(), RegressionTask.Instance, 1_000).Effort);
        var binary = Recipe.Resolve(new AutoClipNetBinaryTrainer.Options(), BinaryTask.Instance, 1_000);
        Assert.AreEqual(AutoClipNetEffort.Fast, binary.Effort);
        CollectionAssert.AreEqual(small[AutoClipNetEffort.Fast].HiddenLayerSizes, binary.HiddenLayerSizes, "the binary default is the Fast recipe");
        Assert.AreEqual(small[AutoClipNetEffort.Fast].Epochs, binary.Epochs);
        Assert.AreEqual(small[AutoClipNetEffort.Fast].EnsembleSize, binary.EnsembleSize);
        var multiclass = Recipe.Resolve(new AutoClipNetMulticlassTrainer.Options(), MulticlassTask.Instance, 1_000);
        Assert.AreEqual(AutoClipNetEffort.Best, multiclass.Effort);
        Assert.AreEqual(256, multiclass.HiddenLayerSizes[0]);
        Assert.AreEqual(256, multiclass.Epochs);
        Assert.AreEqual(5, multiclass.EnsembleSize);
        Assert.AreEqual(AutoClipNetEffort.Best, Recipe.Resolve(new AutoClipNetTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp }, RegressionTask.Instance, 1_000).Effort);
        new AutoClipNetTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp, Effort = AutoClipNetEffort.Best }.Validate();
        // Every step down costs less: fewer or equal epochs, widths and members, one of them fewer.
        var order = new[] { AutoClipNetEffort.Best, AutoClipNetEffort.Balanced, AutoClipNetEffort.Fast, AutoClipNetEffort.Fastest };
        for (int i = 1; i < order.Length; i++)
        {
            var (more, less) = (small[order[i - 1]], small[order[i]]);
            long Work(Recipe r) => (long)r.Epochs * r.EnsembleSize * r.HiddenLayerSizes[0] * r.HiddenLayerSizes[0];
            Assert.IsLessThan(Work(more), Work(less), $"{order[i]} does less work than {order[i - 1]}");
        }
        // An option set explicitly wins over the effort's default.
        var mine = Recipe.Resolve(new AutoClipNetTrainer.Options { Effort = AutoClipNetEffort.Fastest, HiddenLayerSizes = new[] { 32 }, NumberOfEpochs = 9, EnsembleSize = 3 },
            RegressionTask.Instance, 1_000);
        CollectionAssert.AreEqual(new[] { 32 }, mine.HiddenLayerSizes);
        Assert.AreEqual(9, mine.Epochs);
        Assert.AreEqual(3, mine.EnsembleSize);
        // The previous network has its own defaults: an effort other than Best is refused, by name.
        var refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            new AutoClipNetTrainer.Options { Architecture = AutoClipNetArchitecture.Mlp, Effort = AutoClipNetEffort.Fast }.Validate());
        StringAssert.Contains(refused.Message, "AutoClipNetTrainer.Options.Effort");
        StringAssert.Contains(refused.Message, "Fast");
        var undefined = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new AutoClipNetTrainer.Options { Effort = (AutoClipNetEffort)9 }.Validate());
        StringAssert.Contains(undefined.Message, "null, Fastest, Fast, Balanced or Best");
    }

    [TestMethod]
    public void The_fastest_effort_trains_one_narrow_network_and_says_so_in_the_log()
    {
        var ml = new MLContext(seed: 0);
        var log = new List<string>();
        ml.Log += (_, e) =>
        {
            lock (log)
            {
                log.Add(e.Message);
            }
        };
        var data = TestData.Featurized(ml, BundledData.BreastCancerSet, 300);
        var model = ml.BinaryClassification.Trainers.AutoClipNet(new AutoClipNetBinaryTrainer.Options { Effort = AutoClipNetEffort.Fastest, Seed = 1, CycleEarlyStopping = false }).Fit(data);
        var parameters = model.Model.SubModel;
        Assert.AreEqual(1, parameters.EnsembleSize);
        var dense = parameters.NetworkLayers.Where(l => l.Kind == AutoClipNetLayerKind.Dense).ToArray();
        CollectionAssert.AreEqual(new[] { 128, 128, 128, 1 }, dense.Select(l => l.OutputSize).ToArray());
        Assert.AreEqual(EffortProfile.Of(AutoClipNetEffort.Fastest).MaxEpochs, parameters.TrainingHistory.Epochs.Count, "240 rows: one step an epoch, the effort's epoch cap (every epoch run: no cycle stop)");
        Assert.IsTrue(log.Any(m => m.Contains("Recipe: RealMlp (effort Fastest)", StringComparison.Ordinal)), "the log's recipe names the effort");
        var auc = ml.BinaryClassification.Evaluate(model.Transform(data)).AreaUnderRocCurve;
        Assert.IsGreaterThan(0.9, auc, "a narrow network still learns breast cancer's training rows");
    }

    [TestMethod]
    public void NumberOfThreads_sets_a_single_networks_LibTorch_threads_while_it_trains_and_sets_them_back()
    {
        var ml = new MLContext(seed: 0);
        var seen = new List<int>();
        ml.Log += (_, e) =>
        {
            if (e.RawMessage.StartsWith("Epoch ", StringComparison.Ordinal))
            {
                seen.Add(get_num_threads()); // the log is written on the training thread, between epochs
            }
        };
        var data = TestData.Featurized(ml, BundledData.CarsSet, 200);
        int before = get_num_threads();
        using var model = ml.Regression.Trainers.AutoClipNet(new AutoClipNetTrainer.Options
        {
            NumberOfThreads = 1, EnsembleSize = 1, NumberOfEpochs = 3, HiddenLayerSizes = new[] { 16 }, Seed = 1,
        }).Fit(data);
        Assert.IsNotEmpty(seen, "the epochs were logged");
        Assert.IsTrue(seen.All(t => t == 1), "LibTorch threads while training: " + string.Join(", ", seen));
        Assert.AreEqual(before, get_num_threads(), "the caller's thread count is set back");
        var refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new AutoClipNetTrainer.Options { NumberOfThreads = 0 }.Validate());
        StringAssert.Contains(refused.Message, "AutoClipNetTrainer.Options.NumberOfThreads must be null (every core) or at least 1, but was 0");
    }

    [TestMethod]
    public void Piecewise_linear_encodings_train_under_standardization_too()
    {
        // The encodings' bins come from the statistics' quantile sample, which the plan now keeps whenever encodings are asked for
        // (before the renovation only robust scaling kept it, and this combination failed: "These statistics keep no sample").
        var ml = new MLContext(seed: 0);
        var data = TestData.Featurized(ml, BundledData.BreastCancerSet, 300);
        var model = ml.BinaryClassification.Trainers.AutoClipNet(new AutoClipNetBinaryTrainer.Options
        {
            FeatureScaling = AutoClipNetFeatureScaling.Standardize, PiecewiseLinearBins = 8, EnsembleSize = 1, NumberOfEpochs = 2, HiddenLayerSizes = new[] { 8 }, Seed = 1,
        }).Fit(data);
        var layers = model.Model.SubModel.NetworkLayers;
        Assert.AreEqual(AutoClipNetFeatureScaling.Standardize, model.Model.SubModel.FeatureScaling);
        Assert.IsTrue(layers.Any(l => l.Kind == AutoClipNetLayerKind.PiecewiseLinear), string.Join(" → ", layers));
    }

    /// <summary>Rows with weights and groups, from memory, as a source that a test can read again and again.</summary>
    private sealed class WeightedSource : IRowSource
    {
        private readonly int _rows;

        public WeightedSource(int rows) => _rows = rows;

        public int FeatureCount => 3;

        public bool HasWeights => true;

        public bool HasGroups => true;

        public static float Weight(long position) => 0.5f + position % 7;

        public static long Group(long position) => 1000 + position / 4;

        public long ForEachRow(RowAction action)
        {
            Span<float> features = stackalloc float[3];
            for (int i = 0; i < _rows; i++)
            {
                features[0] = i;
                features[1] = i % 5;
                features[2] = -i;
                action(new Row(features, i % 3, i, Weight(i), Group(i)));
            }
            return 0;
        }
    }

    [TestMethod]
    [DataRow(1_000_000, DisplayName = "packed")]
    [DataRow(10, DisplayName = "streamed")]
    public void Every_row_keeps_its_weight_and_group_through_hold_out_members_and_streaming(int maxRowsInMemory)
    {
        var set = TrainingSet.Read(new WeightedSource(200), new TrainingSetOptions(maxRowsInMemory, 0.2, Seed: 3, ClassCount: 0, SampleQuantiles: false, KeepPositions: true), "test rows");
        Assert.AreEqual(maxRowsInMemory > 200, set.IsPacked);
        Assert.IsTrue(set.HasWeights && set.HasGroups);
        for (int member = 0; member < 3; member++)
        {
            var view = set.ForMember(member, 3);
            var seen = new List<long>();
            void Check(in Row row)
            {
                long position = (long)row.Features[0]; // the row's position in the source, whatever index it was given
                Assert.AreEqual(WeightedSource.Weight(position), row.Weight, $"member {member}: the weight of row {position}");
                Assert.AreEqual(WeightedSource.Group(position), row.Group, $"member {member}: the group of row {position}");
                Assert.AreEqual(position % 3, row.Label);
                seen.Add(position);
            }
            view.ForEachTrainingRow(Check);
            long training = seen.Count;
            view.ForEachValidationRow(Check);
            Assert.AreEqual(view.TrainingRows, training);
            CollectionAssert.AreEquivalent(Enumerable.Range(0, 200).Select(i => (long)i).ToArray(), seen.ToArray(), "every row once, held out or trained on");
        }
    }

    [TestMethod]
    public void A_batch_carries_the_weights_of_its_rows_in_the_shuffled_order()
    {
        var set = TrainingSet.Read(new WeightedSource(50), new TrainingSetOptions(1_000_000, 0, Seed: 3, ClassCount: 0, SampleQuantiles: false), "test rows");
        var recipe = Recipe.Resolve(new AutoClipNetTrainer.Options { BatchSize = 16, DropLastPartialBatch = false, NumberOfEpochs = 1 }, RegressionTask.Instance, set.TrainingRows);
        using var objective = new RegressionObjective(0, 1);
        using var feeder = new BatchFeeder(set, objective, recipe, seed: 9);
        var positions = new List<long>();
        // The weights are rescaled to mean 1 over the training rows: the loss keeps the scale of unweighted training.
        double weightSum = Enumerable.Range(0, 50).Sum(i => (double)WeightedSource.Weight(i));
        float scale = (float)(50 / weightSum);
        Assert.AreEqual(weightSum, set.Label.WeightSum, 1e-9);
        int batches = feeder.RunEpoch(batch =>
        {
            Assert.IsNotNull(batch.Weights);
            var x = batch.X.data<float>().ToArray();
            var w = batch.Weights!.data<float>().ToArray();
            for (int r = 0; r < batch.Rows; r++)
            {
                long position = (long)x[r * 3];
                Assert.AreEqual(WeightedSource.Weight(position) * scale, w[r], $"row {position}");
                positions.Add(position);
            }
        });
        Assert.AreEqual(4, batches, "three full batches of 16 and the last 2 rows");
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 50).Select(i => (long)i).ToArray(), positions.ToArray());
        CollectionAssert.AreNotEqual(Enumerable.Range(0, 50).Select(i => (long)i).ToArray(), positions.ToArray(), "shuffled");
    }

    [TestMethod]
    public void Validation_through_the_training_steps_forward_gives_the_reference_loss_to_float_rounding()
    {
        // Validation scores with the training step's forward (the arithmetic training uses) rather than autograd's: the losses
        // move at float rounding (Model.key bytes did not change for any configuration; the history's validation losses did, by
        // about 1e-8 relative). Here both against the reference forward in double precision.
        var random = new Random(2);
        var set = TrainingSet.Read(new WeightedSource(300), new TrainingSetOptions(1_000_000, 0.3, Seed: 5, ClassCount: 0, SampleQuantiles: true), "test rows");
        var recipe = Recipe.Resolve(new AutoClipNetTrainer.Options { HiddenLayerSizes = new[] { 16 }, EmbeddingFrequencies = 4, EnsembleSize = 1 }, RegressionTask.Instance, set.TrainingRows);
        using var network = NetworkBuilder.Build(recipe with { OutputInit = DenseInit.NtkNormal }, set.Features, 1, random);
        using var objective = new RegressionObjective(1, 2);
        using var module = new TrainingModule(network);
        using var validator = new Validator(new ValidationRows(set, null), objective, module, set.FeatureCount);
        var (loss, error) = validator.Run(new NoMonitor());

        // The rows carry weights: the validation loss is Σ w·e² / Σ w.
        double sum = 0, weights = 0;
        long count = 0;
        set.ForEachValidationRow((in Row row) =>
        {
            using var scope = NewDisposeScope();
            float output = ReferenceForward.Network(network, tensor(row.Features.ToArray()).view(1, 3)).item<float>();
            double e = output - objective.Target(row.Label);
            sum += row.Weight * e * e;
            weights += row.Weight;
            count++;
        });
        Assert.AreEqual(set.ValidationRows, count);
        Assert.AreEqual(sum / weights, loss, 1e-6 * (sum / weights));
        Assert.AreEqual(loss, error, "regression's validation error is its mean squared error");
    }

    private sealed class NoMonitor : ITrainingMonitor
    {
        public void Info(string message)
        {
        }

        public void Warning(string message)
        {
        }

        public void CheckAlive()
        {
        }
    }
}
