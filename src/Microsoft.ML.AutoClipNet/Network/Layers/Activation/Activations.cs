using System;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet
{
    /// <summary>The nonlinearity after each hidden layer of an AutoClipNet network.</summary>
    public enum AutoClipNetActivation
    {
        /// <summary>max(0, x).</summary>
        ReLU = 0,

        /// <summary>The hyperbolic tangent.</summary>
        Tanh = 1,

        /// <summary>The Gaussian error linear unit, x·Φ(x) (the exact erf form).</summary>
        Gelu = 2,

        /// <summary>max(0.01·x, x).</summary>
        LeakyReLU = 3,

        /// <summary>The scaled exponential linear unit (Klambauer et al., 2017).</summary>
        Selu = 4,

        /// <summary>x·tanh(softplus(x)) (Misra, 2019).</summary>
        Mish = 5,

        /// <summary>x·sigmoid(x), also called swish.</summary>
        SiLU = 6,
    }
}

namespace Microsoft.ML.AutoClipNet.Network
{
    /// <summary>
    /// Every activation's math, for each engine: managed for one row (<see cref="Apply"/>), in place on a LibTorch batch
    /// (<see cref="ApplyInPlace"/>), as ONNX nodes (<see cref="SaveAsOnnx"/>) and as an autograd function (<see cref="Forward"/>:
    /// the training step's derivative of GELU, Mish and SiLU, and the tests' reference). The training step's own SELU and
    /// derivatives are in ActivationStep.cs. They agree to float rounding (the tests check every one against the reference).
    /// </summary>
    internal static class Activations
    {
        public const float LeakySlope = 0.01f;
        public const double SeluAlpha = 1.6732632423543772848170429916717;
        public const double SeluScale = 1.0507009873554804934193349852946;

        public static bool IsDefined(AutoClipNetActivation activation) => Enum.IsDefined(activation);

        /// <summary>Applies the activation to every value, in place.</summary>
        public static void Apply(AutoClipNetActivation activation, Span<float> values)
        {
            switch (activation)
            {
                case AutoClipNetActivation.ReLU:
                    for (int i = 0; i < values.Length; i++)
                    {
                        values[i] = values[i] > 0 ? values[i] : 0f;
                    }
                    break;
                case AutoClipNetActivation.Tanh:
                    for (int i = 0; i < values.Length; i++)
                    {
                        values[i] = MathF.Tanh(values[i]);
                    }
                    break;
                case AutoClipNetActivation.Gelu:
                    for (int i = 0; i < values.Length; i++)
                    {
                        double x = values[i];
                        values[i] = (float)(0.5 * x * (1 + Erf(x / Math.Sqrt(2))));
                    }
                    break;
                case AutoClipNetActivation.LeakyReLU:
                    for (int i = 0; i < values.Length; i++)
                    {
                        values[i] = values[i] > 0 ? values[i] : LeakySlope * values[i];
                    }
                    break;
                case AutoClipNetActivation.Selu:
                    for (int i = 0; i < values.Length; i++)
                    {
                        double x = values[i];
                        values[i] = (float)(SeluScale * (x > 0 ? x : SeluAlpha * (Math.Exp(x) - 1)));
                    }
                    break;
                case AutoClipNetActivation.Mish:
                    for (int i = 0; i < values.Length; i++)
                    {
                        double x = values[i];
                        double softplus = x > 20 ? x : Math.Log(1 + Math.Exp(x));
                        values[i] = (float)(x * Math.Tanh(softplus));
                    }
                    break;
                case AutoClipNetActivation.SiLU:
                    for (int i = 0; i < values.Length; i++)
                    {
                        double x = values[i];
                        values[i] = (float)(x / (1 + Math.Exp(-x)));
                    }
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
            }
        }

        /// <summary>Applies the activation to a LibTorch tensor in place (no autograd).</summary>
        public static void ApplyInPlace(AutoClipNetActivation activation, Tensor values)
        {
            switch (activation)
            {
                case AutoClipNetActivation.ReLU:
                    values.relu_();
                    break;
                case AutoClipNetActivation.Tanh:
                    values.tanh_();
                    break;
                case AutoClipNetActivation.Gelu:
                    values.gelu_();
                    break;
                case AutoClipNetActivation.LeakyReLU:
                    values.leaky_relu_(Scalars.LeakySlope);
                    break;
                case AutoClipNetActivation.Selu:
                    values.selu_();
                    break;
                case AutoClipNetActivation.Mish:
                    using (var softplus = values.clamp_max(Scalars.SoftplusThreshold))
                    {
                        values.mul_(softplus.exp_().log1p_().tanh_());
                    }
                    break;
                case AutoClipNetActivation.SiLU:
                    values.silu_();
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
            }
        }

