#!/usr/bin/env python3
"""Load generator for `ssmspeech serve` (Docs/SERVER.md), loopback only and bounded.

    .venv/bin/python Scripts/server_load.py --bin .build/release/ssmspeech [--levels 1,8,32,64,128] [--out load.json]
    .venv/bin/python Scripts/server_load.py --url http://127.0.0.1:8080 [--pid PID] ...

For each level N: N concurrent WebSocket streams of Resources/samples/sample.wav, each sent in 40 ms chunks
at real-time pace (start offsets staggered at random within the first 40 ms), `{"type":"end"}`, wait for
`done`. A client whose stream ends before --seconds-per-level have passed starts another one (default: one
pass of the sample). Measured per level:

- server chunk latency p50/p99 (and mean): the `ssmspeech_chunk_latency_seconds` histogram's difference
  before/after the level, interpolated within buckets like Prometheus' histogram_quantile;
- client final latency: seconds from sending `end` to receiving `done` (p50/p99/max);
- server CPU seconds (utime+stime from /proc/PID/stat, before/after), and CPU seconds per audio second;
- server RSS: max of /proc/PID/status VmRSS sampled every 0.5 s;
- RTF from the server's counters (compute seconds / audio seconds);
- correctness: every stream's finals joined equal `ssmspeech transcribe` on the sample (with --url and
  no --bin/--cli: the server's own /v1/audio/transcriptions text);
- the client's worst pacing lag (if large, the load generator itself was the bottleneck).

CPU/RSS need the server's PID: known with --bin, else give --pid. Prints a markdown table, writes JSON to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "server"))
import ssmclient as sc  # noqa: E402

MAX_LEVEL = 256
MAX_SECONDS_PER_LEVEL = 600.0


def quantile(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


async def rss_sampler(pid: int | None, stop: asyncio.Event, out: list[float]) -> None:
    while pid is not None and not stop.is_set():
        v = sc.proc_rss_mb(pid)
        if not math.isnan(v):
            out.append(v)
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass


async def client(url: str, pcm: bytes, offset: float, level_start: float, seconds: float,
                 chunk: int, bps: float) -> list[dict]:
    """Streams the sample (again) until `seconds` have passed since level_start; one dict per stream."""
    out = []
    await asyncio.sleep(max(0.0, level_start + offset - time.monotonic()))
    while True:
        t0 = time.monotonic()
        rec: dict = {"t_start": t0 - level_start}
        try:
            r = await sc.stream(url, pcm, {}, pieces=chunk, bytes_per_second=bps, timeout=max(120.0, 10 * len(pcm) / bps))
            t_ready = r.first_time("ready")
            rec.update(text=r.text, close_code=r.close_code, final_latency=r.final_latency,
                       ready_latency=None if t_ready is None or r.t_connected is None else t_ready - r.t_connected,
                       lateness=r.max_lateness, problems=sc.check_sequence(r, 16000), timed_out=r.timed_out)
        except sc.InvalidStatus as e:
            rec.update(rejected=e.response.status_code, problems=[f"upgrade refused: HTTP {e.response.status_code}"])
        except Exception as e:  # noqa: BLE001 - counted as a failed stream
            rec.update(problems=[f"{type(e).__name__}: {e}"])
        out.append(rec)
        if time.monotonic() - level_start >= seconds:
            return out


async def run_level(url: str, ws_url: str, pid: int | None, n: int, pcm: bytes, reference: str, rng: random.Random,
                    seconds: float) -> dict:
    chunk = 16000 * 2 * 40 // 1000
    bps = 16000 * 2
    m0 = sc.metrics(url)
    cpu0 = sc.proc_cpu_seconds(pid) if pid else math.nan
    stop = asyncio.Event()
    rss: list[float] = []
    sampler = asyncio.create_task(rss_sampler(pid, stop, rss))
    start = time.monotonic() + 0.2
    t_wall0 = time.monotonic()
    results = await asyncio.gather(*(client(ws_url, pcm, rng.uniform(0, 0.040), start, seconds, chunk, bps)
                                     for _ in range(n)))
    wall = time.monotonic() - t_wall0
    stop.set()
    await sampler
    cpu1 = sc.proc_cpu_seconds(pid) if pid else math.nan
    left = sc.wait_active_streams(url, 0, 30)
    m1 = sc.metrics(url)
    streams = [s for r in results for s in r]
    ok = [s for s in streams if not s.get("problems")]
    correct = [s for s in ok if s.get("text") == reference]
    final_lat = [s["final_latency"] for s in ok if s.get("final_latency") is not None]
    ready_lat = [s["ready_latency"] for s in ok if s.get("ready_latency") is not None]
    b = sc.bucket_diff(m1.buckets("ssmspeech_chunk_latency_seconds"), m0.buckets("ssmspeech_chunk_latency_seconds"))
    dcount = (m1.get("ssmspeech_chunk_latency_seconds_count", 0.0) or 0.0) - (m0.get("ssmspeech_chunk_latency_seconds_count", 0.0) or 0.0)
    dsum = (m1.get("ssmspeech_chunk_latency_seconds_sum", 0.0) or 0.0) - (m0.get("ssmspeech_chunk_latency_seconds_sum", 0.0) or 0.0)
    daudio = (m1.get("ssmspeech_audio_seconds_total", 0.0) or 0.0) - (m0.get("ssmspeech_audio_seconds_total", 0.0) or 0.0)
    dcompute = (m1.get("ssmspeech_compute_seconds_total", 0.0) or 0.0) - (m0.get("ssmspeech_compute_seconds_total", 0.0) or 0.0)
    problems: dict[str, int] = {}
    for s in streams:
        for p in s.get("problems", [])[:1]:
            problems[p[:160]] = problems.get(p[:160], 0) + 1
    wrong = [s.get("text") for s in ok if s.get("text") != reference][:3]
    return {
        "streams": n,
        "stream_count": len(streams),
        "ok": len(ok),
        "correct": len(correct),
        "all_correct": len(correct) == len(streams),
        "wrong_texts": wrong,
        "problems": problems,
        "rejected": sum(1 for s in streams if "rejected" in s),
        "wall_s": wall,
        "audio_s": daudio,
        "compute_s": dcompute,
        "rtf": dcompute / daudio if daudio > 0 else math.nan,
        "chunk_latency_count": dcount,
        "chunk_latency_p50_ms": 1000 * sc.histogram_quantile(0.50, b),
        "chunk_latency_p99_ms": 1000 * sc.histogram_quantile(0.99, b),
        "chunk_latency_mean_ms": 1000 * dsum / dcount if dcount > 0 else math.nan,
        "final_latency_p50_ms": 1000 * quantile(final_lat, 0.50),
        "final_latency_p99_ms": 1000 * quantile(final_lat, 0.99),
        "final_latency_max_ms": 1000 * max(final_lat) if final_lat else math.nan,
        "ready_latency_p50_ms": 1000 * quantile(ready_lat, 0.50),
        "client_pacing_lag_max_ms": 1000 * max((s.get("lateness", 0.0) for s in streams), default=0.0),
        "cpu_s": cpu1 - cpu0,
        "cpu_per_audio_s": (cpu1 - cpu0) / daudio if daudio > 0 else math.nan,
        "cpu_cores_busy": (cpu1 - cpu0) / wall if wall > 0 else math.nan,
        "rss_max_mb": max(rss) if rss else math.nan,
        "active_streams_after": left,
    }


def fmt(x, nd=1) -> str:
    if isinstance(x, float):
        return "–" if math.isnan(x) else f"{x:.{nd}f}"
    return str(x)


def table(rows: list[dict]) -> str:
    cols = [("N", "streams", 0), ("streams run", "stream_count", 0), ("correct", "correct", 0),
            ("chunk p50 ms", "chunk_latency_p50_ms", 1), ("chunk p99 ms", "chunk_latency_p99_ms", 1),
            ("final p50 ms", "final_latency_p50_ms", 0), ("final p99 ms", "final_latency_p99_ms", 0),
            ("RTF", "rtf", 3), ("CPU s", "cpu_s", 2), ("CPU s / audio s", "cpu_per_audio_s", 3),
            ("cores busy", "cpu_cores_busy", 2), ("RSS max MB", "rss_max_mb", 0),
            ("client lag max ms", "client_pacing_lag_max_ms", 0)]
    out = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(fmt(r[k], nd) if isinstance(r[k], float) else str(r[k]) for _, k, nd in cols) + " |")
    return "\n".join(out)


async def main_async(args) -> int:
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if not levels or any(n < 1 or n > MAX_LEVEL for n in levels):
        sys.exit(f"--levels: each N must be 1…{MAX_LEVEL}")
    wav = sc.read_wav_file(sc.SAMPLE_WAV)
    if (wav.rate, wav.channels, wav.bits) != (16000, 1, 16):
        sys.exit("the bundled sample is expected to be 16 kHz mono s16")
    pcm = wav.data
    sample_seconds = len(pcm) / 2 / wav.rate
    seconds = args.seconds_per_level if args.seconds_per_level is not None else sample_seconds
    if not 0 < seconds <= MAX_SECONDS_PER_LEVEL:
        sys.exit(f"--seconds-per-level must be in (0, {MAX_SECONDS_PER_LEVEL:.0f}]")

    srv = None
    if args.url:
        url, pid = sc.require_loopback(args.url), args.pid
    else:
        srv = sc.Server(args.bin, ["--max-streams", str(max(levels) + 16), "--idle-timeout", "120",
                                   *args.server_arg]).start(timeout=120)
        url, pid = srv.url, srv.pid
        print(f"server: {args.bin} serve on {url} (pid {pid})", file=sys.stderr)
    try:
        cli_bin = args.cli or args.bin
        if cli_bin:
            reference = sc.cli_transcribe(cli_bin).rstrip("\n")
            ref_source = f"{cli_bin} transcribe"
        else:
            r = sc.transcribe_upload(url, sc.SAMPLE_WAV.read_bytes(), "sample.wav", "json")
            reference, ref_source = r.json()["text"], "server /v1/audio/transcriptions"
        print(f"reference ({ref_source}): {reference!r}", file=sys.stderr)
        h = sc.health(url)
        ws_url = url.replace("http://", "ws://", 1) + "/v1/stream"
        rng = random.Random(args.seed)
        rows = []
        for n in levels:
            if n > h.get("max_streams", n):
                print(f"warning: N={n} > the server's max_streams {h.get('max_streams')}: expect 503s", file=sys.stderr)
            sc.wait_active_streams(url, 0, 30)
            print(f"level N={n}: {seconds:.2f} s …", file=sys.stderr)
            row = await run_level(url, ws_url, pid, n, pcm, reference, rng, seconds)
            rows.append(row)
            print(table([row]).splitlines()[-1], file=sys.stderr)
            if srv and not srv.alive():
                print(f"the server died; stderr:\n{srv.stderr_text()}", file=sys.stderr)
                break
    finally:
        if srv:
            rc = srv.stop()
            if rc not in (0, None):
                print(f"server exit status {rc}", file=sys.stderr)
    print(table(rows))
    report = {"url": url, "ws_url": ws_url, "bin": None if args.url else args.bin, "reference": reference,
              "reference_source": ref_source, "sample_seconds": sample_seconds, "seconds_per_level": seconds,
              "levels": rows, "host_cpus": len(os.sched_getaffinity(0))}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=lambda o: None if isinstance(o, float) and math.isnan(o) else o))
    bad = [r["streams"] for r in rows if not r["all_correct"]]
    if bad:
        print(f"levels with failed or wrong streams: {bad}", file=sys.stderr)
    return 1 if bad or len(rows) < len(levels) else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--bin", help="start this ssmspeech binary's `serve` on a free loopback port (default: "
                                 f"{sc.DEFAULT_BIN})")
    g.add_argument("--url", help="use a running server (loopback), e.g. http://127.0.0.1:8080")
    ap.add_argument("--pid", type=int, help="the --url server's PID, for CPU and RSS")
    ap.add_argument("--cli", help="ssmspeech binary for the reference transcript (default: --bin)")
    ap.add_argument("--levels", default="1,8,32,64,128", help=f"comma-separated concurrent stream counts (each ≤ {MAX_LEVEL})")
    ap.add_argument("--seconds-per-level", type=float, default=None,
                    help="keep streaming for this long per level (default: one pass of the sample)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for `serve` (repeat), e.g. --server-arg=--threads --server-arg=2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write the JSON report here")
    args = ap.parse_args()
    if not args.url and not args.bin:
        args.bin = sc.DEFAULT_BIN
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
