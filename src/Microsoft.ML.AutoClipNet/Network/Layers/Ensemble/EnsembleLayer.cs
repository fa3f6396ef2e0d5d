using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// An ensemble: K member networks that read the same input, whose outputs are averaged,
/// y = (m₁(x) + m₂(x) + … + m_K(x)) · (1/K), added in member order and multiplied by the float nearest 1/K, the same
/// arithmetic in the managed, the batched and the ONNX forward. Members are trained one by one (each on its own
/// training rows, see Training/Ensembles.cs), never as one layer; an ensemble holds no ensemble.
/// </summary>
internal sealed class EnsembleLayer : Layer
{
    /// <summary>The most members a model may declare.</summary>
    public const int MaxMembers = 64;

    [ThreadStatic]
    private static float[]? t_scratch;

    private readonly NetworkDescription[] _members;
    private readonly float _inverse;
    private readonly Scalar _inverseScalar; // lives as long as the layer (see Scalars)

    public EnsembleLayer(IReadOnlyList<NetworkDescription> members)
    {
        if (members.Count is < 1 or > MaxMembers)
        {
            throw new InvalidDataException($"An ensemble has 1 to {MaxMembers} members, not {members.Count}.");
        }
        var first = members[0];
        foreach (var member in members)
        {
            if (member.InputSize != first.InputSize || member.OutputSize != first.OutputSize)
            {
                throw new InvalidDataException($"The members of an ensemble all take {first.InputSize} values and give {first.OutputSize}; one takes {member.InputSize} and gives {member.OutputSize}.");
            }
            if (member.Layers.Any(l => l is EnsembleLayer))
            {
                throw new InvalidDataException("An ensemble's member cannot hold an ensemble itself.");
            }
        }
        _members = members.ToArray();
        _inverse = 1f / _members.Length;
        _inverseScalar = _inverse.ToScalar();
        MaxMemberWidth = _members.Max(m => m.MaxWidth);
    }

    public override AutoClipNetLayerKind Kind => AutoClipNetLayerKind.Ensemble;

    public override int InputSize => _members[0].InputSize;

    public override int OutputSize => _members[0].OutputSize;

    public override long ParameterCount => _members.Sum(m => m.ParameterCount);

    public override long MultiplyAddsPerRow => _members.Sum(m => m.MultiplyAddsPerRow);

    public IReadOnlyList<NetworkDescription> Members => _members;

    public override IReadOnlyList<NetworkDescription> Parts => _members;

    /// <summary>The most values any member's layer produces (a member's forward needs twice that as scratch).</summary>
    public int MaxMemberWidth { get; }

    /// <summary>The float that the members' sum is multiplied by: the one nearest 1/K.</summary>
    public float Inverse => _inverse;

    internal Scalar InverseScalar => _inverseScalar;

