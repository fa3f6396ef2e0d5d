using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.AutoClipNet.Network;

/// <summary>
/// LibTorch scalars that live as long as the process. TorchSharp turns a number passed where it expects a
/// <c>Scalar</c> (and every defaulted alpha, as in <c>a + b</c> or <c>add_(b)</c>) into a temporary Scalar whose
/// only reference ends once its handle has been read, so the garbage collector may finalize, and free, it while
/// LibTorch is still reading it: a study run died in LibTorch's <c>Scalar::toFloat</c> ("Expected false to be true")
/// that way. The training and scoring paths pass these instead, and a scalar that depends on data is held by a
/// <c>using</c> for the whole call. (Tensor-tensor <c>sub</c>, <c>mul</c> and <c>div</c>, <c>addmm</c>'s float
/// alpha and beta and <c>norm(float)</c> make no Scalar.) ScalarLifetimeTests reads the IL of both libraries and
/// fails on any call that would make a temporary one, however deep inside TorchSharp.
/// </summary>
internal static class Scalars
{
    public static readonly Scalar Zero = 0f.ToScalar();
    public static readonly Scalar One = 1f.ToScalar();
    public static readonly Scalar Two = 2f.ToScalar();
    public static readonly Scalar TwoPi = ((float)(2 * System.Math.PI)).ToScalar();
    public static readonly Scalar LeakySlope = Activations.LeakySlope.ToScalar();

    /// <summary>Above this input softplus is the input itself (LibTorch's default threshold): Mish clamps its softplus input here.</summary>
    public static readonly Scalar SoftplusThreshold = 20f.ToScalar();
}
