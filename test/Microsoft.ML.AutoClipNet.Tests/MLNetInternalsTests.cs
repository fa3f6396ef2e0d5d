using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using Microsoft.ML.AutoClipNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Microsoft.ML.AutoClipNet compiles against publicized ML.NET assemblies. These tests resolve every
/// ML.NET type and member it references against the real Microsoft.ML assemblies loaded at run time,
/// so an ML.NET change that moves or removes one fails here, loudly, rather than in a user's app.
/// </summary>
[TestClass]
public sealed class MLNetInternalsTests
{
    private static readonly Assembly AutoClipNet = typeof(AutoClipNetTrainer).Assembly;
    private static readonly string[] MLNetAssemblies = { "Microsoft.ML.Core", "Microsoft.ML.Data" };

    /// <summary>The ML.NET versions AutoClipNet's package range admits and CI runs on (Directory.Packages.props).</summary>
    private static readonly string[] SupportedVersions = { "5.0.1", "6.0.0" };

    /// <summary>The Microsoft.ML this build of the tests asked for (-p:MLNetRuntimeVersion, 5.0.1 by default).</summary>
    internal static string RequestedVersion => typeof(MLNetInternalsTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "MLNetRuntimeVersion").Value!;

    [TestMethod]
    public void The_runtime_is_the_Microsoft_ML_the_tests_asked_for_and_a_supported_one()
    {
        CollectionAssert.Contains(SupportedVersions, RequestedVersion);
        foreach (string name in MLNetAssemblies)
        {
            var assembly = Assembly.Load(name);
            string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
            StringAssert.StartsWith(version, RequestedVersion + "+", $"{name} is {version}; the tests asked for {RequestedVersion}");
        }
    }

    [TestMethod]
    public void Every_referenced_ML_NET_member_resolves_against_the_real_assemblies()
    {
        var (members, failures) = ResolveReferences();
        Assert.IsEmpty(failures, "ML.NET members AutoClipNet uses are missing:\n" + string.Join("\n", failures));
        Assert.IsGreaterThan(20, members.Count);
    }

    /// <summary>The internal ML.NET members used are tracked, so that using a new one is a deliberate change.</summary>
    [TestMethod]
    public void The_internal_ML_NET_members_used_are_the_tracked_ones()
    {
        var (members, _) = ResolveReferences();
        string actual = string.Join("\n", members.Where(m => !m.IsPublic).Select(m => m.Description).Distinct().Order(StringComparer.Ordinal)) + "\n";
        string tracked = Path.Combine(TestData.RepoRoot, "test", "Microsoft.ML.AutoClipNet.Tests", "PublicApi", "MLNetInternalsUsed.txt");
        string expected = File.Exists(tracked) ? File.ReadAllText(tracked).ReplaceLineEndings("\n") : "";
        if (actual != expected)
        {
            string received = Path.Combine(AppContext.BaseDirectory, "MLNetInternalsUsed.received.txt");
            File.WriteAllText(received, actual);
            Assert.Fail($"AutoClipNet now uses other ML.NET internals. If that is intended, copy {received} to {tracked}.");
        }
    }

    /// <summary>
    /// What each internal ML.NET member AutoClipNet uses is on this runtime, as reviewed: its signature and a hash of its IL
    /// (PublicApi/MLNetInternals.&lt;version&gt;.txt, one file per supported runtime). Another ML.NET version whose internals
    /// changed under the same names shows up here as a diff to review, not as a surprise in a user's app. Reviewed for 6.0.0:
    /// four hashes differ from 5.0.1's (SchemaShape.Column's constructor, AnnotationUtils.AnnotationsForMulticlassScoreColumn and
    /// GetTrainerOutputAnnotation, Contracts.CheckAlive); their opcodes, branch offsets, locals and the members every token names
    /// are the same: only token numbers moved, because 6.0.0's Microsoft.ML.Core references System.Runtime.CompilerServices.Unsafe.
    /// </summary>
    [TestMethod]
    public void The_internal_ML_NET_members_used_are_as_reviewed_on_this_runtime()
    {
        var (members, _) = ResolveReferences();
        string actual = string.Join("\n", members.Where(m => !m.IsPublic).Select(m => $"{m.Description} {BodyHash(m.Member)}")
            .Distinct().Order(StringComparer.Ordinal)) + "\n";
        string name = $"MLNetInternals.{RequestedVersion}.txt";
        string tracked = Path.Combine(TestData.RepoRoot, "test", "Microsoft.ML.AutoClipNet.Tests", "PublicApi", name);
        string expected = File.Exists(tracked) ? File.ReadAllText(tracked).ReplaceLineEndings("\n") : "";
        if (actual != expected)
        {
            string received = Path.Combine(AppContext.BaseDirectory, name.Replace(".txt", ".received.txt", StringComparison.Ordinal));
            File.WriteAllText(received, actual);
            Assert.Fail($"The ML.NET internals AutoClipNet uses differ on Microsoft.ML {RequestedVersion} from the reviewed ones. Review the diff; if it is safe, copy {received} to {tracked}.");
        }
    }

