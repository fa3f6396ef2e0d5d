using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;

namespace Microsoft.ML.AutoClip.Separation;

/// <summary>One utterance of the corpus: a sentence spoken by one synthetic speaker, 8 kHz.</summary>
public sealed record Utterance(string File, string Split, int Speaker, int Sentence, string Text, float[] Samples);

/// <summary>
/// The speech corpus: sentences from a seeded grammar, spoken by espeak-ng voices (variants, pitches and speeds),
/// resampled from espeak-ng's 22,050 Hz to 8 kHz, stored as 16-bit mono WAV files with an index (corpus.tsv).
/// Training sentences and test sentences are disjoint; every speaker speaks in both.
/// </summary>
public static class Corpus
{
    public const int SampleRate = 8000;

    /// <summary>The synthetic speakers: an espeak-ng voice variant, a pitch (0-99) and a speed (words a minute).</summary>
    public static readonly (string Voice, int Pitch, int Speed)[] Speakers =
    {
        ("en-us+m1", 40, 155), ("en-us+m2", 50, 165), ("en-us+m3", 35, 150), ("en-us+m4", 55, 170),
        ("en-us+m5", 45, 160), ("en-us+m6", 30, 145), ("en-us+m7", 60, 175), ("en-us+f1", 50, 160),
        ("en-us+f2", 60, 150), ("en-us+f3", 45, 170), ("en-us+f4", 65, 155), ("en-us+f5", 55, 165),
    };

    private static readonly string[] Subjects =
    {
        "the old farmer", "a young teacher", "my neighbour", "the tall soldier", "her brother", "the quiet student",
        "a clever fox", "the small dog", "our captain", "the busy doctor", "his cousin", "the new mayor", "a tired sailor",
        "the kind nurse", "that painter", "the grey cat", "a lonely child", "the baker", "the pilot", "my uncle",
    };

    private static readonly string[] Verbs =
    {
        "carried", "found", "painted", "opened", "watched", "dropped", "fixed", "borrowed", "cleaned", "wanted",
        "sold", "followed", "measured", "counted", "ordered", "hid", "washed", "pushed", "lifted", "described",
    };

    private static readonly string[] Objects =
    {
        "a wooden box", "the red kite", "seven letters", "a heavy basket", "the broken clock", "two silver coins",
        "the garden gate", "a bag of apples", "the yellow boat", "an old map", "the last train ticket", "a jar of honey",
        "the brass lamp", "three green bottles", "the morning paper", "a pile of stones", "the torn curtain", "a warm coat",
    };

    private static readonly string[] Endings =
    {
        "before the storm", "near the river", "after dinner", "in the dark hall", "on a cold morning", "at the market",
        "without a word", "behind the barn", "for the third time", "under the bridge", "by the window", "late at night",
        "with great care", "in a hurry", "during the summer", "beside the road", "at the station", "on the hill",
    };

    /// <summary>The sentences: distinct, from a grammar seeded with 2020; the first <paramref name="train"/> for training.</summary>
    public static List<string> Sentences(int count)
    {
        var random = new Random(2020);
        var sentences = new List<string>();
        var seen = new HashSet<string>();
        while (sentences.Count < count)
        {
            string s = $"{Pick(random, Subjects)} {Pick(random, Verbs)} {Pick(random, Objects)} {Pick(random, Endings)}.";
            s = char.ToUpperInvariant(s[0]) + s[1..];
            if (seen.Add(s))
            {
                sentences.Add(s);
            }
        }
        return sentences;
    }

    private static string Pick(Random random, string[] words) => words[random.Next(words.Length)];

