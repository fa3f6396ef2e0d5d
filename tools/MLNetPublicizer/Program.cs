// Usage: MLNetPublicizer <output-folder> <assembly.dll>...
// Writes a copy of each assembly in which every type is public, every internal or protected
// internal member is public, and every private protected member is protected. Private members,
// the assembly identity and the strong-name key stay as they are; the copy is only compiled against.
using System;
using System.IO;
using System.Linq;
using Mono.Cecil;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: MLNetPublicizer <output-folder> <assembly.dll>...");
    return 2;
}
string outputFolder = args[0];
Directory.CreateDirectory(outputFolder);

var resolver = new DefaultAssemblyResolver();
foreach (string dir in args.Skip(1).Select(p => Path.GetDirectoryName(Path.GetFullPath(p))!).Distinct())
{
    resolver.AddSearchDirectory(dir);
}

foreach (string input in args.Skip(1))
{
    using var assembly = AssemblyDefinition.ReadAssembly(input, new ReaderParameters { AssemblyResolver = resolver });
    int changed = 0;
    foreach (var type in assembly.MainModule.GetTypes())
    {
        changed += Publicize(type);
    }
    string output = Path.Combine(outputFolder, Path.GetFileName(input));
    string temp = output + ".tmp";
    assembly.Write(temp);
    File.Move(temp, output, overwrite: true);
    Console.WriteLine($"MLNetPublicizer: {Path.GetFileName(input)}: {changed} types and members opened -> {output}");
}
return 0;

static int Publicize(TypeDefinition type)
{
    int changed = 0;
    if (type.IsNested)
    {
        if (!type.IsNestedPublic)
        {
            type.Attributes = (type.Attributes & ~TypeAttributes.VisibilityMask) | TypeAttributes.NestedPublic;
            changed++;
        }
    }
    else if (!type.IsPublic)
    {
        type.Attributes = (type.Attributes & ~TypeAttributes.VisibilityMask) | TypeAttributes.Public;
        changed++;
    }

    foreach (var method in type.Methods)
    {
        var access = method.Attributes & MethodAttributes.MemberAccessMask;
        var opened = access switch
        {
            MethodAttributes.Assembly or MethodAttributes.FamORAssem => MethodAttributes.Public,
            MethodAttributes.FamANDAssem => MethodAttributes.Family,
            _ => access,
        };
        if (opened != access)
        {
            method.Attributes = (method.Attributes & ~MethodAttributes.MemberAccessMask) | opened;
            changed++;
        }
    }
    foreach (var field in type.Fields)
    {
        var access = field.Attributes & FieldAttributes.FieldAccessMask;
        var opened = access switch
        {
            FieldAttributes.Assembly or FieldAttributes.FamORAssem => FieldAttributes.Public,
            FieldAttributes.FamANDAssem => FieldAttributes.Family,
            _ => access,
        };
        if (opened != access)
        {
            field.Attributes = (field.Attributes & ~FieldAttributes.FieldAccessMask) | opened;
            changed++;
        }
    }
    return changed;
}
