#!/usr/bin/env bash
# Compares the default fit's time on diamonds between two commits, in fresh processes run alternately (this VM's speed drifts
# by tens of percent from minute to minute, so one run of each says little). Prints every pair and the medians.
#   bench/compare-commits.sh <before> <after> [pairs=12] [epochs=4]
set -euo pipefail
before=$1 after=$2 pairs=${3:-12} epochs=${4:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/before" 2>/dev/null; git -C "$root" worktree remove --force "$work/after" 2>/dev/null; rm -rf "$work"' EXIT
for side in before after; do
  git -C "$root" worktree add -q --detach "$work/$side" "${!side}"
  mkdir -p "$work/$side/bench/FitTiming"
  cp "$root/bench/FitTiming/Program.cs" "$root/bench/FitTiming/FitTiming.csproj" "$work/$side/bench/FitTiming/"
  dotnet build -c Release "$work/$side/bench/FitTiming" > "$work/$side.build.log" 2>&1 || { tail -20 "$work/$side.build.log"; exit 1; }
done
run() { (cd "$work/$1/bench/FitTiming" && dotnet "bin/Release/net10.0/FitTiming.dll" "$work/$1" "$epochs" | tail -1 | cut -d' ' -f1); }
: > "$work/times"
for i in $(seq 1 "$pairs"); do
  if (( i % 2 )); then b=$(run before); a=$(run after); else a=$(run after); b=$(run before); fi
  echo "$b $a" | tee -a "$work/times"
done
python3 - "$work/times" <<'PY'
import statistics, sys
pairs = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
before, after = [p[0] for p in pairs], [p[1] for p in pairs]
ratios = sorted(a / b for b, a in pairs)
print(f"before: median {statistics.median(before):.3f} s, fastest {min(before):.3f} s")
print(f"after:  median {statistics.median(after):.3f} s, fastest {min(after):.3f} s")
print(f"after / before: medians {statistics.median(after) / statistics.median(before):.3f}, fastest {min(after) / min(before):.3f}, "
      f"paired median {statistics.median(ratios):.3f} (quartiles {ratios[len(ratios) // 4]:.3f} to {ratios[3 * len(ratios) // 4]:.3f})")
PY
