using System;
using System.Linq;
using Microsoft.ML.AutoClipNet;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClip.Tests;

/// <summary>
/// The batch scorer behind Transform: tensors allocated once per cursor, each layer computed in place.
/// It must give what the managed single-row forward gives, for every activation and batch size, and
/// never leak tensors or depend on a caller's dispose scope.
/// </summary>
[TestClass]
public sealed class BatchScorerTests
{
    private const int Inputs = 3;

    private static MultiLayerPerceptron RandomNetwork(AutoClipNetActivation activation, int seed)
    {
        var rng = new Random(seed);
        int[] sizes = { 5, 4, 1 };
        var weights = new float[sizes.Length][];
        var biases = new float[sizes.Length][];
        int fanIn = Inputs;
        for (int l = 0; l < sizes.Length; l++)
        {
            weights[l] = Enumerable.Range(0, sizes[l] * fanIn).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            biases[l] = Enumerable.Range(0, sizes[l]).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            fanIn = sizes[l];
        }
        return new MultiLayerPerceptron(Inputs, activation, weights, biases);
    }

    private static float ManagedForward(MultiLayerPerceptron network, ReadOnlySpan<float> row)
        => network.Forward(row, new float[network.MaxWidth], new float[network.MaxWidth]);

    [TestMethod]
    [DataRow(AutoClipNetActivation.ReLU)]
    [DataRow(AutoClipNetActivation.Tanh)]
    [DataRow(AutoClipNetActivation.Gelu)]
    [DataRow(AutoClipNetActivation.LeakyReLU)]
    public void Every_batch_size_matches_the_managed_forward_even_after_a_larger_batch(AutoClipNetActivation activation)
    {
        using var network = RandomNetwork(activation, seed: (int)activation);
        using var scorer = network.CreateBatchScorer(capacity: 7);
        var rng = new Random(11);
        // Full, partial, single-row, and a partial batch after a full one (the buffers hold the old rows).
        foreach (int rows in new[] { 7, 3, 1, 7, 2 })
        {
            var features = Enumerable.Range(0, rows * Inputs).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();
            features.CopyTo(scorer.Input);
            float[] scores = scorer.Forward(rows).ToArray();
            Assert.HasCount(rows, scores);
            for (int r = 0; r < rows; r++)
            {
                float expected = ManagedForward(network, features.AsSpan(r * Inputs, Inputs));
                // The managed GELU uses an erf approximation good to 1.2e-7; TorchSharp's is exact.
                Assert.AreEqual(expected, scores[r], 1e-5f * (1 + Math.Abs(expected)), $"{activation}, batch of {rows}, row {r}");
            }
        }
    }

    [TestMethod]
    public void A_batch_outside_one_to_capacity_rows_is_refused()
    {
        using var network = RandomNetwork(AutoClipNetActivation.ReLU, seed: 1);
        using var scorer = network.CreateBatchScorer(capacity: 4);
        Assert.AreEqual(4 * Inputs, scorer.Input.Length);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => scorer.Forward(5).ToArray());
        StringAssert.Contains(e.Message, "1 to 4 rows");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => scorer.Forward(0).ToArray());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => network.CreateBatchScorer(0));
    }

    [TestMethod]
    public void Scoring_leaves_no_tensor_alive_and_disposing_frees_the_buffers()
    {
        using var network = RandomNetwork(AutoClipNetActivation.Tanh, seed: 2);
        network.CreateBatchScorer(1).Dispose(); // creates the shared weight tensors, which live with the network
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var scorer = network.CreateBatchScorer(capacity: 16);
        long withScorer = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 50; i++)
        {
            scorer.Forward(1 + i % 16);
        }
        Assert.AreEqual(withScorer, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "a batch must not leave tensors behind");
        scorer.Dispose();
        Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "disposing the scorer frees every tensor it made");
    }

    [TestMethod]
    public void A_Transform_cursor_opened_inside_a_TorchSharp_dispose_scope_outlives_the_scope()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(TestData.SyntheticRows(5000, seed: 4));
        var model = ml.Regression.Trainers.AutoClipNet(TestOptions.QuickOptions(epochs: 2)).Fit(data);

        // The first Transform of this model creates its batch network inside a TorchSharp user's
        // dispose scope: neither that network nor the cursor's buffers may join the scope.
        var scored = model.Transform(data);
        DataViewRowCursor cursor;
        using (NewDisposeScope())
        {
            cursor = scored.GetRowCursor(new[] { scored.Schema["Score"] });
            Assert.IsTrue(cursor.MoveNext());
        }
        var scores = new System.Collections.Generic.List<float>();
        using (cursor)
        {
            var score = cursor.GetGetter<float>(scored.Schema["Score"]);
            do
            {
                float value = 0;
                score(ref value);
                scores.Add(value);
            }
            while (cursor.MoveNext());
        }

        // A new cursor after the scope closed scores the same, and so does the managed single-row path.
        float[] again = model.Transform(data).GetColumn<float>("Score").ToArray();
        CollectionAssert.AreEqual(again, scores);
        var engine = ml.Model.CreatePredictionEngine<TestData.Row, ChildProcess.Score>(model);
        var rows = TestData.SyntheticRows(5000, seed: 4);
        for (int r = 0; r < rows.Length; r += 97)
        {
            float single = engine.Predict(rows[r]).Value;
            Assert.AreEqual(single, scores[r], 1e-5f * (1 + Math.Abs(single)), $"row {r}");
        }
    }
}
