namespace Microsoft.ML.AutoClip;

/// <summary>What AutoClip did at one optimizer step.</summary>
/// <param name="Step">The 1-based index of the step (every call counts, skipped ones included).</param>
/// <param name="GradientNorm">The total L2 norm of the gradient before clipping (NaN or infinite when not finite).</param>
/// <param name="Threshold">The threshold the gradient was clipped to (+Infinity during warm-up, NaN when the step was skipped).</param>
/// <param name="Scale">The factor every gradient was multiplied by: <c>min(1, threshold / (norm + 1e-6))</c> when the norm exceeds the threshold, otherwise exactly 1 (see <see cref="AutoClipper.ClipScale"/>).</param>
/// <param name="Skipped">True when the gradient was not finite and the optimizer step must be skipped.</param>
public readonly record struct AutoClipStep(long Step, double GradientNorm, double Threshold, double Scale, bool Skipped)
{
    /// <summary>True when the gradient was scaled down.</summary>
    public bool Clipped => Scale < 1.0;
}
