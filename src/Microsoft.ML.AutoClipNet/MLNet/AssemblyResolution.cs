using System;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.AutoClipNet;

/// <summary>
/// ML.NET finds a saved component's loader with <c>Assembly.Load(name)</c>. When this assembly was
/// loaded from a path rather than from the application's dependencies (a notebook's <c>#r "path"</c>,
/// a plug-in folder), that lookup by name fails although the assembly is already in the process.
/// This answers it with the loaded assembly, so <c>mlContext.Model.Load</c> works there too.
/// </summary>
internal static class AssemblyResolution
{
#pragma warning disable CA2255 // A library's module initializer: it only adds a resolver for this library's own name.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => AppDomain.CurrentDomain.AssemblyResolve += Resolve;

    private static Assembly? Resolve(object? sender, ResolveEventArgs args)
    {
        string? requested = new AssemblyName(args.Name).Name;
        foreach (var assembly in new[] { typeof(AssemblyResolution).Assembly, typeof(AutoClip.AutoClipper).Assembly })
        {
            if (string.Equals(requested, assembly.GetName().Name, StringComparison.Ordinal))
            {
                return assembly;
            }
        }
        return null;
    }
}
