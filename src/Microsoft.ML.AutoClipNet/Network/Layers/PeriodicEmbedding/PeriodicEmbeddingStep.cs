using System;
using System.Linq;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// The periodic embeddings' training step, in managed SIMD code: for embedded feature j, t = x_j·(2π·w_j) + b_j (k values), P = cos t,
/// and e_j = P·V_j + c_j (d values); the output is every e_j, then the input unchanged. The tensors are small (rows × m × k)
/// and the work per value a few operations, so LibTorch's per-call cost dominated when each of the pass's ~25 steps was a
/// LibTorch call (bench/README.md). Here each feature's values are laid out row-contiguous
/// (feature, frequency, row), the rows are the vector lanes, and sin t is computed in the forward pass beside cos t, for
/// the backward one. Every sum over the rows runs in one fixed order: the same bits on every run.
/// </summary>
internal sealed class PeriodicEmbeddingStep : LayerStep
{
    private const float TwoPi = (float)(2 * Math.PI);
    private readonly Tensor _frequencies, _phases, _weights, _bias;
    private readonly Tensor _frequencyGradient, _phaseGradient, _weightGradient, _biasGradient;
    private readonly int[] _embedded;
    private readonly int _m, _k, _d, _inputs, _outputs;
    private readonly float[] _x;         // m × Capacity: the embedded features' values
    private readonly float[] _cos, _sin; // m × k × Capacity
    private readonly float[] _row;       // Capacity: one output's values, or one frequency's ∂t
    private readonly float[] _g;         // d × Capacity: one feature's output gradients
    private readonly float[] _dx;        // Capacity: one feature's input gradient
    private readonly Tensor _output, _inputGradient;
    private int _rows;

    public PeriodicEmbeddingStep(PeriodicEmbeddingLayer layer, StepContext context)
        : base(context, layer)
    {
        int capacity = context.Capacity;
        var (values, gradients) = (context.Values, context.Gradients);
        (_frequencies, _phases, _weights, _bias) = (values[0], values[1], values[2], values[3]);
        (_frequencyGradient, _phaseGradient, _weightGradient, _biasGradient) = (gradients[0], gradients[1], gradients[2], gradients[3]);
        _embedded = layer.EmbeddedFeatures.ToArray();
        _m = _embedded.Length;
        _k = layer.Frequencies;
        _d = layer.OutputsPerFeature;
        _inputs = layer.InputSize;
        _outputs = layer.OutputSize;
        _x = new float[_m * capacity];
        _cos = new float[(long)_m * _k * capacity];
        _sin = new float[(long)_m * _k * capacity];
        _row = new float[capacity];
        _g = new float[_d * capacity];
        _dx = new float[capacity];
        _output = Buffer(layer.OutputSize);
        _inputGradient = NeedInputGradient ? Buffer(layer.InputSize) : null!; // a forward-only step (validation) needs none
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        _rows = rows;
        var input = Contiguous(x, rows, _inputs);
        var y = Rows(_output, rows);
        var output = TensorMemory.Floats(y)[..(rows * _outputs)];
        ReadOnlySpan<float> w = TensorMemory.Floats(_frequencies), b = TensorMemory.Floats(_phases), v = TensorMemory.Floats(_weights), c = TensorMemory.Floats(_bias);
        int md = _m * _d;
        for (int e = 0; e < _m; e++)
        {
            var xe = _x.AsSpan(e * Capacity, rows);
            for (int r = 0; r < rows; r++)
            {
                xe[r] = input[r * _inputs + _embedded[e]];
            }
            for (int q = 0; q < _k; q++)
            {
                long at = ((long)e * _k + q) * Capacity;
                Periodic(xe, w[e * _k + q] * TwoPi, b[e * _k + q], _cos.AsSpan((int)at, rows), _sin.AsSpan((int)at, rows));
            }
            for (int o = 0; o < _d; o++)
            {
                var sum = _row.AsSpan(0, rows);
                sum.Fill(c[e * _d + o]);
                for (int q = 0; q < _k; q++)
                {
                    MultiplyAdd(_cos.AsSpan((int)(((long)e * _k + q) * Capacity), rows), v[(e * _k + q) * _d + o], sum);
                }
                for (int r = 0; r < rows; r++)
                {
                    output[r * _outputs + e * _d + o] = sum[r];
                }
            }
        }
        for (int r = 0; r < rows; r++)
        {
            input.Slice(r * _inputs, _inputs).CopyTo(output.Slice(r * _outputs + md, _inputs));
        }
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows)
    {
        bool inputGradient = NeedInputGradient;
        if (rows != _rows)
        {
            throw new InvalidOperationException($"The backward pass of {rows} rows follows a forward pass of {_rows}.");
        }
        var gradient = Contiguous(outputGradient, rows, _outputs);
        ReadOnlySpan<float> w = TensorMemory.Floats(_frequencies), v = TensorMemory.Floats(_weights);
        Span<float> dw = TensorMemory.Floats(_frequencyGradient), db = TensorMemory.Floats(_phaseGradient), dv = TensorMemory.Floats(_weightGradient), dc = TensorMemory.Floats(_biasGradient);
        Span<float> gx = default;
        int md = _m * _d;
        if (inputGradient)
        {
            gx = TensorMemory.Floats(Rows(_inputGradient, rows))[..(rows * _inputs)];
            for (int r = 0; r < rows; r++)
            {
                gradient.Slice(r * _outputs + md, _inputs).CopyTo(gx.Slice(r * _inputs, _inputs));
            }
        }
        var dt = _row.AsSpan(0, rows);
        var dx = _dx.AsSpan(0, rows);
        for (int e = 0; e < _m; e++)
        {
            var xe = _x.AsSpan(e * Capacity, rows);
            for (int o = 0; o < _d; o++)
            {
                var go = _g.AsSpan(o * Capacity, rows);
                for (int r = 0; r < rows; r++)
                {
                    go[r] = gradient[r * _outputs + e * _d + o];
                }
                dc[e * _d + o] = Kernels.Sum(go);
            }
            dx.Clear();
            for (int q = 0; q < _k; q++)
            {
                int at = (int)(((long)e * _k + q) * Capacity);
                var cos = _cos.AsSpan(at, rows);
                dt.Clear();
                for (int o = 0; o < _d; o++)
                {
                    var go = _g.AsSpan(o * Capacity, rows);
                    dv[(e * _k + q) * _d + o] = Kernels.Dot(cos, go);
                    MultiplyAdd(go, v[(e * _k + q) * _d + o], dt); // ∂P = g·Vᵀ
                }
                Multiply(dt, _sin.AsSpan(at, rows), -1f);            // ∂t = −sin t ⊙ ∂P
                db[e * _k + q] = Kernels.Sum(dt);
                dw[e * _k + q] = Kernels.Dot(xe, dt) * TwoPi;
                if (inputGradient)
                {
                    MultiplyAdd(dt, w[e * _k + q] * TwoPi, dx);
                }
            }
            if (inputGradient)
            {
                for (int r = 0; r < rows; r++)
                {
                    gx[r * _inputs + _embedded[e]] += dx[r];
                }
            }
        }
        return inputGradient ? Rows(_inputGradient, rows) : null;
    }