    /// <summary>
    /// Synthesises the corpus into <paramref name="directory"/>: <paramref name="trainSentences"/> training and
    /// <paramref name="testSentences"/> test sentences, each spoken by two different speakers chosen with a seeded generator.
    /// </summary>
    public static void Make(string directory, int trainSentences, int testSentences)
    {
        Directory.CreateDirectory(directory);
        var sentences = Sentences(trainSentences + testSentences);
        var random = new Random(7);
        var index = new List<string> { "file\tsplit\tspeaker\tsentence\ttext" };
        string temp = Path.Combine(Path.GetTempPath(), $"espeak-{Environment.ProcessId}.wav");
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < sentences.Count; i++)
        {
            int first = random.Next(Speakers.Length);
            int second = (first + 1 + random.Next(Speakers.Length - 1)) % Speakers.Length;
            foreach (int speaker in new[] { first, second })
            {
                var (voice, pitch, speed) = Speakers[speaker];
                Programs.RunOrThrow("espeak-ng", new[] { "-v", voice, "-p", pitch.ToString(CultureInfo.InvariantCulture), "-s", speed.ToString(CultureInfo.InvariantCulture), "-w", temp, sentences[i] });
                var (rate, samples) = Wav.Read(temp);
                var resampled = Trim(Resample(samples, rate, SampleRate));
                string split = i < trainSentences ? "train" : "test";
                string file = $"{split}-{i:D4}-s{speaker:D2}.wav";
                Wav.Write(Path.Combine(directory, file), SampleRate, resampled);
                index.Add($"{file}\t{split}\t{speaker}\t{i}\t{sentences[i]}");
            }
            if (i % 50 == 49)
            {
                Console.WriteLine($"{2 * (i + 1)} utterances, {watch.Elapsed.TotalSeconds:F0} s");
            }
        }
        File.Delete(temp);
        File.WriteAllLines(Path.Combine(directory, "corpus.tsv"), index);
        Console.WriteLine($"Wrote {index.Count - 1} utterances to {directory} ({Version()}).");
    }

    /// <summary>Reads corpus.tsv and the WAV files it names.</summary>
    public static List<Utterance> Load(string directory)
    {
        string indexPath = Path.Combine(directory, "corpus.tsv");
        if (!File.Exists(indexPath))
        {
            throw new FileNotFoundException($"No corpus at {directory}: corpus.tsv is missing. Make one with the 'corpus' command (needs espeak-ng).", indexPath);
        }
        var utterances = new List<Utterance>();
        foreach (string line in File.ReadLines(indexPath).Skip(1))
        {
            var f = line.Split('\t');
            var (rate, samples) = Wav.Read(Path.Combine(directory, f[0]));
            if (rate != SampleRate)
            {
                throw new InvalidDataException($"{f[0]} is {rate} Hz; the corpus is {SampleRate} Hz.");
            }
            utterances.Add(new Utterance(f[0], f[1], int.Parse(f[2], CultureInfo.InvariantCulture), int.Parse(f[3], CultureInfo.InvariantCulture), f[4], samples));
        }
        return utterances;
    }

    public static string Version()
    {
        try
        {
            string text = Programs.RunOrThrow("espeak-ng", new[] { "--version" }).Trim(); // "eSpeak NG text-to-speech: 1.51  Data at: ..."
            int data = text.IndexOf("  Data at", StringComparison.Ordinal);
            return data > 0 ? text[..data] : text;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return "espeak-ng not found";
        }
    }

    /// <summary>Windowed-sinc resampling (Hann window, ±48 input samples), low-passed at 45% of the lower rate.</summary>
    public static float[] Resample(float[] input, int fromRate, int toRate)
    {
        const int halfWidth = 48;
        double cutoff = 0.45 * Math.Min(fromRate, toRate) / fromRate; // cycles per input sample
        int n = (int)((long)input.Length * toRate / fromRate);
        var output = new float[n];
        for (int i = 0; i < n; i++)
        {
            double x = (double)i * fromRate / toRate;
            int center = (int)Math.Floor(x);
            double sum = 0;
            for (int k = center - halfWidth + 1; k <= center + halfWidth; k++)
            {
                if (k < 0 || k >= input.Length)
                {
                    continue;
                }
                double d = x - k;
                double sinc = d == 0 ? 1 : Math.Sin(2 * Math.PI * cutoff * d) / (Math.PI * d) / (2 * cutoff);
                double window = 0.5 + 0.5 * Math.Cos(Math.PI * d / halfWidth);
                sum += input[k] * 2 * cutoff * sinc * window;
            }
            output[i] = (float)sum;
        }
        return output;
    }

    /// <summary>Drops leading and trailing near-silence (below 1% of the peak), keeping 50 ms of margin.</summary>
    public static float[] Trim(float[] samples)
    {
        float peak = samples.Max(MathF.Abs);
        float floor = 0.01f * peak;
        int first = Array.FindIndex(samples, s => MathF.Abs(s) > floor);
        int last = Array.FindLastIndex(samples, s => MathF.Abs(s) > floor);
        if (first < 0)
        {
            return samples;
        }
        int margin = SampleRate / 20;
        first = Math.Max(0, first - margin);
        last = Math.Min(samples.Length - 1, last + margin);
        return samples[first..(last + 1)];
    }
}

/// <summary>16-bit PCM mono WAV files.</summary>
public static class Wav
{
    public static (int Rate, float[] Samples) Read(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        if (new string(reader.ReadChars(4)) != "RIFF")
        {
            throw new InvalidDataException($"{path} is not a RIFF file.");
        }
        reader.ReadInt32();
        if (new string(reader.ReadChars(4)) != "WAVE")
        {
            throw new InvalidDataException($"{path} is not a WAVE file.");
        }
        int rate = 0, channels = 0, bits = 0;
        while (reader.BaseStream.Position < reader.BaseStream.Length)
        {
            string id = new(reader.ReadChars(4));
            int size = reader.ReadInt32();
            if (id == "fmt ")
            {
                int format = reader.ReadInt16();
                channels = reader.ReadInt16();
                rate = reader.ReadInt32();
                reader.ReadInt32();
                reader.ReadInt16();
                bits = reader.ReadInt16();
                reader.BaseStream.Seek(size - 16, SeekOrigin.Current);
                if (format != 1 || channels != 1 || bits != 16)
                {
                    throw new InvalidDataException($"{path}: only 16-bit PCM mono is read (format {format}, {channels} channels, {bits} bits).");
                }
            }
            else if (id == "data")
            {
                // espeak-ng writes a placeholder size when it streams: take what the file holds.
                long available = reader.BaseStream.Length - reader.BaseStream.Position;
                int count = (int)(Math.Min(size < 0 ? available : size, available) / 2);
                var samples = new float[count];
                for (int i = 0; i < count; i++)
                {
                    samples[i] = reader.ReadInt16() / 32768f;
                }
                return (rate, samples);
            }
            else
            {
                reader.BaseStream.Seek(size, SeekOrigin.Current);
            }
        }
        throw new InvalidDataException($"{path} has no data chunk.");
    }

    public static void Write(string path, int rate, float[] samples)
    {
        using var writer = new BinaryWriter(File.Create(path));
        writer.Write("RIFF".ToCharArray());
        writer.Write(36 + samples.Length * 2);
        writer.Write("WAVE".ToCharArray());
        writer.Write("fmt ".ToCharArray());
        writer.Write(16);
        writer.Write((short)1);
        writer.Write((short)1);
        writer.Write(rate);
        writer.Write(rate * 2);
        writer.Write((short)2);
        writer.Write((short)16);
        writer.Write("data".ToCharArray());
        writer.Write(samples.Length * 2);
        foreach (float s in samples)
        {
            writer.Write((short)Math.Clamp(MathF.Round(s * 32767f), -32768, 32767));
        }
    }
}
