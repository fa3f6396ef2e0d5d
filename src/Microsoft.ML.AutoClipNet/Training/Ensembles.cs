using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.AutoClip;
using Microsoft.ML.AutoClipNet.Data;
using Microsoft.ML.AutoClipNet.Network;

namespace Microsoft.ML.AutoClipNet.Training;

/// <summary>
/// How an ensemble is trained and put together. Member k of K is a network of its own: its own initialisation and
/// shuffling (<see cref="MemberSeed"/>) and, with a hold-out, its own held-out rows (the k-th of K slices of the
/// rows, Data.TrainingSet.ForMember), on which it keeps its best epoch. The members share the feature scaling
/// (the first member's training rows' statistics) and the label's encoding; the model averages their raw outputs
/// (regression: standardized predictions; classification: logits) in one <see cref="EnsembleLayer"/>.
/// </summary>
internal static class Ensembles
{
    /// <summary>
    /// Trains the recipe's members (one network, or an ensemble) on <paramref name="train"/> and returns the model's network
    /// with every member's history. Every member's initial network is built first (they share the feature scaling, whose
    /// quartiles come from the statistics' sample, released afterwards). With a hold-out, member k holds out the k-th of K
    /// slices of the rows; with an explicit validation set, or none, every member trains on every row.
    /// <paramref name="validations"/> gets, per member, its trained network and the rows it was validated on.
    /// With a warm start, <paramref name="start"/> is the model's network, whose members continue training (the recipe's
    /// EnsembleSize must be their number), and <paramref name="clipState"/> the AutoClip state every member continues from
    /// (null: a new history).
    /// </summary>
    public static TrainingResult Train(Recipe recipe, int seed, TrainingSet train, TrainingSet? validation, Objective objective, Func<Objective> memberObjective,
        ITrainingMonitor monitor, out (NetworkDescription Network, ValidationRows Rows)[] validations, NetworkDescription? start = null, AutoClipperState? clipState = null)
    {
        int members = recipe.EnsembleSize;
        var initial = start is null ? new NetworkDescription[members] : Split(start);
        if (initial.Length != members)
        {
            throw new ArgumentException($"The network to continue has {initial.Length} members; the recipe says {members}.", nameof(start));
        }
        for (int k = 0; k < members && start is null; k++)
        {
            initial[k] = NetworkBuilder.Build(recipe, train.Features, objective.OutputCount, new Random(MemberSeed(seed, k)));
        }
        train.Features.ReleaseSample();
        bool ownHoldOut = validation is null && train.ValidationRows > 0;
        var gate = new object();
        var rows = new (NetworkDescription Network, ValidationRows Rows)[members];
        // NumberOfThreads caps the members trained side by side, and a single network's LibTorch threads (unset: LibTorch's own count).
        TrainingResult TrainMember(int k)
        {
            var memberTrain = ownHoldOut ? train.ForMember(k, members) : train;
            ITrainingMonitor memberMonitor = members == 1 ? monitor : new MemberMonitor(monitor, k, members, gate);
            // Each member its own objective (they keep LibTorch tensors, and members may train side by side).
            using var own = members == 1 ? null : memberObjective();
            using var run = new TrainingRun(recipe, MemberSeed(seed, k), initial[k], own ?? objective, memberTrain, validation, memberMonitor, clipState, continued: start is not null);
            TrainingResult trained;
            try
            {
                trained = run.Train();
            }
            catch (InvalidOperationException e) when (members > 1)
            {
                throw new InvalidOperationException($"Ensemble member {k + 1} of {members}: {e.Message}", e);
            }
            rows[k] = (trained.Network, new ValidationRows(memberTrain, validation));
            return trained;
        }
        var results = members == 1 && recipe.Threads is int threads
            ? new[] { WithThreads(threads, () => TrainMember(0)) }
            : Run(members, recipe.Threads ?? Environment.ProcessorCount, TrainMember);
        validations = rows;
        return members == 1 ? results[0] : new TrainingResult(Combine(results.Select(r => r.Network).ToArray()), results[0].History, results[0].AutoClipState)
        {
            MemberHistories = results.Select(r => r.History).ToArray(),
        };
    }

    /// <summary>Member k's seed: the trainer's seed for the first member (so that an ensemble of one is the single network), a mix of both after it.</summary>
    public static int MemberSeed(int seed, int member) => member == 0 ? seed : unchecked((int)((uint)seed * 2654435761u + (uint)member * 0x9E3779B9u));

    /// <summary>
    /// The model's network from its members' trained networks: the fixed layers every member starts with alike (the missing-value
    /// layer, the feature transform) once, then the ensemble of the rest; otherwise the ensemble of the whole members. One member
    /// is returned as it is.
    /// </summary>
    public static NetworkDescription Combine(IReadOnlyList<NetworkDescription> members)
    {
        if (members.Count == 1)
        {
            return members[0];
        }
        int shared = 0;
        while (members.All(m => m.Layers.Count > shared + 1 && Same(m.Layers[shared], members[0].Layers[shared])))
        {
            shared++;
        }
        if (shared == 0)
        {
            return new NetworkDescription(members[0].InputSize, new Layer[] { new EnsembleLayer(members) });
        }
        var prefix = members[0].Layers.Take(shared).ToArray();
        var rest = members.Select(m => new NetworkDescription(prefix[^1].OutputSize, m.Layers.Skip(shared).ToArray())).ToArray();
        return new NetworkDescription(members[0].InputSize, prefix.Append(new EnsembleLayer(rest)).ToArray());
    }

