#!/usr/bin/env bash
# Runs the ordo-one/benchmark suite (Benchmarks/SSMBenchmarks, release build) once, checks the hot-path
# benchmarks for allocations, and writes Benchmarks/results/benchmarks.md (a markdown table for the README).
#
#   bash Benchmarks/scripts/benchmark_table.sh [OUT.md]
#   nice -n 15 bash Benchmarks/scripts/benchmark_table.sh     # on a shared machine
#
# Steps (about 2 minutes of benchmarks after the build):
#   1. swift package benchmark baseline update  — runs every benchmark, stores the baseline in .benchmarkBaselines/
#   2. swift package benchmark baseline read    — exports its percentiles (histogramPercentiles) to .build/benchmark-export/
#   3. swift package benchmark thresholds check — the static thresholds in Benchmarks/Thresholds (mallocCountTotal 0 at p90)
#   4. this script checks p100 too: a hot-path benchmark (one with a thresholds file) that allocated in any
#      iteration fails the run (exit 1), after the table is written.
# Only the SSMBenchmarks target runs: the harness also treats the other executables under Benchmarks/
# (step-timing, scaling, multistream, synth-timing) as benchmark targets, hence `--target`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-Benchmarks/results/benchmarks.md}"
baseline=readme_table
export_dir=.build/benchmark-export
bench=(swift package --allow-writing-to-package-directory benchmark)
# Other work on the machine skews wall times: the table records the 1-minute load average at the start.
BENCH_LOADAVG="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
export BENCH_LOADAVG

"${bench[@]}" baseline update "$baseline" --target SSMBenchmarks --no-progress
rm -rf "$export_dir" && mkdir -p "$export_dir"
"${bench[@]}" baseline read "$baseline" --target SSMBenchmarks --format histogramPercentiles --path "$export_dir" --no-progress >/dev/null
set +e
"${bench[@]}" thresholds check "$baseline" --target SSMBenchmarks --path Benchmarks/Thresholds --no-progress
thresholds_rc=$?
set -e
echo "thresholds check exit status: $thresholds_rc (0 equal, 2 regression, 4 improvement)"

python3 - "$export_dir" "$baseline" "$out" "$thresholds_rc" <<'PY'
import glob, os, platform, re, subprocess, sys, datetime
export_dir, baseline, out, thresholds_rc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
prefix = f"{baseline}.SSMBenchmarks."
suffixes = {"wallClock": "wallClock", "throughput": "throughput", "mallocs": "mallocCountTotal"}

def percentiles(path):
    rows = {}
    with open(path) as f:
        header = f.readline()
        for line in f:
            p, v = line.split("\t")
            rows[int(p)] = float(v)
    return header, rows

# The export's file names have spaces and slashes turned into '_': the baseline holds the real names.
import json
stored = json.load(open(f".benchmarkBaselines/SSMBenchmarks/{baseline}/results.json"))["results"]
names = {e["name"].replace("/", "_").replace(" ", "_"): e["name"] for e in stored[0::2] if isinstance(e, dict) and "name" in e}
results = {}  # name -> metric -> (header, {percentile: value})
for path in glob.glob(os.path.join(export_dir, prefix + "*.histogram.percentiles.tsv")):
    base = os.path.basename(path)[len(prefix):-len(".histogram.percentiles.tsv")]
    for key, suffix in suffixes.items():
        if base.endswith("." + suffix):
            cleaned = base[: -len(suffix) - 1]
            results.setdefault(names.get(cleaned, cleaned.replace("_", " ")), {})[key] = percentiles(path)
if not results:
    sys.exit(f"no exported results in {export_dir}")

hot = set()
for path in glob.glob("Benchmarks/Thresholds/SSMBenchmarks.*.p90.json"):
    hot.add(os.path.basename(path)[len("SSMBenchmarks."):-len(".p90.json")])
missing = sorted(hot - results.keys())

def audio_seconds(name):
    m = re.search(r"\[([\d.]+) (ms|s)(?: x(\d+))?\]$", name)
    if not m:
        return None
    s = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    return s * int(m.group(3) or 1)

