using System;

namespace Microsoft.ML.AutoClip;

/// <summary>
/// An exact running percentile (NumPy's default "linear" method) over a multiset of doubles, with an
/// optional sliding window. Each <see cref="Add"/> costs O(log n) and <see cref="Percentile"/> costs O(1).
/// </summary>
/// <remarks>
/// <para>
/// NumPy's linear percentile of n sorted values a[0..n-1] at p is a lerp between a[k] and a[k+1],
/// where i = (n-1)·p/100 and k = floor(i). Only those two order statistics matter, so the values are
/// kept in two heaps: <c>lower</c>, a max-heap holding the k+1 smallest values (its top is a[k]), and
/// <c>upper</c>, a min-heap holding the rest (its top is a[k+1]). Adding a value changes k by at most
/// one, so at most one value moves between the heaps.
/// </para>
/// <para>
/// With a window, each value is tagged with its slot in a ring of the last W values, and every heap
/// move records where the slot now lives, so the oldest value is removed in O(log W) when it leaves
/// the window. Memory is then O(W) whatever the length of training.
/// </para>
/// <para>The lower heap stores negated values so that both heaps are min-heaps.</para>
/// </remarks>
internal sealed class PercentileHistory
{
    private readonly double _quantile;
    private readonly int _window;        // 0 = unbounded
    private readonly int[]? _position;   // per ring slot: index in lower (>= 0) or ~index in upper
    private readonly Heap _lower;        // keys are -value
    private readonly Heap _upper;
    private int _nextSlot;               // ring slot the next value takes (windowed only)
    private int _count;

    public PercentileHistory(double percentile, int? window)
    {
        _quantile = percentile / 100; // the same division NumPy performs (np.true_divide(q, 100))
        _window = window ?? 0;
        int capacity = _window > 0 ? _window : 16;
        if (_window > 0)
        {
            _position = new int[_window];
        }
        _lower = new Heap(_position, isUpper: false, Math.Min(capacity, 1024));
        _upper = new Heap(_position, isUpper: true, Math.Min(capacity, 1024));
    }

    /// <summary>How many values the percentile is currently taken over.</summary>
    public int Count => _count;

    /// <summary>Records <paramref name="value"/> (evicting the oldest value if the window is full).</summary>
    public void Add(double value)
    {
        int slot = -1;
        if (_window > 0)
        {
            slot = _nextSlot;
            if (_count == _window)
            {
                int where = _position![slot];
                if (where >= 0)
                {
                    _lower.RemoveAt(where);
                }
                else
                {
                    _upper.RemoveAt(~where);
                }
                _count--;
            }
            _nextSlot = slot + 1 == _window ? 0 : slot + 1;
        }

        if (_lower.Count > 0 && value <= -_lower.TopKey)
        {
            _lower.Push(-value, slot);
        }
        else
        {
            _upper.Push(value, slot);
        }
        _count++;
        Rebalance();
    }

    /// <summary>The percentile of the current values, exactly as <c>numpy.percentile(values, p)</c>.</summary>
    public double Percentile()
    {
        if (_count == 0)
        {
            throw new InvalidOperationException("The history is empty.");
        }
        double virtualIndex = (_count - 1) * _quantile;
        double gamma = virtualIndex - Math.Floor(virtualIndex);
        double below = -_lower.TopKey;
        double above = _upper.Count > 0 ? _upper.TopKey : below;
        return Lerp(below, above, gamma);
    }

