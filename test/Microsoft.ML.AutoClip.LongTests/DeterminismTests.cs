using System;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// "Bit-identical" as a claim that is checked by repetition: for every task, 20 rounds of train and save
/// in one fresh process (five members trained side by side, long enough that the cycle stop ends some of them
/// early and not others), then load and Transform in another, each process with its memory laid out
/// differently (AUTOCLIP_TEST_JUNK moves later allocations), the second half while another process
/// keeps every core busy. Every round must write the same bytes: the trained weights and outputs, and
/// the reloaded model's outputs.
/// </summary>
/// <remarks>
/// The cause this guards against: TorchSharp's <c>torch.tensor(float[])</c> keeps a pinned copy of the
/// managed array as the tensor's storage, only 8-byte aligned, and LibTorch's matrix-vector product (a
/// layer with one output, as regression and binary networks end) rounds differently depending on
/// whether its operand is 16-byte aligned. The released version built its batch scorer's weights that
/// way, so a reload in another process could score a row one ulp differently. Every tensor that
/// LibTorch computes on is now in LibTorch's own 64-byte-aligned memory (Network/TensorMemory.cs).
/// </remarks>
[TestClass]
public sealed class DeterminismTests
{
    private const int Rounds = 20;

    [TestMethod]
    [Timeout(1_800_000, CooperativeCancellation = true)]
    [DataRow("regression", 90)]
    [DataRow("binary", 30)]
    [DataRow("multiclass", 60)]
    public void Train_save_load_in_a_fresh_process_and_Transform_give_the_same_bytes_every_time_also_under_load(string task, int epochs)
    {
        string dir = Directory.CreateTempSubdirectory($"autoclipnet-determinism-{task}").FullName;
        try
        {
            byte[]? trained = null, reloaded = null;
            string? stopped = null;
            System.Diagnostics.Process? burner = null;
            try
            {
                for (int round = 0; round < Rounds; round++)
                {
                    if (round == Rounds / 2)
                    {
                        burner = Processes.StartBurner(seconds: 600);
                    }
                    string zip = Path.Combine(dir, $"model-{round}.zip");
                    string trainOut = Path.Combine(dir, $"train-{round}.bin");
                    string loadOut = Path.Combine(dir, $"load-{round}.bin");
                    // Different amounts of junk in the two processes of each round, and from round to round.
                    string trainLog = ChildProcess.RunPerturbed(1 + 3 * round, "train", task, "1500", "7", trainOut, zip, epochs.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    string roundStopped = trainLog.Split('\n').Single(line => line.StartsWith("members-stopped=", StringComparison.Ordinal)).Trim();
                    stopped ??= roundStopped;
                    Assert.AreEqual(stopped, roundStopped, $"{task}, round {round}: the cycle stop ended other members (epochs run, 0 = all {epochs})");
                    ChildProcess.RunPerturbed(2 + 5 * round % 17, "load", zip, task, loadOut);
                    byte[] t = File.ReadAllBytes(trainOut), l = File.ReadAllBytes(loadOut);
                    trained ??= t;
                    reloaded ??= l;
                    CollectionAssert.AreEqual(trained, t, $"{task}, round {round}{(burner is null ? "" : " (under load)")}: the trained weights and outputs differ from round 0");
                    CollectionAssert.AreEqual(reloaded, l, $"{task}, round {round}{(burner is null ? "" : " (under load)")}: the reloaded model's outputs differ from round 0");
                    File.Delete(zip);
                }
            }
            finally
            {
                if (burner is not null && !burner.HasExited)
                {
                    burner.Kill();
                }
                burner?.Dispose();
            }
            // The fingerprint ends with the trained model's outputs on the same rows the reloaded model scored.
            CollectionAssert.AreEqual(reloaded, trained![^reloaded!.Length..], $"{task}: the reloaded model scores differently from the one that was trained");
            // The premise: with these epochs the cycle stop ends some members and not others (the test would pass without it, proving less).
            var epochsRun = stopped!["members-stopped=".Length..].Split(',').Select(int.Parse).ToArray();
            Assert.IsTrue(epochsRun.Any(e => e > 0) && epochsRun.Any(e => e == 0), $"{task}: expected some members stopped by the cycle stop and some not, got {stopped}");
            Console.WriteLine($"{task}: {Rounds} rounds, {Rounds / 2} under load, {reloaded.Length} output bytes each, all identical; {stopped}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