    /// <summary>The values of the first <paramref name="rows"/> rows of a rows × <paramref name="width"/> float tensor, which must be contiguous CPU memory.</summary>
    private static ReadOnlySpan<float> Contiguous(Tensor x, int rows, int width)
    {
        if (!x.is_contiguous() || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32)
        {
            throw new InvalidOperationException("The embedding step reads contiguous float32 CPU rows.");
        }
        return TensorMemory.Floats(x)[..(rows * width)];
    }

    /// <summary>t = x·a + b; cos t and sin t (t is written to <paramref name="sin"/> first).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Periodic(ReadOnlySpan<float> x, float a, float b, Span<float> cos, Span<float> sin)
    {
        int i = 0;
        var va = Vector256.Create(a);
        var vb = Vector256.Create(b);
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            (Vector256.Create(x[i..]) * va + vb).CopyTo(sin[i..]);
        }
        for (; i < x.Length; i++)
        {
            sin[i] = x[i] * a + b;
        }
        Kernels.SinCos(sin, sin, cos);
    }

    /// <summary>y += x·a.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyAdd(ReadOnlySpan<float> x, float a, Span<float> y)
    {
        int i = 0;
        var va = Vector256.Create(a);
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            (Vector256.Create(y[i..]) + Vector256.Create(x[i..]) * va).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++)
        {
            y[i] += x[i] * a;
        }
    }

    /// <summary>y ← y ⊙ x·a.</summary>
    private static void Multiply(Span<float> y, ReadOnlySpan<float> x, float a)
    {
        int i = 0;
        var va = Vector256.Create(a);
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            (Vector256.Create(y[i..]) * Vector256.Create(x[i..]) * va).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++)
        {
            y[i] = y[i] * x[i] * a;
        }
    }
}