    /// <summary>
    /// NumPy's <c>_lerp</c> (numpy &gt;= 1.22): <c>a + (b - a)·t</c>, computed from the far end when
    /// t &gt;= 0.5, which keeps the result monotonic and exact at t = 1.
    /// </summary>
    internal static double Lerp(double a, double b, double t)
    {
        double diff = b - a;
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    /// <summary>
    /// The recorded values: oldest first when a window is set, otherwise in no particular order.
    /// </summary>
    public double[] ToArray()
    {
        var result = new double[_count];
        if (_window > 0)
        {
            int oldest = _count == _window ? _nextSlot : 0;
            for (int i = 0; i < _count; i++)
            {
                int slot = (oldest + i) % _window;
                int where = _position![slot];
                result[i] = where >= 0 ? -_lower.KeyAt(where) : _upper.KeyAt(~where);
            }
            return result;
        }
        int n = 0;
        for (int i = 0; i < _lower.Count; i++)
        {
            result[n++] = -_lower.KeyAt(i);
        }
        for (int i = 0; i < _upper.Count; i++)
        {
            result[n++] = _upper.KeyAt(i);
        }
        return result;
    }

    private void Rebalance()
    {
        // The lower heap must hold exactly floor((n-1)·q) + 1 values.
        int target = (int)Math.Floor((_count - 1) * _quantile) + 1;
        while (_lower.Count > target)
        {
            _lower.Pop(out double key, out int slot);
            _upper.Push(-key, slot);
        }
        while (_lower.Count < target)
        {
            _upper.Pop(out double key, out int slot);
            _lower.Push(-key, slot);
        }
    }

    /// <summary>An array-backed binary min-heap of (key, slot) that can report where each slot lives.</summary>
    private sealed class Heap
    {
        private readonly int[]? _position;
        private readonly bool _isUpper;
        private double[] _keys;
        private int[] _slots;

        public Heap(int[]? position, bool isUpper, int capacity)
        {
            _position = position;
            _isUpper = isUpper;
            _keys = new double[capacity];
            _slots = new int[capacity];
        }

        public int Count { get; private set; }

        public int Capacity => _keys.Length;

        public double TopKey => _keys[0];

        public double KeyAt(int index) => _keys[index];

        public void Push(double key, int slot)
        {
            if (Count == _keys.Length)
            {
                int grown = checked(_keys.Length * 2);
                Array.Resize(ref _keys, grown);
                Array.Resize(ref _slots, grown);
            }
            SiftUp(Count++, key, slot);
        }

        public void Pop(out double key, out int slot)
        {
            key = _keys[0];
            slot = _slots[0];
            int last = --Count;
            if (last > 0)
            {
                SiftDown(0, _keys[last], _slots[last]);
            }
        }

        public void RemoveAt(int index)
        {
            int last = --Count;
            if (index == last)
            {
                return;
            }
            double key = _keys[last];
            int slot = _slots[last];
            if (index > 0 && _keys[(index - 1) >> 1] > key)
            {
                SiftUp(index, key, slot);
            }
            else
            {
                SiftDown(index, key, slot);
            }
        }

        private void SiftUp(int index, double key, int slot)
        {
            while (index > 0)
            {
                int parent = (index - 1) >> 1;
                double parentKey = _keys[parent];
                if (parentKey <= key)
                {
                    break;
                }
                Place(index, parentKey, _slots[parent]);
                index = parent;
            }
            Place(index, key, slot);
        }

        private void SiftDown(int index, double key, int slot)
        {
            int count = Count;
            while (true)
            {
                int child = 2 * index + 1;
                if (child >= count)
                {
                    break;
                }
                if (child + 1 < count && _keys[child + 1] < _keys[child])
                {
                    child++;
                }
                double childKey = _keys[child];
                if (childKey >= key)
                {
                    break;
                }
                Place(index, childKey, _slots[child]);
                index = child;
            }
            Place(index, key, slot);
        }

        private void Place(int index, double key, int slot)
        {
            _keys[index] = key;
            _slots[index] = slot;
            if (_position is not null)
            {
                _position[slot] = _isUpper ? ~index : index;
            }
        }
    }

    /// <summary>Exposes the heap sizes to tests that check the window bound.</summary>
    internal (int Lower, int Upper, int LowerCapacity, int UpperCapacity) DebugSizes()
        => (_lower.Count, _upper.Count, _lower.Capacity, _upper.Capacity);
}
