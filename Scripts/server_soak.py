#!/usr/bin/env python3
"""Soak test of `ssmspeech serve` (Docs/SERVER.md): random clients for a long time, memory must stay flat.

    .venv/bin/python Scripts/server_soak.py --bin .build/release/ssmspeech [--minutes 30] [--max-clients 16] [--out soak.json]
    .venv/bin/python Scripts/server_soak.py --url http://127.0.0.1:8080 --pid PID ...

For --minutes, clients connect and leave at random, up to --max-clients at once, each one of:

- normal:  the bundled sample in 40 ms chunks at real-time pace (× --speed), `end`; its finals joined must
           equal `ssmspeech transcribe`, then `done` and close 1000;
- vanish:  part of the sample, then the TCP connection is dropped (RST or FIN) without `end`;
- garbage: a bad first message (binary, not JSON, unknown key, bad value) → error + close 1008, or a message
           over the server's --max-message-bytes → close 1009, or random bytes as audio (must end normally);
- idle:    connects and sends nothing until the server closes it (1008 after --idle-timeout);
- upload:  POST /v1/audio/transcriptions of the sample; text must equal `transcribe`;
- speech:  POST /v1/audio/speech of a short sentence (200, audio/wav).

Every --sample-every seconds (30): the server's RSS (/proc/PID/status VmRSS) and /metrics
ssmspeech_active_streams. At the end the clients finish, active streams must return to 0, and RSS is
reported at start / middle / end; "flat" means the end RSS grew < 10 % over the baseline, the first
sample at or after 5 minutes (for runs shorter than 10 minutes: the sample at half time).
When it starts the server itself (--bin) it passes --max-streams (--max-clients + 4), --idle-timeout 5 and
--max-message-bytes 65536. Exit status 0 only if RSS stayed flat, streams returned to 0, every client
got the documented outcome and the server stayed up. JSON report to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "server"))
import ssmclient as sc  # noqa: E402

SPEECH_TEXT = "The birch canoe slid on the smooth planks."


class Soak:
    def __init__(self, args, url: str, pid: int | None, reference: str, pcm: bytes, max_msg: int, idle: float):
        self.args = args
        self.url = url
        self.ws_url = url.replace("http://", "ws://", 1) + "/v1/stream"
        self.pid = pid
        self.reference = reference
        self.pcm = pcm
        self.wav = sc.SAMPLE_WAV.read_bytes()
        self.max_msg = max_msg
        self.idle = idle
        self.rng = random.Random(args.seed)
        self.counts: dict[str, dict[str, int]] = {}
        self.failures: list[dict] = []
        self.samples: list[dict] = []
        self.in_flight = 0
        self.t0 = time.monotonic()

    def record(self, kind: str, ok: bool, detail: str = "") -> None:
        c = self.counts.setdefault(kind, {"ok": 0, "failed": 0})
        c["ok" if ok else "failed"] += 1
        if not ok and len(self.failures) < 50:
            self.failures.append({"t": round(time.monotonic() - self.t0, 1), "kind": kind, "detail": detail[:2000]})

    # ---- client behaviours (each returns (ok, detail))
    async def normal(self, rng: random.Random):
        bps = 32000 * self.args.speed
        r = await sc.stream(self.ws_url, self.pcm, {}, pieces=1280, bytes_per_second=bps, timeout=300)
        p = sc.check_sequence(r, 16000)
        if r.text != self.reference:
            p.append(f"joined finals {r.text!r} != transcribe {self.reference!r}")
        return not p, "; ".join(p) + ("\n" + r.summary() if p else "")

    async def vanish(self, rng: random.Random):
        c = await sc.StreamClient(self.ws_url).connect()
        await c.send_config({})
        if await c.wait_for("ready", 60) is None:
            await c.close()
            return False, f"no ready: {c.result().summary()}"
        cut = rng.randint(1, len(self.pcm) - 1)
        await c.send_audio(self.pcm, 1280, 32000 * self.args.speed, stop_after=cut)
        if c.closed:
            return False, f"closed by the server before the client vanished: {c.result().summary()}"
        if rng.random() < 0.5:
            c.abort()
        else:
            c.ws.transport.close()
        await c.wait_closed(5)
        return True, ""

    async def garbage(self, rng: random.Random):
        choice = rng.choice(["binary-first", "not-json", "unknown-key", "bad-rate", "too-big", "noise-audio"])
        c = await sc.StreamClient(self.ws_url).connect()
        try:
            if choice == "binary-first":
                await c.send(rng.randbytes(rng.randint(1, 4000)))
                code = 1008
            elif choice == "not-json":
                await c.send(rng.choice(["{", "[]", "null", "hello", '{"sample_rate":'] ) + "x" * rng.randint(0, 100))
                code = 1008
            elif choice == "unknown-key":
                await c.send_json({"sample_rate": 16000, "x" + str(rng.randint(0, 999)): 1})
                code = 1008
            elif choice == "bad-rate":
                await c.send_json({"sample_rate": rng.choice([0, 1000, 7999, 768001, -5, 1e12])})
                code = 1008
            elif choice == "too-big":
                await c.send_config({})
                await c.wait_for("ready", 60)
                await c.send(rng.randbytes(self.max_msg + rng.randint(1, 10000)))
                code = 1009
            else:  # random bytes are valid audio: the stream must end normally
                await c.send_config({"encoding": rng.choice(["s16le", "u8", "f32le", "s24le"])})
                await c.wait_for("ready", 60)
                for _ in range(rng.randint(1, 20)):
                    if not await c.send(rng.randbytes(rng.randint(1, min(8000, self.max_msg)))):
                        break
                    await asyncio.sleep(rng.uniform(0, 0.05))
                await c.send_end()
                await c.wait_closed(120)
                r = c.result()
                p = sc.check_sequence(r, None)
                return not p, f"{choice}: " + "; ".join(p) + ("\n" + r.summary() if p else "")
            await c.wait_closed(30)
            objs = c.objects()
            last = objs[-1] if objs else None
            ok = c.close_code == code and isinstance(last, dict) and last.get("type") == "error"
            return ok, "" if ok else f"{choice}: expected error + close {code}; {c.result().summary()}"
        finally:
            await c.close()

    async def idle_client(self, rng: random.Random):
        c = await sc.StreamClient(self.ws_url).connect()
        t0 = time.monotonic()
        closed = await c.wait_closed(self.idle + 30)
        waited = time.monotonic() - t0
        ok = closed and c.close_code == 1008 and waited >= self.idle - 0.5
        r = c.result()
        await c.close()
        return ok, "" if ok else f"idle: closed={closed} after {waited:.1f} s; {r.summary()}"

    async def upload(self, rng: random.Random):
        r = await asyncio.to_thread(sc.transcribe_upload, self.url, self.wav, "sample.wav", "json")
        ok = r.status == 200 and r.json().get("text") == self.reference
        return ok, "" if ok else f"HTTP {r.status}: {r.body[:300]!r}"

    async def speech(self, rng: random.Random):
        r = await asyncio.to_thread(sc.speech, self.url, {"input": SPEECH_TEXT})
        ok = r.status == 200 and r.content_type == "audio/wav" and len(sc.parse_wav(r.body).data) > 0
        return ok, "" if ok else f"HTTP {r.status} {r.content_type}: {r.body[:200]!r}"

    async def one_client(self, kind: str, seed: int) -> None:
        self.in_flight += 1
        try:
            fn = {"normal": self.normal, "vanish": self.vanish, "garbage": self.garbage,
                  "idle": self.idle_client, "upload": self.upload, "speech": self.speech}[kind]
            ok, detail = await asyncio.wait_for(fn(random.Random(seed)), 600)
        except sc.InvalidStatus as e:
            ok, detail = False, f"upgrade refused: HTTP {e.response.status_code}"
        except Exception as e:  # noqa: BLE001
            ok, detail = False, f"{type(e).__name__}: {e}"
        finally:
            self.in_flight -= 1
        self.record(kind, ok, detail)

    # ---- sampling
    def sample(self, label: str = "") -> dict:
        s = {"t": round(time.monotonic() - self.t0, 1), "rss_mb": sc.proc_rss_mb(self.pid) if self.pid else math.nan,
             "clients": self.in_flight, "label": label}
        try:
            s["active_streams"] = sc.metrics(self.url).get("ssmspeech_active_streams")
        except Exception as e:  # noqa: BLE001
            s["active_streams"] = None
            s["error"] = repr(e)
        self.samples.append(s)
        print(f"[{s['t']:7.1f} s] RSS {s['rss_mb']:.1f} MB, active streams {s['active_streams']}, "
              f"clients {s['clients']} {label}", file=sys.stderr)
        return s

    async def run(self, seconds: float, server_alive) -> dict:
        kinds = ["normal", "vanish", "garbage", "idle", "upload", "speech"]
        weights = [self.args.w_normal, self.args.w_vanish, self.args.w_garbage, self.args.w_idle,
                   self.args.w_upload, self.args.w_speech]
        self.t0 = time.monotonic()
        self.sample("start")
        deadline = self.t0 + seconds
        next_sample = self.t0 + self.args.sample_every
        tasks: set[asyncio.Task] = set()
        died = False
        while time.monotonic() < deadline:
            if not server_alive():
                died = True
                break
            if len(tasks) < self.args.max_clients:
                kind = self.rng.choices(kinds, weights)[0]
                t = asyncio.create_task(self.one_client(kind, self.rng.randrange(1 << 30)))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            await asyncio.sleep(min(self.rng.expovariate(1 / self.args.mean_gap), max(0.0, next_sample - time.monotonic()),
                                    max(0.0, deadline - time.monotonic())) + 0.001)
            if next_sample <= time.monotonic() < deadline:
                self.sample()
                next_sample += self.args.sample_every
        self.sample("load ends")
        if tasks:
            await asyncio.wait(tasks, timeout=max(120.0, self.idle + 60))
        left = await asyncio.to_thread(sc.wait_active_streams, self.url, 0, 60) if not died else None
        end = self.sample("end (clients gone)")
        return {"server_died": died or not server_alive(), "active_streams_end": left, "end": end}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--bin", help=f"start this binary's `serve` on a free loopback port (default {sc.DEFAULT_BIN})")
    g.add_argument("--url", help="a running server on loopback, e.g. http://127.0.0.1:8080")
    ap.add_argument("--pid", type=int, help="the --url server's PID (for RSS)")
    ap.add_argument("--cli", help="ssmspeech binary for the reference transcript (default: --bin)")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--max-clients", type=int, default=16)
    ap.add_argument("--sample-every", type=float, default=30, help="seconds between RSS samples")
    ap.add_argument("--speed", type=float, default=1.0, help="audio pace relative to real time")
    ap.add_argument("--mean-gap", type=float, default=0.3, help="mean seconds between client arrivals")
    ap.add_argument("--max-message-bytes", type=int, default=65536, help="the server's (passed with --bin)")
    ap.add_argument("--idle-timeout", type=float, default=5, help="the server's (passed with --bin)")
    for k, w in [("normal", 45), ("vanish", 20), ("garbage", 20), ("idle", 3), ("upload", 9), ("speech", 3)]:
        ap.add_argument(f"--w-{k}", type=float, default=w, help=f"weight of {k} clients (default {w})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write the JSON report here")
    args = ap.parse_args()
    if not 0 < args.minutes <= 24 * 60 or not 1 <= args.max_clients <= 256:
        sys.exit("--minutes must be in (0, 1440] and --max-clients in 1…256")

    wav = sc.read_wav_file(sc.SAMPLE_WAV)
    srv = None
    if args.url:
        url, pid = sc.require_loopback(args.url), args.pid
        alive = (lambda: os.path.exists(f"/proc/{pid}")) if pid else (lambda: True)
    else:
        args.bin = args.bin or sc.DEFAULT_BIN
        srv = sc.Server(args.bin, ["--max-streams", str(args.max_clients + 4), "--idle-timeout", f"{args.idle_timeout:g}",
                                   "--max-message-bytes", str(args.max_message_bytes)]).start(timeout=120)
        url, pid, alive = srv.url, srv.pid, srv.alive
        print(f"server: {args.bin} serve on {url} (pid {pid})", file=sys.stderr)
    rc_server = None
    try:
        cli_bin = args.cli or args.bin
        if cli_bin:
            reference = sc.cli_transcribe(cli_bin).rstrip("\n")
        else:
            reference = sc.transcribe_upload(url, sc.SAMPLE_WAV.read_bytes(), "sample.wav", "json").json()["text"]
        soak = Soak(args, url, pid, reference, wav.data, args.max_message_bytes, args.idle_timeout)
        seconds = args.minutes * 60
        end = asyncio.run(soak.run(seconds, alive))
    finally:
        if srv:
            stderr_tail = srv.stderr_text(4000)
            rc_server = srv.stop()
    samples = soak.samples
    rss = [(s["t"], s["rss_mb"]) for s in samples if not math.isnan(s["rss_mb"])]
    report: dict = {"url": url, "minutes": args.minutes, "max_clients": args.max_clients, "reference": reference,
                    "counts": soak.counts, "failures": soak.failures, "samples": samples, **end,
                    "server_exit_status": rc_server}
    flat = None
    if rss:
        duration = samples[-1]["t"]
        base_t = 300.0 if duration >= 600 else duration / 2
        base = next(((t, v) for t, v in rss if t >= base_t), rss[-1])
        mid = min(rss, key=lambda tv: abs(tv[0] - duration / 2))
        growth = (rss[-1][1] - base[1]) / base[1]
        flat = growth < 0.10
        report.update(rss_start_mb=rss[0][1], rss_middle_mb=mid[1], rss_end_mb=rss[-1][1], rss_max_mb=max(v for _, v in rss),
                      rss_baseline={"t": base[0], "mb": base[1]}, rss_growth_after_baseline=growth, rss_flat=flat)
    failed = sum(c["failed"] for c in soak.counts.values())
    ok = bool(flat) and failed == 0 and end["active_streams_end"] == 0 and not end["server_died"] \
        and (srv is None or rc_server == 0)
    report["passed"] = ok
    if srv and rc_server != 0:
        report["server_stderr_tail"] = stderr_tail
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({k: report.get(k) for k in ["counts", "rss_start_mb", "rss_middle_mb", "rss_end_mb", "rss_max_mb",
                                                 "rss_growth_after_baseline", "rss_flat", "active_streams_end",
                                                 "server_died", "server_exit_status", "passed"]}, indent=1))
    for f in soak.failures[:5]:
        print(f"failure: {f}", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