def fmt_time(ns):
    if ns >= 1e6: return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3: return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"

def fmt_rate(per_s):
    if per_s >= 1e6: return f"{per_s / 1e6:.2f} M/s"
    if per_s >= 1e3: return f"{per_s / 1e3:.1f} k/s"
    return f"{per_s:.1f} /s"

failures = []
lines = []
order = ["S4D step", "Mamba step", "Encoder step ", "Encoder stepBatch", "LogMel", "CTC greedy", "CTC prefix", "Transcribe", "TTS acoustic", "TTS vocoder"]
def sort_key(name):
    return (next((i for i, p in enumerate(order) if name.startswith(p)), len(order)), name)

for name in sorted(results, key=sort_key):
    r = results[name]
    t_header, t = r["wallClock"]
    assert "(ns)" in t_header, t_header  # the suite records nanoseconds (timeUnits: .nanoseconds)
    p50 = t[50]
    per_s = 1e9 / p50
    audio = audio_seconds(name)
    xrt = f"{audio * per_s:,.0f}×" if audio else ""
    m = r["mallocs"][1]
    mallocs = f"{m[50]:.0f} / {m[100]:.0f}"
    if name in hot:
        ok = m[100] == 0
        check = "0 asserted: pass" if ok else "0 asserted: **FAIL**"
        if not ok:
            failures.append(f"{name}: p100 mallocs {m[100]:.0f}")
    else:
        check = "–"
    display = re.sub(r" \[.*\]$", "", name)
    per_iter = re.search(r"\[(.*)\]$", name).group(1).replace(" x", " × ") if audio else ""
    lines.append(f"| {display} | {per_iter} | {fmt_time(p50)} | {fmt_time(t[90])} | {fmt_rate(per_s)} | {xrt} | {mallocs} | {check} |")

cpu = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
load = os.environ.get("BENCH_LOADAVG", "?")
swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
swift = swift[0] if swift else "swift"
with open(out, "w") as f:
    f.write("# SSMSpeech benchmarks\n\n")
    f.write(f"`bash Benchmarks/scripts/benchmark_table.sh` ({datetime.date.today().isoformat()}; {swift}; "
            f"{cpu or platform.processor()}, {os.cpu_count()} cores, load average {load} at the start; "
            "release build, one thread, flush-to-zero). "
            "Suite: `Benchmarks/SSMBenchmarks` (ordo-one/benchmark).\n\n")
    f.write("One iteration is the audio in the second column: a layer step or an encoder step is one 30 ms output frame "
            "(3 feature frames of 10 ms through the whole encoder), a batched step advances every stream by one, "
            "a CTC step is one output frame, a synthesis step is a chunk of four 10 ms frames. "
            "Throughput is 1 / p50; × real time is audio per second of compute at p50 (all streams for a batch). "
            "Mallocs are per iteration, p50 / p100 over all iterations; the hot-path benchmarks assert zero "
            "(`Benchmarks/Thresholds`, and p100 here). Wall times are from a shared machine: with a load average above "
            "the core count they are upper bounds, and only runs on the same machine and load compare.\n\n")
    f.write("| Benchmark | Audio per iteration | p50 wall time | p90 wall time | Throughput (p50) | × real time | Mallocs (p50 / p100) | Zero-alloc |\n")
    f.write("|---|---|---:|---:|---:|---:|---:|---|\n")
    f.write("\n".join(lines) + "\n")
    f.write(f"\nThreshold check (`swift package benchmark thresholds check`): exit status {thresholds_rc} "
            "(0: equal to the thresholds).\n")
print(f"wrote {out}")
if missing:
    failures.append(f"thresholds files without results (renamed benchmark?): {missing}")
if thresholds_rc not in (0,):
    failures.append(f"thresholds check exit status {thresholds_rc}")
if failures:
    print("zero-allocation check FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
    sys.exit(1)
print(f"zero-allocation check passed for {len(hot)} hot-path benchmarks")
PY
