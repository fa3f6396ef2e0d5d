// Every use of ML.NET internals in this assembly goes through the types of this project, which compile
// against publicized Microsoft.ML.Core and Microsoft.ML.Data (see MLNetInternals.targets). The runtime
// honours IgnoresAccessChecksTo, so the same code runs against the real, signed ML.NET assemblies.
// Microsoft.ML is pinned to exactly 5.0.1 (Directory.Packages.props); MLNetInternalsTests fails loudly
// if any internal member used here moves.

[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]

namespace Microsoft.ML.AutoClipNet
{
    using System.IO;
    using Microsoft.ML;

    /// <summary>Version checks on loading, with messages that say what to do.</summary>
    internal static class ModelVersions
    {
        /// <summary>
        /// Like <c>ModelLoadContext.CheckAtModel</c>, but a model written by a newer AutoClipNet gets an
        /// error that names this package instead of ML.NET's generic "model is too new".
        /// </summary>
        public static void CheckAtModel(ModelLoadContext ctx, VersionInfo version, string component)
        {
            var header = ctx.Header;
            if (header.ModelSignature == version.ModelSignature && header.ModelVerReadable > version.VerWrittenCur)
            {
                throw new InvalidDataException(
                    $"The {component} in this model was written by a newer version of Microsoft.ML.AutoClipNet (format 0x{header.ModelVerReadable:X8}); " +
                    $"this version reads formats up to 0x{version.VerWrittenCur:X8}. Update the Microsoft.ML.AutoClipNet package to load it.");
            }
            ctx.CheckAtModel(version);
        }
    }
}

namespace System.Runtime.CompilerServices
{
    /// <summary>Lets this assembly use the internals of the named assembly at run time (honoured by .NET, not by .NET Framework).</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute : Attribute
    {
        public IgnoresAccessChecksToAttribute(string assemblyName) => AssemblyName = assemblyName;

        public string AssemblyName { get; }
    }
}
