using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Mono.Cecil;
using Mono.Cecil.Cil;
using TorchSharp;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// TorchSharp turns a number passed as a <c>Scalar</c> (and every defaulted alpha, as in <c>a + b</c>, and the
/// exponent of <c>square()</c>) into a temporary LibTorch scalar whose last managed reference ends when its handle
/// is read, so the finalizer thread may free it while LibTorch still reads it. Two CI runs died that way
/// ("Expected false to be true" in Scalar::toFloat, an internal assert in Scalar::equal under pow). A race shows up
/// once in thousands of runs, so this test reads the IL instead: no method of the two libraries may call a
/// TorchSharp method that makes such a temporary, nor make one itself.
/// </summary>
[TestClass]
public sealed class ScalarLifetimeTests
{
    private const string ScalarType = "TorchSharp.Scalar";

    [TestMethod]
    public void The_libraries_never_hand_LibTorch_a_temporary_scalar()
    {
        var makers = Makers.Value;
        Assert.IsTrue(makers.Contains("TorchSharp.torch/Tensor TorchSharp.torch/Tensor::square()"),
            "the analysis must see that square() makes a temporary exponent");

        var violations = new List<string>();
        foreach (var assembly in new[] { typeof(AutoClip.AutoClipper).Assembly, typeof(AutoClipNetTrainer).Assembly })
        {
            violations.AddRange(Violations(assembly.Location, makers));
        }
        Assert.IsEmpty(violations, "temporary LibTorch scalars (pass a long-lived Scalar, see Network/Scalars.cs):" + Environment.NewLine + string.Join(Environment.NewLine, violations));
    }

