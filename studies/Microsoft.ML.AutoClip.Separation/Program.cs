// AutoClip in the paper's own setting, in plain TorchSharp: two-speaker speech separation (docs/separation.md).
//
//   dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Separation -- corpus    synthesise the corpus with espeak-ng into data/speech (a few minutes)
//   dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Separation -- study     the percentile sweep, docs/separation.md and its figures
//   dotnet run -c Release --project studies/Microsoft.ML.AutoClip.Separation -- study --quick   tiny sizes on the committed sample (CI)
//   options of study: --seeds 1,2,3  --percentiles 10,100 (AutoClip only)  --steps N  --name report (docs/<report>.md)
//                     --objectives mi,dc,wkm,chimera,snr (default mi; the quick mode runs all five)  --threads N (LibTorch's, default all cores)
//                     --report-only (no training: the report from the runs the files hold)  --hidden N --layers N (the BLSTM's size, default 2 x 64)
using System;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Separation;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
string root = Microsoft.ML.AutoClip.Shared.StudyTools.RepoRoot();
string command = args.FirstOrDefault() ?? "study";
bool quick = args.Contains("--quick");
string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

switch (command)
{
    case "corpus":
    {
        string output = Option("--output") ?? Path.Combine(root, "data", "speech");
        int train = int.Parse(Option("--train-sentences") ?? "400", CultureInfo.InvariantCulture);
        int test = int.Parse(Option("--test-sentences") ?? "80", CultureInfo.InvariantCulture);
        Corpus.Make(output, train, test);
        return 0;
    }
    case "sample":
    {
        // The slice committed for CI: the first training and test utterances of a corpus.
        string source = Option("--corpus") ?? Path.Combine(root, "data", "speech");
        string output = Option("--output") ?? Path.Combine(root, "data", "speech-sample");
        var lines = File.ReadAllLines(Path.Combine(source, "corpus.tsv"));
        var kept = lines.Skip(1).Where(l => l.Contains("\ttrain\t")).Take(24).Concat(lines.Skip(1).Where(l => l.Contains("\ttest\t")).Take(8)).ToList();
        Directory.CreateDirectory(output);
        foreach (string line in kept)
        {
            string file = line.Split('\t')[0];
            File.Copy(Path.Combine(source, file), Path.Combine(output, file), overwrite: true);
        }
        File.WriteAllLines(Path.Combine(output, "corpus.tsv"), kept.Prepend(lines[0]));
        Console.WriteLine($"Wrote {kept.Count} utterances to {output}.");
        return 0;
    }
    case "study":
    {
        string corpus = Option("--corpus") ?? Path.Combine(root, "data", quick ? "speech-sample" : "speech");
        string docs = Option("--docs") ?? (quick ? Path.Combine(Path.GetTempPath(), "autoclip-separation-quick") : Path.Combine(root, "docs"));
        return Study.Run(corpus, docs, quick, Option("--seeds"), Option("--percentiles"), Option("--steps"), Option("--name"), Option("--objectives"), Option("--threads"), args.Contains("--report-only"), Option("--hidden"), Option("--layers"));
    }
    default:
        Console.Error.WriteLine($"Unknown command '{command}': corpus, sample or study.");
        return 2;
}
