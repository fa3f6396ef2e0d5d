using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.Data.Sqlite;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Training straight from a database table (SQLite, through ML.NET's DatabaseLoader), as a user with more rows than
/// memory would: past MaxRowsInMemory the trainer streams the rows by running the query again at every pass.
/// </summary>
[TestClass]
public sealed class DatabaseTests
{
    private static string _directory = "";

    [ClassInitialize]
    public static void CreateDirectory(TestContext _)
    {
        _directory = Path.Combine(Path.GetTempPath(), "autoclipnet-sqlite-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(_directory);
    }

    [ClassCleanup]
    public static void DeleteDirectory()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>The flights table: the first <paramref name="rows"/> rows of data/flights-200k.csv.</summary>
    private static string FlightsTable(int rows)
    {
        string path = Path.Combine(_directory, $"flights-{rows}.db");
        if (File.Exists(path))
        {
            return path;
        }
        using var connection = new SqliteConnection($"Data Source={path}");
        connection.Open();
        using (var create = connection.CreateCommand())
        {
            create.CommandText = "CREATE TABLE flights (Delay REAL, Distance REAL, Time REAL)";
            create.ExecuteNonQuery();
        }
        using var transaction = connection.BeginTransaction();
        using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO flights VALUES ($delay, $distance, $time)";
        var parameters = new[] { "$delay", "$distance", "$time" }.Select(name => insert.Parameters.Add(name, SqliteType.Real)).ToArray();
        foreach (string line in File.ReadLines(TestData.PathOf("flights-200k.csv")).Skip(1).Take(rows))
        {
            var fields = line.Split(',');
            for (int i = 0; i < 3; i++)
            {
                parameters[i].Value = double.Parse(fields[i], CultureInfo.InvariantCulture);
            }
            insert.ExecuteNonQuery();
        }
        transaction.Commit();
        return path;
    }

    public sealed class Flight
    {
        public float Delay { get; set; }

        public float Distance { get; set; }

        public float Time { get; set; }
    }

    /// <summary>SqliteFactory, counting the connections DatabaseLoader opens (one per pass over the rows).</summary>
    private sealed class CountingFactory : DbProviderFactory
    {
        private int _connections;

        public int Connections => _connections;

        public override DbConnection CreateConnection()
        {
            Interlocked.Increment(ref _connections);
            return SqliteFactory.Instance.CreateConnection();
        }

        public override DbCommand CreateCommand() => SqliteFactory.Instance.CreateCommand();

        public override DbParameter CreateParameter() => SqliteFactory.Instance.CreateParameter();
    }

    private static IDataView Query(MLContext ml, string database, DbProviderFactory factory)
        => ml.Data.CreateDatabaseLoader<Flight>().Load(new DatabaseSource(factory, $"Data Source={database}", "SELECT Delay, Distance, Time FROM flights"));

    private static EstimatorChain<AutoClipNetPredictionTransformer> Pipeline(MLContext ml, int maxRowsInMemory, int epochs = 3, int batchSize = 64)
    {
        var options = TestOptions.Quick(new AutoClipNetTrainer.Options { LabelColumnName = "Delay", MaxRowsInMemory = maxRowsInMemory, ShufflePoolSize = 2_000 }, epochs: epochs);
        options.BatchSize = batchSize;
        return ml.Transforms.Concatenate("Features", "Distance", "Time").Append(ml.Regression.Trainers.AutoClipNet(options));
    }

    [TestMethod]
    public void A_SQLite_table_larger_than_MaxRowsInMemory_is_streamed_query_by_query_into_the_model_the_same_rows_train_from_memory()
    {
        string database = FlightsTable(30_000);
        var ml = new MLContext(seed: 0);
        var messages = new ConcurrentQueue<string>();
        ml.Log += (_, e) =>
        {
            if (e.Source.Contains("AutoClipNet", StringComparison.Ordinal))
            {
                messages.Enqueue(e.RawMessage);
            }
        };
        var factory = new CountingFactory();
        var fromDatabase = Pipeline(ml, maxRowsInMemory: 5_000).Fit(Query(ml, database, factory));

        var history = fromDatabase.LastTransformer.Model.TrainingHistory;
        Assert.AreEqual(30_000, history.TrainingRows + history.ValidationRows);
        Assert.HasCount(3, history.Epochs);
        Assert.IsTrue(messages.Any(m => m.Contains("streamed", StringComparison.Ordinal)), "the log says the rows were streamed:\n" + string.Join("\n", messages));
        // Every pass over the rows (the statistics, then each epoch's training and validation rows) runs the query again.
        Assert.IsGreaterThanOrEqualTo(1 + 3, factory.Connections, $"{factory.Connections} queries");

        // The same rows read from memory, in the same order, with the same options train the same model.
        var rows = ml.Data.CreateEnumerable<Flight>(Query(ml, database, SqliteFactory.Instance), reuseRowObject: false).ToList();
        var inMemory = Pipeline(ml, maxRowsInMemory: 5_000).Fit(ml.Data.LoadFromEnumerable(rows));
        var test = ml.Data.LoadFromEnumerable(rows.Take(2_000));
        CollectionAssert.AreEqual(Outputs.Bytes(inMemory.Transform(test), new[] { "Score" }), Outputs.Bytes(fromDatabase.Transform(test), new[] { "Score" }));

        // And the model learnt something: flight delays are hard to predict from distance and time, but not impossible.
        var metrics = ml.Regression.Evaluate(fromDatabase.Transform(Query(ml, FlightsTable(40_000), SqliteFactory.Instance)), labelColumnName: "Delay");
        Assert.IsTrue(double.IsFinite(metrics.RSquared) && metrics.RSquared > 0, $"R² {metrics.RSquared}");
    }

    /// <summary>
    /// The managed memory live at the end of an epoch (after a full collection): what the trainer holds while it trains,
    /// beyond what is garbage. The least of the three epochs' readings: whatever else the process happens to hold at one
    /// reading (a background compilation, a pooled buffer not yet released) only ever adds to it.
    /// </summary>
    private static long LiveBytesDuringTraining(string database, int maxRowsInMemory)
    {
        var ml = new MLContext(seed: 0);
        var readings = new List<long>();
        ml.Log += (_, e) =>
        {
            if (e.Source.Contains("AutoClipNet", StringComparison.Ordinal) && e.RawMessage.StartsWith("Epoch ", StringComparison.Ordinal))
            {
                readings.Add(GC.GetTotalMemory(forceFullCollection: true));
            }
        };
        // Batches of 1,000 rows: the training history (a record per step, kept in the model) stays a few KB either way.
        Pipeline(ml, maxRowsInMemory, epochs: 3, batchSize: 1_000).Fit(Query(ml, database, SqliteFactory.Instance));
        Assert.HasCount(3, readings, "every epoch was logged");
        return readings.Min();
    }

    /// <summary>
    /// In a fresh process (ChildProcess's "call" mode): a warm-up training on <c>args[0]</c> (the code paths, ML.NET's caches and
    /// the pools exist before measuring), then the live bytes while training on <c>args[1]</c> with MaxRowsInMemory <c>args[2]</c>.
    /// A fresh process for every reading: in the test process, what earlier tests left behind (models in static fixtures,
    /// objects waiting for their finalizers) was collected between two readings now and then, and moved one by 400 KB.
    /// </summary>
    internal static int LiveBytesInFreshProcess(string[] args)
    {
        LiveBytesDuringTraining(args[0], 5_000);
        long bytes = LiveBytesDuringTraining(args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
        SqliteConnection.ClearAllPools();
        Console.WriteLine("live-bytes=" + bytes.ToString(CultureInfo.InvariantCulture));
        return 0;
    }

    private static long LiveBytes(string warmUp, string database, int maxRowsInMemory)
    {
        string output = ChildProcess.Call<DatabaseTests>(nameof(LiveBytesInFreshProcess), warmUp, database, maxRowsInMemory.ToString(CultureInfo.InvariantCulture));
        return long.Parse(output.Split('\n').Single(l => l.StartsWith("live-bytes=", StringComparison.Ordinal))["live-bytes=".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    [TestMethod]
    public void Streaming_from_SQLite_holds_as_much_memory_for_200000_rows_as_for_20000()
    {
        string small = FlightsTable(20_000), large = FlightsTable(200_000);
        long streamedSmall = LiveBytes(small, small, 5_000);
        long streamedLarge = LiveBytes(small, large, 5_000);
        long packedSmall = LiveBytes(small, small, 1_000_000);
        long packedLarge = LiveBytes(small, large, 1_000_000);
        Console.WriteLine($"live managed bytes at the end of an epoch (the least of three, each in a fresh process): streamed {streamedSmall:N0} / {streamedLarge:N0}; packed {packedSmall:N0} / {packedLarge:N0}");

        // Packed, the 180,000 more rows are held: 3 floats each, 2.1 MB. The measurement sees them...
        Assert.IsGreaterThan(180_000 * 3 * 4 * 0.9, packedLarge - packedSmall, "packed rows are held in memory");
        // ...and streaming holds none of them: ten times the rows, the same memory within a tenth of that.
        Assert.IsLessThan(180_000 * 3 * 4 * 0.1, Math.Abs(streamedLarge - streamedSmall), "streamed rows are not held");
    }
}
