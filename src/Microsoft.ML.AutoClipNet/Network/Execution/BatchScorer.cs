using System;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>A batch scorer: rows written into <see cref="Input"/>, outputs read back from <see cref="Forward"/>.</summary>
internal interface IBatchScorer : IDisposable
{
    int Capacity { get; }

    Span<float> Input { get; }

    /// <summary>Outputs of the first <paramref name="rows"/> rows, rows × outputs, valid until the next call.</summary>
    ReadOnlySpan<float> Forward(int rows);
}

/// <summary>
/// Runs a network over batches of rows with LibTorch in tensors allocated once, as many rows a batch as the caller asks for
/// and <see cref="MemoryBudget"/> allows (<see cref="Capacity"/>): the caller writes a batch's rows straight into <see cref="Input"/>; <see cref="Forward"/> runs each layer's batch forward
/// (<see cref="Layer.CreateBatchForward"/>, with its own buffers). Every buffer is in LibTorch's aligned memory (see
/// <see cref="TensorMemory"/>), so the result is the same in every process. Not thread-safe: one per cursor.
/// </summary>
internal sealed class BatchScorer : IBatchScorer
{
    private readonly NetworkDescription _network;
    private readonly Tensor _input;
    private readonly BatchForward[] _layers;

    /// <summary>
    /// The most bytes a scorer's buffers and its layers' temporaries take: a batch holds as many rows as fit (at least one, at
    /// most what was asked for), so that any network that loads also scores. The default network's batches of 4,096 rows take
    /// about 16 MB (five times that for the default ensemble); a network too wide for them gets fewer rows a batch.
    /// </summary>
    public const long MemoryBudget = 256L << 20;

    /// <param name="network">The network to score.</param>
    /// <param name="capacity">The most rows a batch should hold.</param>
    /// <param name="fitToBudget">Fewer rows when their buffers would pass <see cref="MemoryBudget"/> (false: exactly <paramref name="capacity"/>, for an ensemble's members, which count in their ensemble's budget).</param>
    public BatchScorer(NetworkDescription network, int capacity, bool fitToBudget = true)
    {
        if (capacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A batch holds at least one row.");
        }
        AutoClip.TorchSharpNative.EnsureLoadable();
        _network = network;
        Capacity = fitToBudget ? (int)Math.Clamp(MemoryBudget / Math.Max(1, network.BatchBytesPerRow), 1, capacity) : capacity;
        capacity = Capacity;
        // Created outside any dispose scope the caller may have open: they live as long as the scorer.
        _input = empty(capacity, network.InputSize).DetachFromDisposeScope();
        _layers = new BatchForward[network.Layers.Count];
        try
        {
            for (int l = 0; l < _layers.Length; l++)
            {
                _layers[l] = network.Layers[l].CreateBatchForward(capacity);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The most rows one <see cref="Forward"/> call scores.</summary>
    public int Capacity { get; }

    /// <summary>The input rows, row-major: row i's features at [i·InputSize, (i+1)·InputSize).</summary>
    public Span<float> Input => TensorMemory.Floats(_input);

    /// <summary>
    /// Scores the first <paramref name="rows"/> rows of <see cref="Input"/> (which it may overwrite);
    /// the result, rows × OutputSize row-major, is valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> Forward(int rows)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = ForwardTensor(rows);
        // The result is one of the layers' own contiguous buffers (or a leading slice of one).
        return MemoryMarshal.Cast<byte, float>(x.bytes)[..(rows * _network.OutputSize)];
    }

    /// <summary>
    /// The forward pass over the first <paramref name="rows"/> rows of the input tensor, inside the caller's no-grad and dispose
    /// scope: the result is a buffer of the scorer's (an ensemble's members score through scorers of their own).
    /// </summary>
    internal Tensor ForwardTensor(int rows)
    {
        if (rows < 1 || rows > Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"A batch of this scorer holds 1 to {Capacity} rows.");
        }
        var x = rows == Capacity ? _input : _input.narrow(0, 0, rows);
        foreach (var layer in _layers)
        {
            x = layer.Forward(x, rows);
        }
        return x;
    }

    /// <summary>The input tensor's first <paramref name="rows"/> rows, for a caller that copies a batch in as a tensor (an ensemble's members).</summary>
    internal Tensor InputRows(int rows) => rows == Capacity ? _input : _input.narrow(0, 0, rows);

    public void Dispose()
    {
        _input.Dispose();
        foreach (var layer in _layers)
        {
            layer?.Dispose();
        }
    }
}
