// Every use of ML.NET internals in this assembly goes through the types of this project, which compile
// against publicized Microsoft.ML.Core and Microsoft.ML.Data (see MLNetInternals.targets). The runtime
// honours IgnoresAccessChecksTo, so the same code runs against the real, signed ML.NET assemblies.
// Microsoft.ML is pinned to exactly 5.0.1 (Directory.Packages.props); MLNetInternalsTests fails loudly
// if any internal member used here moves.

[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]

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