    /// <summary>The first 16 hex digits of the SHA-256 of a method's IL ("-" for fields, types and members without a body).</summary>
    private static string BodyHash(MemberInfo? member)
    {
        byte[]? il = member is MethodBase method ? method.GetMethodBody()?.GetILAsByteArray() : null;
        return il is null ? "-" : Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(il))[..16];
    }

    private sealed record Used(string Description, bool IsPublic, MemberInfo? Member = null);

    private static (List<Used> Members, List<string> Failures) ResolveReferences()
    {
        using var stream = File.OpenRead(AutoClipNet.Location);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var module = AutoClipNet.ManifestModule;
        var used = new List<Used>();
        var failures = new List<string>();

        foreach (var handle in reader.TypeReferences)
        {
            var reference = reader.GetTypeReference(handle);
            if (!FromMLNet(reader, reference))
            {
                continue;
            }
            string name = reader.GetString(reference.Namespace) + "." + reader.GetString(reference.Name);
            try
            {
                var type = module.ResolveType(MetadataTokens.GetToken(handle));
                used.Add(new Used("type " + type.FullName, type.IsVisible, type));
            }
            catch (Exception e) when (e is TypeLoadException or ArgumentException or BadImageFormatException)
            {
                failures.Add($"type {name}: {e.Message}");
            }
        }

        foreach (var handle in reader.MemberReferences)
        {
            var reference = reader.GetMemberReference(handle);
            var parent = MLNetParent(reader, reference.Parent);
            if (parent is null)
            {
                continue;
            }
            string name = reader.GetString(reference.Name);
            MemberInfo? member;
            try
            {
                member = module.ResolveMember(MetadataTokens.GetToken(handle));
            }
            catch (ArgumentException) when (module.ResolveType(MetadataTokens.GetToken(parent.Value)) is { IsGenericTypeDefinition: true } definition)
            {
                // A member of an ML.NET generic type instantiated over one of AutoClipNet's own type
                // parameters: check the open definition by name (its signature needs the generic context).
                var found = definition.GetMember(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static);
                if (found.Length == 0)
                {
                    failures.Add($"member {definition.FullName}::{name} is missing");
                }
                continue;
            }
            catch (Exception e) when (e is MissingMemberException or TypeLoadException or ArgumentException or BadImageFormatException)
            {
                failures.Add($"member {name}: {e.GetType().Name}: {e.Message}");
                continue;
            }
            if (member?.DeclaringType is not { } declaring || !MLNetAssemblies.Contains(declaring.Assembly.GetName().Name))
            {
                continue;
            }
            bool isPublic = declaring.IsVisible && member switch
            {
                MethodBase m => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly,
                FieldInfo f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly,
                _ => true,
            };
            string generic = declaring.IsGenericType ? declaring.GetGenericTypeDefinition().FullName! : declaring.FullName!;
            used.Add(new Used($"{member.MemberType.ToString().ToLowerInvariant()} {generic}::{member}", isPublic, member));
        }
        return (used, failures);
    }

    /// <summary>The ML.NET type reference a member reference's parent names (directly or as a generic instantiation), or null.</summary>
    private static EntityHandle? MLNetParent(MetadataReader reader, EntityHandle parent)
    {
        if (parent.Kind == HandleKind.TypeSpecification)
        {
            var blob = reader.GetBlobReader(reader.GetTypeSpecification((TypeSpecificationHandle)parent).Signature);
            if (blob.ReadByte() != 0x15) // ELEMENT_TYPE_GENERICINST
            {
                return null;
            }
            blob.ReadByte(); // CLASS or VALUETYPE
            parent = blob.ReadTypeHandle();
        }
        return parent.Kind == HandleKind.TypeReference && FromMLNet(reader, reader.GetTypeReference((TypeReferenceHandle)parent)) ? parent : null;
    }

    private static bool FromMLNet(MetadataReader reader, TypeReference reference)
    {
        while (reference.ResolutionScope.Kind == HandleKind.TypeReference)
        {
            reference = reader.GetTypeReference((TypeReferenceHandle)reference.ResolutionScope);
        }
        if (reference.ResolutionScope.Kind != HandleKind.AssemblyReference)
        {
            return false;
        }
        string assembly = reader.GetString(reader.GetAssemblyReference((AssemblyReferenceHandle)reference.ResolutionScope).Name);
        return MLNetAssemblies.Contains(assembly);
    }
}