        /// <summary>The activation as ONNX nodes: one op where opset 12 has it, written out where it has not (GELU, Mish, SiLU).</summary>
        public static string SaveAsOnnx(AutoClipNetActivation activation, IOnnxGraph graph, string x)
        {
            switch (activation)
            {
                case AutoClipNetActivation.ReLU:
                    return graph.Unary("Relu", x);
                case AutoClipNetActivation.Tanh:
                    return graph.Unary("Tanh", x);
                case AutoClipNetActivation.Gelu:
                {
                    // The exact GELU: x·(1 + erf(x/√2))/2.
                    var erf = graph.Unary("Erf", graph.Binary("Mul", x, graph.Scalar((float)(1 / Math.Sqrt(2)), "InverseSqrt2")));
                    var y = graph.Binary("Mul", x, graph.Binary("Add", erf, graph.Scalar(1f, "One")));
                    return graph.Binary("Mul", y, graph.Scalar(0.5f, "Half"));
                }
                case AutoClipNetActivation.LeakyReLU:
                    return graph.Unary("LeakyRelu", x, ("alpha", LeakySlope));
                case AutoClipNetActivation.Selu:
                    return graph.Unary("Selu", x, ("alpha", (float)SeluAlpha), ("gamma", (float)SeluScale));
                case AutoClipNetActivation.Mish:
                    return graph.Binary("Mul", x, graph.Unary("Tanh", graph.Unary("Softplus", x)));
                case AutoClipNetActivation.SiLU:
                    return graph.Binary("Mul", x, graph.Unary("Sigmoid", x));
                default:
                    throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
            }
        }

        /// <summary>The activation as a differentiable function: the training step takes GELU's, Mish's and SiLU's derivatives through it.</summary>
        public static Tensor Forward(AutoClipNetActivation activation, Tensor x) => activation switch
        {
            AutoClipNetActivation.ReLU => nn.functional.relu(x),
            AutoClipNetActivation.Tanh => x.tanh(),
            AutoClipNetActivation.Gelu => nn.functional.gelu(x),
            AutoClipNetActivation.LeakyReLU => x.leaky_relu(Scalars.LeakySlope),
            AutoClipNetActivation.Selu => nn.functional.selu(x),
            // x·tanh(softplus x), softplus written out: LibTorch's threshold 20 (where tanh is 1 in float) as a clamp.
            AutoClipNetActivation.Mish => x.mul(x.clamp_max(Scalars.SoftplusThreshold).exp().log1p().tanh()),
            AutoClipNetActivation.SiLU => nn.functional.silu(x),
            _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
        };

        /// <summary>
        /// The error function in double precision (W. J. Cody's rational approximations, relative error
        /// below 1e-15), so that the managed GELU matches LibTorch's exact one to float rounding.
        /// </summary>
        public static double Erf(double x)
        {
            double ax = Math.Abs(x);
            if (ax <= 0.46875)
            {
                double z = x * x;
                double num = (((0.185777706184603153 * z + 3.16112374387056560) * z + 113.864154151050156) * z + 377.485237685302021) * z + 3209.37758913846947;
                double den = (((z + 23.6012909523441209) * z + 244.024637934444173) * z + 1282.61652607737228) * z + 2844.23683343917062;
                return x * num / den;
            }
            double erfc = Erfc(ax);
            return x > 0 ? 1 - erfc : erfc - 1;
        }

        private static double Erfc(double ax)
        {
            double result;
            if (ax < 4)
            {
                double num = (((((((2.15311535474403846e-8 * ax + 5.64188496988670089e-1) * ax + 8.88314979438837594) * ax + 66.1191906371416295) * ax
                    + 298.635138197400131) * ax + 881.952221241769090) * ax + 1712.04761263407058) * ax + 2051.07837782607147) * ax + 1230.33935479799725;
                double den = (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax + 537.181101862009858) * ax + 1621.38957456669019) * ax
                    + 3290.79923573345963) * ax + 4362.61909014324716) * ax + 3439.36767414372164) * ax + 1230.33935480374942;
                result = num / den;
            }
            else
            {
                double z = 1 / (ax * ax);
                double num = ((((1.63153871373020978e-2 * z + 3.05326634961232344e-1) * z + 3.60344899949804439e-1) * z + 1.25781726111229246e-1) * z
                    + 1.60837851487422766e-2) * z + 6.58749161529837803e-4;
                double den = ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 5.27905102951428412e-1) * z + 6.05183413124413191e-2) * z
                    + 2.33520497626869185e-3;
                result = (0.564189583547756287 - z * num / den) / ax;
            }
            // erfc(x) = exp(-x²) · result, with x² split to keep precision.
            double xs = Math.Floor(ax * 16) / 16;
            double del = (ax - xs) * (ax + xs);
            return Math.Exp(-xs * xs) * Math.Exp(-del) * result;
        }
    }
}