    /// <summary>The member networks of a model's network (the inverse of <see cref="Combine"/>): the shared prefix before each member's layers.</summary>
    public static NetworkDescription[] Split(NetworkDescription network)
    {
        var layers = network.Layers;
        int at = layers.ToList().FindIndex(l => l is EnsembleLayer);
        if (at < 0)
        {
            return new[] { network };
        }
        if (at != layers.Count - 1)
        {
            throw new NotSupportedException("This network's ensemble is not its last layer; it cannot be trained further.");
        }
        var prefix = layers.Take(at).ToArray();
        return ((EnsembleLayer)layers[at]).Members.Select(m => new NetworkDescription(network.InputSize, prefix.Concat(m.Layers).ToArray())).ToArray();
    }

    /// <summary>Whether two fixed layers that can lead a network are the same (their values, bit for bit).</summary>
    private static bool Same(Layer a, Layer b) => (a, b) switch
    {
        (FeatureTransformLayer x, FeatureTransformLayer y) => x.Center.SequenceEqual(y.Center) && x.Scale.SequenceEqual(y.Scale) && x.Clip.SequenceEqual(y.Clip),
        (MissingValuesLayer x, MissingValuesLayer y) => x.Fill.SequenceEqual(y.Fill) && x.Indicated.SequenceEqual(y.Indicated),
        _ => false,
    };

    /// <summary>
    /// Runs <paramref name="work"/> with one LibTorch thread and sets the count back afterwards: the scoring that follows
    /// training (temperature scaling, the conformal interval) then computes the same bits whatever the cores and the load.
    /// With the caller's thread count, a binary model's fitted slope once differed in the last bits between two fresh
    /// processes of the determinism test (an Intel Xeon with AVX-512, another process busy); its weights were the same.
    /// </summary>
    public static T WithOneThread<T>(Func<T> work) => WithThreads(1, work);

    /// <summary>Runs <paramref name="work"/> with <paramref name="threads"/> LibTorch threads on this thread and sets the count back afterwards.</summary>
    public static T WithThreads<T>(int threads, Func<T> work)
    {
        AutoClip.TorchSharpNative.EnsureLoadable();
        int previous = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(threads);
        try
        {
            return work();
        }
        finally
        {
            TorchSharp.torch.set_num_threads(previous);
        }
    }

    /// <summary>
    /// Trains members 0 to <paramref name="members"/> − 1 with <paramref name="train"/> and returns their results in member
    /// order. With more than one member and more than one core, the members train side by side on
    /// min(members, <paramref name="cores"/>) threads of their own (each takes the next member not yet taken), each with
    /// one LibTorch thread: at a batch of 256 a matrix product gains little from a second thread, so the cores are better
    /// spent on two members at a time (docs/ensembles.md measures both). LibTorch's thread count is a
    /// process setting; it is 1 while the members train, also when they train one after the other on a single core, and
    /// is set back afterwards. Some of LibTorch's products round differently with another thread count (a multiclass
    /// network's did), so every member always trains with one thread: its bits do not depend on the cores or on which
    /// thread trained it (the tests compare the bytes). The first failure (in member
    /// order) is thrown once every thread has stopped; a cancellation stops them all.
    /// </summary>
    public static T[] Run<T>(int members, int cores, Func<int, T> train)
    {
        var results = new T[members];
        int threads = Math.Min(members, cores);
        if (members == 1)
        {
            results[0] = train(0);
            return results;
        }
        if (threads <= 1)
        {
            // One core: the members one after the other, still with one LibTorch thread each, so that they compute the same bits.
            return WithOneThread(() =>
            {
                for (int k = 0; k < members; k++)
                {
                    results[k] = train(k);
                }
                return results;
            });
        }
        AutoClip.TorchSharpNative.EnsureLoadable();
        int previous = TorchSharp.torch.get_num_threads();
        var failures = new Exception?[members];
        int stop = 0;
        int next = -1;
        var workers = new System.Threading.Thread[threads];
        for (int w = 0; w < threads; w++)
        {
            workers[w] = new System.Threading.Thread(() =>
            {
                TorchSharp.torch.set_num_threads(1);
                for (int k = System.Threading.Interlocked.Increment(ref next); k < members && System.Threading.Volatile.Read(ref stop) == 0;
                     k = System.Threading.Interlocked.Increment(ref next))
                {
                    try
                    {
                        results[k] = train(k);
                    }
                    catch (Exception e)
                    {
                        failures[k] = e;
                        System.Threading.Interlocked.Exchange(ref stop, 1);
                    }
                }
            }, maxStackSize: 16 << 20) { IsBackground = true, Name = $"AutoClipNet ensemble {w + 1}/{threads}" };
        }
        try
        {
            foreach (var worker in workers)
            {
                worker.Start();
            }
            foreach (var worker in workers)
            {
                worker.Join();
            }
        }
        finally
        {
            TorchSharp.torch.set_num_threads(previous);
        }
        var failure = failures.FirstOrDefault(e => e is not null and not OperationCanceledException) ?? failures.FirstOrDefault(e => e is not null);
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        return results;
    }

    /// <summary>A member's progress, each message prefixed with "Member k/K: " (members training side by side report one at a time).</summary>
    public sealed class MemberMonitor : ITrainingMonitor
    {
        private readonly ITrainingMonitor _inner;
        private readonly string _prefix;
        private readonly object _gate;

        public MemberMonitor(ITrainingMonitor inner, int member, int members, object gate)
        {
            _inner = inner;
            _prefix = $"Member {member + 1}/{members}: ";
            _gate = gate;
        }

        public void Info(string message)
        {
            lock (_gate)
            {
                _inner.Info(_prefix + message);
            }
        }

        public void Warning(string message)
        {
            lock (_gate)
            {
                _inner.Warning(_prefix + message);
            }
        }

        public void CheckAlive()
        {
            lock (_gate)
            {
                _inner.CheckAlive();
            }
        }
    }
}