    /// <summary>
    /// The repository's other TorchSharp programs (studies, benchmarks, examples) too: a study run died of this race.
    /// They are built before these tests (build-order references of this project), in this configuration.
    /// </summary>
    [TestMethod]
    public void The_studies_benchmarks_and_examples_never_hand_LibTorch_a_temporary_scalar()
    {
        var makers = Makers.Value;
        string configuration = new System.IO.DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<configuration>/net10.0
        var projects = new[] { "studies", "bench", "examples" }
            .SelectMany(folder => System.IO.Directory.GetFiles(System.IO.Path.Combine(TestData.RepoRoot, folder), "*.csproj", System.IO.SearchOption.AllDirectories))
            .Where(project => System.IO.File.ReadAllText(project).Contains("Include=\"TorchSharp", StringComparison.Ordinal))
            .ToList();
        Assert.IsGreaterThanOrEqualTo(5, projects.Count, string.Join(", ", projects));
        var violations = new List<string>();
        foreach (string project in projects)
        {
            string name = System.IO.Path.GetFileNameWithoutExtension(project);
            string assembly = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(project)!, "bin", configuration, "net10.0", name + ".dll");
            Assert.IsTrue(System.IO.File.Exists(assembly), $"{assembly} is not built: it must be a build-order reference of the long tests' project.");
            violations.AddRange(Violations(assembly, makers).Select(v => $"{name}: {v}"));
        }
        Assert.IsEmpty(violations, "temporary LibTorch scalars (hold the Scalar for the call):" + Environment.NewLine + string.Join(Environment.NewLine, violations));
    }

    [TestMethod]
    public void The_analysis_flags_the_patterns_that_crashed()
    {
        var makers = Makers.Value;
        var module = ModuleDefinition.ReadModule(typeof(ScalarLifetimeTests).Assembly.Location);
        var bad = module.GetType(typeof(Patterns).FullName!.Replace('+', '/'));
        var found = bad.Methods.Where(m => m.HasBody).ToDictionary(m => m.Name, m => MethodViolations(m, makers).ToList());
        Assert.IsNotEmpty(found[nameof(Patterns.Square)]);
        Assert.IsNotEmpty(found[nameof(Patterns.ImplicitNumber)]);
        Assert.IsNotEmpty(found[nameof(Patterns.DefaultedAlpha)]);
        Assert.IsNotEmpty(found[nameof(Patterns.Operator)]);
        Assert.IsEmpty(found[nameof(Patterns.HeldScalar)]);
        Assert.IsEmpty(found[nameof(Patterns.ExplicitAlpha)]);
    }

    /// <summary>Patterns the analysis must tell apart; never run.</summary>
    private static class Patterns
    {
        private static readonly Scalar One = 1f.ToScalar();

        public static torch.Tensor Square(torch.Tensor x) => x.square();

        public static torch.Tensor ImplicitNumber(torch.Tensor x) => x.mul(2f);

        public static torch.Tensor DefaultedAlpha(torch.Tensor x, torch.Tensor y) => x.add(y);

        public static torch.Tensor Operator(torch.Tensor x, torch.Tensor y) => x + y;

        public static torch.Tensor ExplicitAlpha(torch.Tensor x, torch.Tensor y) => x.add(y, One);

        public static torch.Tensor HeldScalar(torch.Tensor x)
        {
            using var two = 2f.ToScalar();
            return x.mul(two);
        }
    }

    private static IEnumerable<string> Violations(string assemblyPath, HashSet<string> makers)
    {
        using var module = ModuleDefinition.ReadModule(assemblyPath);
        foreach (var type in AllTypes(module.Types))
        {
            foreach (var method in type.Methods.Where(m => m.HasBody))
            {
                foreach (var violation in MethodViolations(method, makers))
                {
                    yield return violation;
                }
            }
        }
    }

    private static IEnumerable<string> MethodViolations(MethodDefinition method, HashSet<string> makers)
    {
        foreach (var instruction in method.Body.Instructions)
        {
            if (instruction.Operand is not MethodReference callee || (instruction.OpCode != OpCodes.Call && instruction.OpCode != OpCodes.Callvirt && instruction.OpCode != OpCodes.Newobj))
            {
                continue;
            }
            string where = $"{method.DeclaringType.FullName}::{method.Name} (IL_{instruction.Offset:x4})";
            if (IsImplicitScalar(callee))
            {
                yield return $"{where}: a number converted to a temporary Scalar";
            }
            else if (IsExplicitScalar(callee))
            {
                if (!IsStored(instruction.Next))
                {
                    yield return $"{where}: ToScalar() passed on without being held";
                }
            }
            else if (makers.Contains(Key(callee)))
            {
                yield return $"{where}: calls {callee.DeclaringType.Name}::{callee.Name}, which makes a temporary Scalar";
            }
        }
    }

    /// <summary>
    /// TorchSharp methods that make a Scalar they do not dispose (from a number, a default or ToScalar), directly or
    /// through another such method of TorchSharp.
    /// </summary>
    /// <summary>The analysis of TorchSharp's IL, once for the three tests.</summary>
    private static readonly Lazy<HashSet<string>> Makers = new(TorchSharpMethodsThatMakeTemporaryScalars);

    private static HashSet<string> TorchSharpMethodsThatMakeTemporaryScalars()
    {
        using var module = ModuleDefinition.ReadModule(typeof(torch).Assembly.Location);
        var methods = AllTypes(module.Types).SelectMany(t => t.Methods).Where(m => m.HasBody).ToList();
        var calls = methods.ToDictionary(Key, m => m.Body.Instructions.Select(i => i.Operand).OfType<MethodReference>().ToList());
        var makers = new HashSet<string>(methods.Where(m =>
            !IsImplicitScalar(m) && !IsExplicitScalar(m) &&
            calls[Key(m)].Any(c => IsImplicitScalar(c) || IsExplicitScalar(c)) && !calls[Key(m)].Any(IsScalarDispose)).Select(Key));
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (var method in methods)
            {
                string key = Key(method);
                if (!makers.Contains(key) && !IsImplicitScalar(method) && !IsExplicitScalar(method) && calls[key].Any(c => makers.Contains(Key(c))))
                {
                    grew |= makers.Add(key);
                }
            }
        }
        return makers;
    }

    private static string Key(MethodReference method) => method.GetElementMethod().FullName;

    private static bool IsImplicitScalar(MethodReference method) =>
        method.Name == "op_Implicit" && method.ReturnType.FullName == ScalarType;

    private static bool IsExplicitScalar(MethodReference method) =>
        (method.Name == "ToScalar" && method.ReturnType.FullName == ScalarType) ||
        (method.Name == ".ctor" && method.DeclaringType.FullName == ScalarType);

    private static bool IsScalarDispose(MethodReference method) =>
        method.Name == "Dispose" && method.DeclaringType.FullName is ScalarType or "System.IDisposable";

    private static bool IsStored(Instruction? next) =>
        next is not null && (next.OpCode.Code is Code.Stsfld or Code.Stfld || next.OpCode.Name.StartsWith("stloc", StringComparison.Ordinal));

    private static IEnumerable<TypeDefinition> AllTypes(IEnumerable<TypeDefinition> types) =>
        types.SelectMany(t => new[] { t }.Concat(AllTypes(t.NestedTypes)));
}
