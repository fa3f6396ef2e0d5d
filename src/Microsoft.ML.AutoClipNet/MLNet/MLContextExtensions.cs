using System;

namespace Microsoft.ML;

/// <summary>Extensions of <see cref="MLContext"/> that AutoClipNet users need.</summary>
public static class AutoClipNetMLContextExtensions
{
    /// <summary>
    /// Asks every running training of this context (AutoClipNet included) to stop: the next check,
    /// between two minibatches, throws <see cref="OperationCanceledException"/>. ML.NET 5 keeps
    /// <c>MLContext.CancelExecution</c> internal; this makes it available. The context stays
    /// cancelled: create a new <see cref="MLContext"/> for further work.
    /// </summary>
    public static void CancelExecution(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        // The internal MLContext.CancelExecution (ML.NET internals: see MLNetInternals.cs).
        mlContext.CancelExecution();
    }
}
