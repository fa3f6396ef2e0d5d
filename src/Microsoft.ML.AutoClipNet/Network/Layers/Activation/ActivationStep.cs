using System;
using System.Numerics;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>The activation layer's training step: the activation in place on the dense output; its derivative from the output (ReLU, leaky ReLU, tanh, SELU) or by autograd on the input (GELU, Mish, SiLU).</summary>
internal sealed class ActivationStep : LayerStep
{
    private readonly AutoClipNetActivation _activation;
    private readonly bool _fromOutput;
    private readonly Tensor? _output;
    private Tensor? _input;
    private Tensor? _result;

    public ActivationStep(ActivationLayer layer, StepContext context)
        : base(context, layer)
    {
        _activation = layer.Activation;
        _fromOutput = _activation is AutoClipNetActivation.ReLU or AutoClipNetActivation.LeakyReLU or AutoClipNetActivation.Tanh or AutoClipNetActivation.Selu;
        _output = _fromOutput ? null : Buffer(layer.OutputSize);
    }

    public override Tensor Forward(Tensor x, int rows)
    {
        if (_fromOutput)
        {
            if (_activation == AutoClipNetActivation.Selu)
            {
                Derivatives.Selu(TensorMemory.Floats(x)[..(int)x.numel()]); // LibTorch's selu_ took a tenth of the forward pass
            }
            else
            {
                Activations.ApplyInPlace(_activation, x);
            }
            _result = x;
            return x;
        }
        _input = x;
        var y = Rows(_output!, rows).copy_(x);
        Activations.ApplyInPlace(_activation, y);
        return y;
    }

    public override Tensor? Backward(Tensor outputGradient, int rows)
    {
        if (!NeedInputGradient)
        {
            return null;
        }
        if (!_fromOutput)
        {
            using var withGrad = enable_grad(true);
            var leaf = _input!.detach().requires_grad_(true);
            Activations.Forward(_activation, leaf).backward(new[] { outputGradient });
            return outputGradient.copy_(leaf.grad!);
        }
        // The gradient tensor is the next dense layer's input-gradient buffer: multiplied in place.
        var g = TensorMemory.Floats(outputGradient);
        var a = TensorMemory.Floats(_result!);
        int n = (int)outputGradient.numel();
        Derivatives.MultiplyByDerivative(_activation, g[..n], a[..n]);
        return outputGradient;
    }
}

/// <summary>Elementwise derivatives of activations from their outputs, in SIMD.</summary>
internal static class Derivatives
{
    private const float SeluScale = (float)Activations.SeluScale;
    private const float SeluScaleAlpha = (float)(Activations.SeluScale * Activations.SeluAlpha);

    /// <summary>
    /// x ← SELU(x) = λ·x for x &gt; 0, λα·(eˣ − 1) otherwise, in place, eight values at a time (the exponential of
    /// <see cref="Kernels.ExpOfNonPositive"/>): within 2·10⁻⁷ of LibTorch's, which uses expm1, so tiny negative inputs
    /// lose their relative precision (−10⁻³⁰ gives 0); the values after the last full eight use MathF.Exp.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Selu(Span<float> x)
    {
        var scale = Vector256.Create(SeluScale);
        var scaleAlpha = Vector256.Create(SeluScaleAlpha);
        var zero = Vector256<float>.Zero;
        int i = 0;
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            var v = Vector256.Create(x[i..]);
            var negative = Vector256.Min(v, zero); // exp of the negative part only: no overflow from large positives (NaN lanes are replaced below)
            var result = Vector256.ConditionalSelect(Vector256.GreaterThan(v, zero), v * scale, (Kernels.ExpOfNonPositive(negative) - Vector256<float>.One) * scaleAlpha);
            Vector256.ConditionalSelect(Vector256.Equals(v, v), result, v).CopyTo(x[i..]); // NaN stays NaN
        }
        for (; i < x.Length; i++)
        {
            x[i] = x[i] > 0 ? x[i] * SeluScale : (MathF.Exp(MathF.Max(x[i], -87f)) - 1) * SeluScaleAlpha;
        }
    }

    /// <summary>g ← g ⊙ f′ where f′ is written in terms of a = f(x).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyByDerivative(AutoClipNetActivation activation, Span<float> g, ReadOnlySpan<float> a)
    {
        int i = 0;
        int width = Vector<float>.Count;
        var zero = Vector<float>.Zero;
        var one = Vector<float>.One;
        switch (activation)
        {
            case AutoClipNetActivation.ReLU:
                for (; i <= g.Length - width; i += width)
                {
                    var positive = Vector.GreaterThan(new Vector<float>(a[i..]), zero);
                    Vector.ConditionalSelect(positive, new Vector<float>(g[i..]), zero).CopyTo(g[i..]);
                }
                for (; i < g.Length; i++)
                {
                    g[i] = a[i] > 0 ? g[i] : 0;
                }
                break;
            case AutoClipNetActivation.LeakyReLU:
                var slope = new Vector<float>(Activations.LeakySlope);
                for (; i <= g.Length - width; i += width)
                {
                    var positive = Vector.GreaterThan(new Vector<float>(a[i..]), zero);
                    (new Vector<float>(g[i..]) * Vector.ConditionalSelect(positive, one, slope)).CopyTo(g[i..]);
                }
                for (; i < g.Length; i++)
                {
                    g[i] *= a[i] > 0 ? 1 : Activations.LeakySlope;
                }
                break;
            case AutoClipNetActivation.Tanh:
                for (; i <= g.Length - width; i += width)
                {
                    var av = new Vector<float>(a[i..]);
                    (new Vector<float>(g[i..]) * (one - av * av)).CopyTo(g[i..]);
                }
                for (; i < g.Length; i++)
                {
                    g[i] *= 1 - a[i] * a[i];
                }
                break;
            case AutoClipNetActivation.Selu:
                // x > 0: λ; x ≤ 0: λα·eˣ = a + λα.
                var scale = new Vector<float>(SeluScale);
                var scaleAlpha = new Vector<float>(SeluScaleAlpha);
                for (; i <= g.Length - width; i += width)
                {
                    var av = new Vector<float>(a[i..]);
                    var positive = Vector.GreaterThan(av, zero);
                    (new Vector<float>(g[i..]) * Vector.ConditionalSelect(positive, scale, av + scaleAlpha)).CopyTo(g[i..]);
                }
                for (; i < g.Length; i++)
                {
                    g[i] *= a[i] > 0 ? SeluScale : a[i] + SeluScaleAlpha;
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Its derivative needs the input.");
        }
    }
}