    public override void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckInput(input, output);
        int needed = 2 * MaxMemberWidth;
        var scratch = t_scratch;
        if (scratch is null || scratch.Length < needed)
        {
            t_scratch = scratch = new float[needed];
        }
        var sum = output[..OutputSize];
        for (int m = 0; m < _members.Length; m++)
        {
            var member = _members[m].Forward(input, scratch);
            if (m == 0)
            {
                member.CopyTo(sum);
            }
            else
            {
                for (int j = 0; j < sum.Length; j++)
                {
                    sum[j] += member[j];
                }
            }
        }
        for (int j = 0; j < sum.Length; j++)
        {
            sum[j] *= _inverse;
        }
    }

    /// <summary>
    /// The batch forward with temporary tensors for the members' layers (a <see cref="BatchScorer"/> gives each member
    /// buffers of its own instead, allocated once).
    /// </summary>
    public override Tensor Forward(Tensor input, Tensor? output)
    {
        var y = output ?? throw new ArgumentNullException(nameof(output));
        long rows = input.shape[0];
        using var scope = NewDisposeScope();
        for (int m = 0; m < _members.Length; m++)
        {
            var x = input.clone(); // a member's in-place layers must not change what the next member reads
            foreach (var layer in _members[m].Layers)
            {
                x = layer.Forward(x, layer.BatchInPlace ? null : empty(rows, layer.OutputSize));
            }
            Accumulate(y, x, m);
        }
        Finish(y);
        return y;
    }

    /// <summary>Adds member <paramref name="member"/>'s output <paramref name="x"/> into the sum <paramref name="y"/> (the first one is copied).</summary>
    internal static void Accumulate(Tensor y, Tensor x, int member)
    {
        if (member == 0)
        {
            y.copy_(x);
        }
        else
        {
            y.add_(x, Scalars.One);
        }
    }

    /// <summary>The sum times 1/K.</summary>
    internal void Finish(Tensor y) => y.mul_(_inverseScalar);

    public override string SaveAsOnnx(IOnnxGraph graph, string input)
    {
        string? sum = null;
        foreach (var member in _members)
        {
            string output = member.SaveAsOnnx(graph, input);
            sum = sum is null ? output : graph.Binary("Add", sum, output);
        }
        return graph.Binary("Mul", sum!, graph.Scalar(_inverse, "EnsembleInverse"));
    }

    /// <summary>Never trained as one layer: each member trains as a network of its own (Training/Ensembles.cs), and the model combines them.</summary>
    public override ILayerStep CreateStep(StepContext context)
        => throw new NotSupportedException("An ensemble is trained member by member (Training/Ensembles.cs), never as one layer.");

    /// <summary>Each member scores through a batch scorer of its own (its layers' buffers allocated once); their outputs are averaged into one buffer.</summary>
    public override BatchForward CreateBatchForward(int capacity) => new EnsembleBatchForward(this, capacity);

    /// <summary>The output buffer and every member's scorer: its input and its layers' buffers (one member's temporaries at a time).</summary>
    public override long BatchBytesPerRow => sizeof(float) * (long)OutputSize + _members.Sum(m => m.BatchBytesPerRow);

    private sealed class EnsembleBatchForward : BatchForward
    {
        private readonly EnsembleLayer _layer;
        private readonly BatchScorer[] _members;
        private readonly Tensor _output = null!;

        public EnsembleBatchForward(EnsembleLayer layer, int capacity)
            : base(capacity)
        {
            _layer = layer;
            _members = new BatchScorer[layer._members.Length];
            try
            {
                _output = Buffer(layer.OutputSize);
                for (int m = 0; m < _members.Length; m++)
                {
                    _members[m] = new BatchScorer(layer._members[m], capacity, fitToBudget: false); // the ensemble's bytes count in its scorer's budget
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public override Tensor Forward(Tensor x, int rows)
        {
            // Each member reads its own copy of the input (in-place layers change it), then the outputs are averaged.
            var y = Rows(_output, rows);
            for (int m = 0; m < _members.Length; m++)
            {
                // A member's temporaries go when its output is in the sum, not when the whole batch is done.
                using var scope = NewDisposeScope();
                _members[m].InputRows(rows).copy_(x);
                Accumulate(y, _members[m].ForwardTensor(rows), m);
            }
            _layer.Finish(y);
            return y;
        }

        public override void Dispose()
        {
            foreach (var member in _members)
            {
                member?.Dispose();
            }
            base.Dispose();
        }
    }

    // Layout: int member count K; per member: NetworkDescription.Write (int inputs; int layer count; per layer: int kind, its fields).
    public override void Write(BinaryWriter writer)
    {
        writer.Write(_members.Length);
        foreach (var member in _members)
        {
            member.Write(writer);
        }
    }

    public static EnsembleLayer Read(BinaryReader reader, LayerReadContext context)
    {
        if (context.InsideEnsemble)
        {
            throw new InvalidDataException("An ensemble's member holds an ensemble itself.");
        }
        int inputSize = context.InputSize;
        int count = Serialization.ReadCount(reader, "ensemble's member count", 1, MaxMembers);
        var members = new List<NetworkDescription>(count);
        try
        {
            for (int m = 0; m < count; m++)
            {
                var member = NetworkDescription.Read(reader, insideEnsemble: true);
                members.Add(member);
                if (member.InputSize != inputSize)
                {
                    throw new InvalidDataException($"Ensemble member {m + 1} takes {member.InputSize} values where the layer before it gives {inputSize}.");
                }
            }
            return new EnsembleLayer(members);
        }
        catch
        {
            foreach (var member in members)
            {
                member.Dispose();
            }
            throw;
        }
    }

    /// <summary>Frees the members' LibTorch copies of their weights (a later batch forward makes them again).</summary>
    public override void Dispose()
    {
        foreach (var member in _members)
        {
            member.Dispose();
        }
    }

    /// <summary>"ensemble of 5 (mean) of: periodic embedding … → dense 256→1".</summary>
    public override string ToString() => $"ensemble of {_members.Length} (mean) of: {string.Join(" → ", _members[0].Layers.Select(l => l.ToString()))}";
}
