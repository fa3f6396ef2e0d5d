using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.AutoClip.Shared;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.AutoClipNet.Tests;

/// <summary>
/// Every bundled data set loads as its definition says (eng/Shared/BundledData.cs): the columns it names exist, every
/// row arrives, a number column turns into NaN only where the CSV's field is empty (a text column left out of the
/// categorical list would turn every value into NaN), and the target has the classes the task needs.
/// </summary>
[TestClass]
public sealed class BundledDataTests
{
    public static IEnumerable<object[]> Sets => BundledData.All.Concat(BundledData.Unseen).Select(s => new object[] { s.Name });

    [TestMethod]
    [DynamicData(nameof(Sets))]
    public void A_bundled_set_loads_every_row_and_every_number_as_its_definition_says(string name)
    {
        var set = BundledData.Named(name);
        var lines = File.ReadAllLines(BundledData.PathOf(set.File));
        var header = Fields(lines[0]);
        foreach (string column in set.Categorical.Concat(set.Ignore ?? Array.Empty<string>()).Append(set.Target))
        {
            CollectionAssert.Contains(header, column, $"{set.File} has no column {column}");
        }
        var rows = lines.Skip(1).Where(l => l.Length > 0).Select(Fields).ToList();
        Assert.IsTrue(rows.All(r => r.Length == header.Length), $"{set.File}: every row has {header.Length} fields");
        int target = Array.IndexOf(header, set.Target);
        var kept = set.Task == DataTask.Regression ? rows.Where(r => r[target].Length > 0).ToList() : rows;

        var ml = new MLContext(seed: 1);
        var data = BundledData.Load(ml, set);
        foreach (string column in header.Where(c => c != set.Target && !set.Categorical.Contains(c) && set.Ignore?.Contains(c) != true))
        {
            int index = Array.IndexOf(header, column);
            var values = data.GetColumn<float>(BundledData.ColumnName(column)).ToArray();
            Assert.HasCount(kept.Count, values, $"{set.File}: rows of {column}");
            int empty = kept.Count(r => r[index].Length == 0);
            Assert.AreEqual(empty, values.Count(float.IsNaN), $"{set.File}: {column} is NaN only where the field is empty (is it text, not listed as categorical?)");
        }
        switch (set.Task)
        {
            case DataTask.Binary:
                var labels = data.GetColumn<ReadOnlyMemory<char>>("LabelText").Select(v => v.ToString()).ToList();
                CollectionAssert.AreEquivalent(new[] { set.PositiveClass, set.NegativeClass }, labels.Distinct().ToArray(), $"{set.File}: the binary target's values");
                break;
            case DataTask.Multiclass:
                Assert.IsGreaterThanOrEqualTo(3, data.GetColumn<ReadOnlyMemory<char>>("LabelText").Select(v => v.ToString()).Distinct().Count(), $"{set.File}: classes");
                break;
            default:
                Assert.IsTrue(data.GetColumn<float>("Label").All(float.IsFinite), $"{set.File}: every kept target is a number");
                break;
        }
    }

    /// <summary>The fields of a CSV line: commas split, double quotes group (a doubled quote inside is one quote), quotes removed.</summary>
    private static string[] Fields(string line)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '"')
            {
                if (quoted && i + 1 < line.Length && line[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else
                {
                    quoted = !quoted;
                }
            }
            else if (c == ',' && !quoted)
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else if (c != '\r')
            {
                field.Append(c);
            }
        }
        fields.Add(field.ToString());
        return fields.ToArray();
    }
}
