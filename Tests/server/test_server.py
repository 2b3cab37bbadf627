"""End-to-end tests of `ssmspeech serve` against Docs/SERVER.md.

    .venv/bin/pip install -r Tests/server/requirements.txt
    SSMSPEECH_BIN=.build/debug/ssmspeech .venv/bin/python -m pytest -q Tests/server

Every expected result comes from the command line (`transcribe`, `stream --json`, `synthesize`) run in the
test on the same bytes, never from a hard-coded transcript.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import random
import signal
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

import ssmclient as sc
from ssmclient import InvalidStatus, Server, StreamClient, StreamResult

BIN = os.environ.get("SSMSPEECH_BIN", "/work/main/.build/debug/ssmspeech")
if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
    pytest.skip(f"no ssmspeech binary at {BIN} (build it, or set SSMSPEECH_BIN)", allow_module_level=True)

MAX_STREAMS = 4
IDLE = 3
MAX_MSG = 65536
MAX_UPLOAD = 2_000_000
SERVER_ARGS = ["--max-streams", str(MAX_STREAMS), "--idle-timeout", str(IDLE),
               "--max-message-bytes", str(MAX_MSG), "--max-upload-bytes", str(MAX_UPLOAD)]
TIMEOUT = 180.0  # per stream; debug builds are slow

WAV_BYTES = sc.SAMPLE_WAV.read_bytes()
WAV = sc.parse_wav(WAV_BYTES)
PCM = WAV.data                       # 16 kHz s16le mono
DURATION = len(PCM) / 2 / WAV.rate   # seconds
BYTES_PER_SECOND = WAV.rate * 2
CHUNK_40MS = BYTES_PER_SECOND * 40 // 1000
SPEECH_TEXT = "The birch canoe slid on the smooth planks."


def run(coro, timeout: float = 600.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# --------------------------------------------------------------------------------------------------
# Fixtures


class Reference:
    """The command line's answers, computed once per input."""

    def __init__(self, binary: str, workdir: Path):
        self.bin = binary
        self.dir = workdir

    @functools.cache
    def transcribe(self, path: str = str(sc.SAMPLE_WAV), fmt: str = "text") -> str:
        return sc.cli_transcribe(self.bin, path, fmt)

    @property
    def text(self) -> str:
        return self.transcribe().rstrip("\n")

    @functools.cache
    def stream_json(self, data: bytes, args: tuple[str, ...] = ()) -> tuple[dict, ...]:
        return tuple(sc.cli_stream_json(self.bin, data, list(args)))

    def stream_finals(self, data: bytes, args: tuple[str, ...] = ()) -> list[dict]:
        return [o for o in self.stream_json(data, args) if o.get("type") == "final"]

    @functools.cache
    def sox(self, name: str, *args: str) -> Path:
        """Resources/samples/sample.wav converted by sox (no dither) to self.dir/name."""
        out = self.dir / name
        subprocess.run(["sox", "-D", str(sc.SAMPLE_WAV), *args, str(out)], check=True, capture_output=True)
        return out


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Reference:
    return Reference(BIN, tmp_path_factory.mktemp("ref"))


@pytest.fixture(scope="module")
def server():
    srv = Server(BIN, SERVER_ARGS).start(timeout=60)
    yield srv
    died = not srv.alive()
    srv.stop()
    assert not died, f"the server died during the tests; stderr:\n{srv.stderr_text()}"


@pytest.fixture
def srv(server):
    assert server.alive(), f"the server is not running; stderr:\n{server.stderr_text()}"
    yield server
    assert server.alive(), f"the server died during this test; stderr:\n{server.stderr_text()}"


def assert_ok_stream(r: StreamResult, expected_text: str | None = None, sample_rate: int | None = 16000,
                     expected_finals: list[dict] | None = None, duration: float | None = None) -> None:
    problems = sc.check_sequence(r, sample_rate)
    assert not problems, "protocol problems:\n  " + "\n  ".join(problems) + "\n" + r.summary()
    if expected_text is not None:
        assert r.text == expected_text, f"joined finals {r.text!r} != transcribe {expected_text!r}\n{r.summary()}"
    if expected_finals is not None:
        assert r.finals == expected_finals, (f"finals differ from `ssmspeech stream --json`:\n server: "
                                             f"{json.dumps(r.finals)}\n cli:    {json.dumps(expected_finals)}")
    if duration is not None:
        d = r.messages[-1].obj["duration"]
        assert abs(d - duration) < 0.01, f"done.duration {d} != audio duration {duration:.3f}"


def expect_error_close(c: StreamClient, code: int, ready_allowed: bool) -> list[str]:
    """The documented error path: a {"type":"error","message":…} text message, then a close with `code`."""
    p = []
    if not c.closed:
        p.append("the server did not close the connection")
    if c.close_code != code:
        p.append(f"close code {c.close_code} (reason {c.close_reason!r}), expected {code}")
    objs = [m.obj for m in c.messages]
    if not objs or not isinstance(objs[-1], dict) or objs[-1].get("type") != "error":
        p.append(f"last message before the close is not {{\"type\":\"error\"}}: {[m.data for m in c.messages][-3:]}")
    elif not isinstance(objs[-1].get("message"), str) or not objs[-1]["message"]:
        p.append(f"error without a message: {objs[-1]}")
    if not ready_allowed and any(isinstance(o, dict) and o.get("type") == "ready" for o in objs):
        p.append("got ready for an invalid config")
    return p


# --------------------------------------------------------------------------------------------------
# Health


def test_health(srv):
    h = sc.health(srv.url)
    assert h.get("status") == "ok", h
    assert h.get("max_streams") == MAX_STREAMS, h
    assert h.get("active_streams") == 0, h
    assert "model" in h and "voice" in h, h


# --------------------------------------------------------------------------------------------------
# Streaming recognition


@pytest.mark.parametrize("seed,paced", [(1, False), (2, True)], ids=["fast", "realtime"])
def test_stream_random_pieces_equals_transcribe(srv, ref, seed, paced):
    """Raw s16le in seeded random pieces of 1..8000 bytes (samples split across messages)."""
    rng = random.Random(seed)
    r = run(sc.stream(srv.ws_url, PCM, {"sample_rate": 16000, "encoding": "s16le", "channels": 1},
                      pieces=sc.random_pieces(rng, 1, 8000), bytes_per_second=BYTES_PER_SECOND if paced else None,
                      timeout=TIMEOUT))
    assert_ok_stream(r, ref.text, 16000, ref.stream_finals(PCM), DURATION)


def test_stream_default_config(srv, ref):
    """`{}`: every key is optional (16 kHz s16le mono)."""
    r = run(sc.stream(srv.ws_url, PCM, {}, pieces=CHUNK_40MS, timeout=TIMEOUT))
    assert_ok_stream(r, ref.text, 16000, None, DURATION)


@pytest.mark.parametrize("kind", ["sample.wav", "48k-f32.wav"])
def test_stream_wav_file(srv, ref, kind):
    """A stream that starts with a RIFF/WAVE header is read as WAV, whatever the config says."""
    path = sc.SAMPLE_WAV if kind == "sample.wav" else ref.sox("48k.wav", "-r", "48000", "-e", "floating-point", "-b", "32")
    data = Path(path).read_bytes()
    rng = random.Random(7)
    r = run(sc.stream(srv.ws_url, data, {"sample_rate": 16000, "encoding": "s16le"},
                      pieces=sc.random_pieces(rng, 1, 8000), timeout=TIMEOUT))
    assert_ok_stream(r, ref.transcribe(str(path)).rstrip("\n"), None, ref.stream_finals(data), DURATION)


RAW_FORMATS = [
    # rate, encoding, channels, sox output options
    (48000, "f32le", 1, ["-e", "floating-point", "-b", "32"]),
    (44100, "s24le", 2, ["-e", "signed", "-b", "24"]),
    (8000, "u8", 1, ["-e", "unsigned", "-b", "8"]),
    (22050, "s32le", 1, ["-e", "signed", "-b", "32"]),
    (16000, "f64le", 1, ["-e", "floating-point", "-b", "64"]),
]


@pytest.mark.parametrize("rate,encoding,channels,soxargs", RAW_FORMATS,
                         ids=[f"{r}-{e}-{c}ch" for r, e, c, _ in RAW_FORMATS])
def test_stream_raw_formats_equal_cli_stream(srv, ref, rate, encoding, channels, soxargs):
    """The same bytes through `ssmspeech stream --json --rate R --encoding E --channels C` and the server:
    the finals must be equal line by line."""
    path = ref.sox(f"{rate}-{encoding}-{channels}.raw", "-r", str(rate), "-c", str(channels), *soxargs, "-t", "raw")
    data = path.read_bytes()
    expected = ref.stream_finals(data, ("--rate", str(rate), "--encoding", encoding, "--channels", str(channels)))
    rng = random.Random(rate)
    r = run(sc.stream(srv.ws_url, data, {"sample_rate": rate, "encoding": encoding, "channels": channels},
                      pieces=sc.random_pieces(rng, 1, 8000), timeout=TIMEOUT))
    assert_ok_stream(r, None, rate, expected, DURATION)


def test_message_at_limit_is_accepted(srv, ref):
    """A binary message of exactly --max-message-bytes is allowed (only larger ones close with 1009)."""
    data = (PCM * (MAX_MSG // len(PCM) + 1))[:MAX_MSG]
    r = run(sc.stream(srv.ws_url, data, {}, pieces=MAX_MSG, timeout=TIMEOUT))
    assert_ok_stream(r, None, 16000, ref.stream_finals(data), MAX_MSG / BYTES_PER_SECOND)


# --------------------------------------------------------------------------------------------------
# Hostile clients: each scenario returns a list of problems (empty: as documented)


async def _bad_first(url: str, first: str | bytes, code: int = 1008) -> list[str]:
    c = await StreamClient(url).connect()
    await c.send(first)
    await c.wait_closed(15)
    p = expect_error_close(c, code, ready_allowed=False)
    await c.close()
    return p


async def _too_big_binary(url: str) -> list[str]:
    c = await StreamClient(url).connect()
    await c.send_config({})
    if await c.wait_for("ready", 30) is None:
        return [f"no ready: {[m.data for m in c.messages]}"]
    await c.send(PCM[:3200])
    await c.send(bytes(MAX_MSG + 1))
    await c.wait_closed(15)
    p = expect_error_close(c, 1009, ready_allowed=True)
    await c.close()
    return p


async def _idle(url: str, send_config: bool) -> list[str]:
    c = await StreamClient(url).connect()
    t0 = time.monotonic()
    if send_config:
        await c.send_config({})
        if await c.wait_for("ready", 30) is None:
            return [f"no ready: {[m.data for m in c.messages]}"]
        t0 = time.monotonic()
    closed = await c.wait_closed(IDLE + 10)
    waited = time.monotonic() - t0
    p = [] if closed else [f"not closed {IDLE + 10} s after the last message (idle timeout {IDLE} s)"]
    p += expect_error_close(c, 1008, ready_allowed=send_config)
    if closed and waited < IDLE - 0.5:
        p.append(f"closed for idleness after {waited:.2f} s < --idle-timeout {IDLE}")
    await c.close()
    return p


async def _abrupt(url: str, rst: bool) -> list[str]:
    """Config, audio in real time until a partial arrives (mid-utterance), then drop TCP without `end`."""
    c = await StreamClient(url).connect()
    await c.send_config({})
    if await c.wait_for("ready", 30) is None:
        return [f"no ready: {[m.data for m in c.messages]}"]
    start = time.monotonic()
    sender = asyncio.create_task(c.send_audio(PCM, CHUNK_40MS, BYTES_PER_SECOND, start))
    got = await c.wait_for("partial", 30)
    sender.cancel()
    try:
        await sender
    except asyncio.CancelledError:
        pass
    if got is None:
        return [f"no partial while streaming: {[m.data for m in c.messages]}"]
    if rst:
        c.abort()
    else:
        c.ws.transport.close()
    await c.wait_closed(5)
    return []


HOSTILE = {
    "binary-first": lambda u: _bad_first(u, PCM[:3200]),
    "invalid-json": lambda u: _bad_first(u, '{"sample_rate": 16000'),
    "json-not-object": lambda u: _bad_first(u, "[16000]"),
    "unknown-key": lambda u: _bad_first(u, json.dumps({"sample_rate": 16000, "bogus": 1})),
    "sample-rate-1000": lambda u: _bad_first(u, json.dumps({"sample_rate": 1000})),
    "bad-encoding": lambda u: _bad_first(u, json.dumps({"encoding": "mp3"})),
    "zero-channels": lambda u: _bad_first(u, json.dumps({"channels": 0})),
    "endpoint-negative": lambda u: _bad_first(u, json.dumps({"endpoint": {"trailing_silence": -1}})),
    "endpoint-unknown-key": lambda u: _bad_first(u, json.dumps({"endpoint": {"silence": 1}})),
    "sample-rate-string": lambda u: _bad_first(u, json.dumps({"sample_rate": "16000"})),
    "too-big-config": lambda u: _bad_first(u, '{"sample_rate": 16000' + " " * MAX_MSG + "}", 1009),
    "too-big-binary": _too_big_binary,
    "idle-after-ready": lambda u: _idle(u, True),
    "idle-before-config": lambda u: _idle(u, False),
    "abrupt-rst": lambda u: _abrupt(u, True),
    "abrupt-fin": lambda u: _abrupt(u, False),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_client(srv, name):
    """Documented error message and close code; the stream is freed afterwards (active_streams back to 0)."""
    assert sc.wait_active_streams(srv.url, 0, 10) == 0
    problems = run(HOSTILE[name](srv.ws_url), 60)
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)
    n = sc.wait_active_streams(srv.url, 0, 5)
    assert n == 0, f"{name}: /health active_streams is {n} 5 s after the client left"


def test_hostile_clients_do_not_affect_a_good_stream(srv, ref):
    """Every hostile scenario (at most 2 at a time, the limit is 4) while good real-time streams run."""
    assert sc.wait_active_streams(srv.url, 0, 10) == 0

    async def main():
        stop = asyncio.Event()

        async def good():
            out = []
            while not stop.is_set() or not out:
                out.append(await sc.stream(srv.ws_url, PCM, {}, pieces=CHUNK_40MS,
                                           bytes_per_second=BYTES_PER_SECOND, timeout=TIMEOUT))
            return out

        async def hostile():
            out = {}
            names = [n for n in HOSTILE if not n.startswith("idle")]
            for n in names:
                out[n] = await HOSTILE[n](srv.ws_url)
            a, b = await asyncio.gather(HOSTILE["idle-after-ready"](srv.ws_url),
                                        HOSTILE["idle-before-config"](srv.ws_url))
            out["idle-after-ready"], out["idle-before-config"] = a, b
            stop.set()
            return out

        g = asyncio.create_task(good())
        h = await hostile()
        return await g, h

    goods, bad = run(main(), 600)
    for r in goods:  # first: the good streams were not affected
        assert_ok_stream(r, ref.text, 16000)
    failed = {k: v for k, v in bad.items() if v}
    assert not failed, (f"{len(goods)} concurrent good stream(s) OK, but hostile scenarios not handled as "
                        "documented:\n" + json.dumps(failed, indent=1))
    assert sc.wait_active_streams(srv.url, 0, 5) == 0


def test_capacity(srv, ref):
    """max-streams streams open: the next connection gets an error message and close 1013; the open ones still work."""
    assert sc.wait_active_streams(srv.url, 0, 10) == 0
    before = sc.metrics(srv.url).get("ssmspeech_rejected_total", 0.0, reason="capacity")
    p: list[str] = []

    async def main():
        clients = [await StreamClient(srv.ws_url).connect() for _ in range(MAX_STREAMS)]
        for c in clients:
            await c.send_config({})
        for c in clients:
            assert await c.wait_for("ready", 30) is not None, [m.data for m in c.messages]
        h = sc.health(srv.url)
        if h["active_streams"] != MAX_STREAMS:
            p.append(f"/health with {MAX_STREAMS} open streams: {h}")
        # one connection more: an error message, then close code 1013 (try again later)
        extra = await StreamClient(srv.ws_url).connect()
        await extra.wait_closed(TIMEOUT)
        objs = [m.obj for m in extra.messages]
        if extra.close_code != 1013:
            p.append(f"connection over capacity: close code {extra.close_code}, expected 1013; messages {[m.data for m in extra.messages]}")
        if not (objs and isinstance(objs[-1], dict) and objs[-1].get("type") == "error" and objs[-1].get("message")):
            p.append(f"connection over capacity: no {{\"type\":\"error\"}} message before the close: {[m.data for m in extra.messages]}")
        h = sc.health(srv.url)
        if h["active_streams"] != MAX_STREAMS:
            p.append(f"/health after the refusal: {h}")

        async def finish(c, seed):
            ok = await c.send_audio(PCM, sc.random_pieces(random.Random(seed), 1, 8000))
            if ok:
                await c.send_end()
            await c.wait_closed(TIMEOUT)
            return c.result()

        results = await asyncio.gather(*(finish(c, i) for i, c in enumerate(clients)))
        for i, r in enumerate(results):
            q = sc.check_sequence(r, 16000)
            if r.text != ref.text:
                q.append(f"joined finals {r.text!r} != transcribe {ref.text!r}")
            if q:
                p.append(f"open stream {i} after the refusal: " + "; ".join(q))
        # a freed slot can be used again
        sc.wait_active_streams(srv.url, MAX_STREAMS - 1, 5)
        r = await sc.stream(srv.ws_url, PCM, {}, pieces=8000, timeout=TIMEOUT)
        q = sc.check_sequence(r, 16000)
        if q or r.text != ref.text:
            p.append(f"stream after the others left: {q} {r.text!r}")

    run(main(), 600)
    after = sc.metrics(srv.url).get("ssmspeech_rejected_total", 0.0, reason="capacity")
    if after - before != 1:
        p.append(f"ssmspeech_rejected_total{{reason=\"capacity\"}} rose by {after - before}, expected 1")
    assert not p, "\n".join(p)
    assert sc.wait_active_streams(srv.url, 0, 5) == 0


# --------------------------------------------------------------------------------------------------
# HTTP: transcriptions


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt", "verbose_json", None])
def test_transcription_formats(srv, ref, fmt):
    r = sc.transcribe_upload(srv.url, WAV_BYTES, "sample.wav", fmt)
    assert r.status == 200, f"HTTP {r.status}: {r.body[:500]!r}"
    if fmt in ("json", None):
        assert r.json() == {"text": ref.text}
    elif fmt == "text":
        assert r.text.rstrip("\n") == ref.text, f"{r.text!r} != {ref.text!r}"
    elif fmt in ("srt", "vtt"):
        cli = ref.transcribe(str(sc.SAMPLE_WAV), fmt)
        assert r.text == cli, f"server {fmt}:\n{r.text!r}\ntranscribe --format {fmt}:\n{cli!r}"
    else:
        v = r.json()
        cli = json.loads(ref.transcribe(str(sc.SAMPLE_WAV), "json"))
        assert v.get("task") == "transcribe" and v.get("language") == "english", v
        assert v.get("text") == ref.text, v
        assert isinstance(v.get("duration"), (int, float)) and abs(v["duration"] - DURATION) < 0.01, v
        segs = v.get("segments")
        assert isinstance(segs, list) and segs, v
        for s in segs:
            assert isinstance(s, dict) and {"start", "end", "text"} <= s.keys(), s
        assert " ".join(s["text"].strip() for s in segs) == ref.text, segs
        assert v.get("words") == cli["words"], f"words {v.get('words')} != transcribe's {cli['words']}"


def test_transcription_flac_and_ignored_fields(srv, ref):
    """Any libsndfile format; model/language/prompt/temperature accepted and ignored."""
    flac = ref.sox("sample.flac")
    r = sc.transcribe_upload(srv.url, flac.read_bytes(), "sample.flac", "json",
                             {"model": "whisper-1", "language": "en", "prompt": "hello", "temperature": "0"})
    assert r.status == 200, f"HTTP {r.status}: {r.body[:500]!r}"
    assert r.json() == {"text": ref.transcribe(str(flac)).rstrip("\n")}


# --------------------------------------------------------------------------------------------------
# HTTP: speech


def _cli_synthesize(tmp_path: Path, to_file: bool) -> tuple[int, np.ndarray]:
    if to_file:
        out = tmp_path / "cli.wav"
        sc.cli(BIN, ["synthesize", SPEECH_TEXT, "-o", str(out)])
        with wave.open(str(out)) as w:
            assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
            return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    w = sc.parse_wav(sc.cli(BIN, ["synthesize", SPEECH_TEXT]).stdout)   # streamed WAV on stdout
    return w.rate, w.samples()


def _compare(what: str, s: np.ndarray, ref_samples: np.ndarray) -> str | None:
    if np.array_equal(s, ref_samples):
        return None
    n = min(len(s), len(ref_samples))
    d = s[:n].astype(int) - ref_samples[:n].astype(int)
    nz = np.flatnonzero(d)
    return (f"{what}: server {len(s)} samples, synthesize {len(ref_samples)}; {len(nz)} of {n} differ, first at "
            f"{nz[0] if len(nz) else n}, max |diff| {int(np.abs(d).max()) if n else 0}")


def _server_speech(srv, payload: dict, rate: int) -> np.ndarray:
    r = sc.speech(srv.url, payload)
    assert r.status == 200, f"{payload}: HTTP {r.status}: {r.body[:500]!r}"
    assert r.content_type == "audio/wav", r.headers
    w = sc.parse_wav(r.body)
    assert (w.riff_size, w.data_size) == (0xFFFFFFFF, 0xFFFFFFFF), \
        f"streamed WAV header sizes {w.riff_size:#x}, {w.data_size:#x}, expected 0xFFFFFFFF"
    assert (w.format_tag, w.channels, w.bits, w.rate) == (1, 1, 16, rate), (w.format_tag, w.channels, w.bits, w.rate)
    return w.samples()


SPEECH_PAYLOADS = [{"input": SPEECH_TEXT},
                   {"input": SPEECH_TEXT, "model": "tts-1", "response_format": "wav", "speed": 1.5}]


def test_speech_equals_synthesize_stdout(srv, tmp_path):
    """The samples equal `ssmspeech synthesize TEXT` streamed to stdout (optional fields ignored)."""
    rate, cli_samples = _cli_synthesize(tmp_path, to_file=False)
    for payload in SPEECH_PAYLOADS:
        diff = _compare(str(payload), _server_speech(srv, payload, rate), cli_samples)
        assert diff is None, diff


def test_speech_equals_synthesize_output_file(srv, tmp_path):
    """The samples equal `ssmspeech synthesize TEXT -o out.wav`."""
    rate, file_samples = _cli_synthesize(tmp_path, to_file=True)
    s = _server_speech(srv, SPEECH_PAYLOADS[0], rate)
    diff = _compare("server vs synthesize -o", s, file_samples)
    if diff is not None:
        _, stdout_samples = _cli_synthesize(tmp_path, to_file=False)
        diff += "; " + (_compare("synthesize stdout vs -o", stdout_samples, file_samples) or "") + \
            ("; the server equals `synthesize` on stdout" if np.array_equal(s, stdout_samples) else "")
    assert diff is None, diff


# --------------------------------------------------------------------------------------------------
# HTTP: errors


def test_upload_too_big_413(srv):
    big = WAV_BYTES + bytes(MAX_UPLOAD + 100_000 - len(WAV_BYTES))
    body, ctype = sc.multipart_body({"response_format": "json"}, {"file": ("big.wav", big, "audio/wav")})
    r = sc.post_raw(srv.url + "/v1/audio/transcriptions", body, {"Content-Type": ctype})
    assert r.status == 413, f"HTTP {r.status} ({r.error}): {r.body[:300]!r}"
    # the same without Content-Length (chunked): must not get around the limit
    r = sc.post_raw(srv.url + "/v1/audio/transcriptions", body, {"Content-Type": ctype}, chunked=True)
    assert r.status in (413, 411), f"chunked upload over the limit: HTTP {r.status} ({r.error}): {r.body[:300]!r}"
    assert sc.health(srv.url)["status"] == "ok"


def _no_file(url):
    return sc.transcribe_upload(url, None, response_format="json")


HTTP_ERRORS = {
    "upload-without-file": (_no_file, 400),
    "unknown-response-format": (lambda u: sc.transcribe_upload(u, WAV_BYTES, "a.wav", "mp3"), 400),
    "unreadable-audio": (lambda u: sc.transcribe_upload(u, b"this is not audio" * 100, "a.wav", "json"), 400),
    "not-multipart": (lambda u: sc.http_request("POST", u + "/v1/audio/transcriptions", b"{}",
                                                {"Content-Type": "application/json"}), 400),
    "speech-empty-input": (lambda u: sc.speech(u, {"input": ""}), 400),
    "speech-missing-input": (lambda u: sc.speech(u, {"model": "tts-1"}), 400),
    "speech-invalid-json": (lambda u: sc.speech(u, b'{"input": '), 400),
    "speech-too-long": (lambda u: sc.speech(u, {"input": ("word " * 1001)[:5001]}, timeout=60), 400),
    # response_format is "wav only": a client asking for another format must not silently get WAV
    "speech-format-mp3": (lambda u: sc.speech(u, {"input": "Hello.", "response_format": "mp3"}, timeout=60), 400),
}


@pytest.mark.parametrize("name", list(HTTP_ERRORS))
def test_http_errors(srv, name):
    fn, status = HTTP_ERRORS[name]
    r = fn(srv.url)
    assert r.status == status, f"{name}: HTTP {r.status}, expected {status}: {r.body[:300]!r}"


# --------------------------------------------------------------------------------------------------
# Metrics


METRICS = {
    "ssmspeech_active_streams": "gauge",
    "ssmspeech_streams_total": "counter",
    "ssmspeech_rejected_total": "counter",
    "ssmspeech_audio_seconds_total": "counter",
    "ssmspeech_compute_seconds_total": "counter",
    "ssmspeech_chunk_latency_seconds": "histogram",
}


def _check_histogram(m: sc.Metrics) -> None:
    b = m.buckets("ssmspeech_chunk_latency_seconds")
    assert b and math.isinf(b[-1][0]), f"no +Inf bucket: {b}"
    assert all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), f"buckets not cumulative: {b}"
    assert b[-1][1] == m.get("ssmspeech_chunk_latency_seconds_count"), "+Inf bucket != _count"
    assert m.get("ssmspeech_chunk_latency_seconds_sum") is not None


def test_metrics(srv, ref):
    assert sc.wait_active_streams(srv.url, 0, 10) == 0
    m0 = sc.metrics(srv.url)
    for name, typ in METRICS.items():
        t = m0.types.get(name, m0.types.get(name.removesuffix("_total")))
        assert t == typ, f"# TYPE of {name}: {t!r}, expected {typ!r}"
    for name in ["ssmspeech_active_streams", "ssmspeech_streams_total", "ssmspeech_audio_seconds_total",
                 "ssmspeech_compute_seconds_total", "ssmspeech_chunk_latency_seconds_count"]:
        assert m0.get(name) is not None, f"no sample of {name}"
    assert m0.get("ssmspeech_active_streams") == 0
    _check_histogram(m0)

    async def one_open_stream():
        c = await StreamClient(srv.ws_url).connect()
        await c.send_config({})
        assert await c.wait_for("ready", 30)
        during = sc.metrics(srv.url).get("ssmspeech_active_streams")
        await c.send_audio(PCM, CHUNK_40MS * 5)
        await c.send_end()
        await c.wait_closed(TIMEOUT)
        return during, c.result()

    during, r = run(one_open_stream())
    assert_ok_stream(r, ref.text)
    assert during == 1, f"ssmspeech_active_streams during one stream: {during}"
    assert sc.wait_active_streams(srv.url, 0, 5) == 0
    m1 = sc.metrics(srv.url)
    assert m1.get("ssmspeech_active_streams") == 0
    assert m1.get("ssmspeech_streams_total") - m0.get("ssmspeech_streams_total") == 1
    da = m1.get("ssmspeech_audio_seconds_total") - m0.get("ssmspeech_audio_seconds_total")
    assert abs(da - DURATION) < 0.05, f"audio_seconds_total rose by {da}, the stream had {DURATION}"
    assert m1.get("ssmspeech_compute_seconds_total") > m0.get("ssmspeech_compute_seconds_total")
    assert m1.get("ssmspeech_chunk_latency_seconds_count") > m0.get("ssmspeech_chunk_latency_seconds_count")
    _check_histogram(m1)

    # uploads count as recognized audio too
    assert sc.transcribe_upload(srv.url, WAV_BYTES, "a.wav", "json").status == 200
    m2 = sc.metrics(srv.url)
    da = m2.get("ssmspeech_audio_seconds_total") - m1.get("ssmspeech_audio_seconds_total")
    assert abs(da - DURATION) < 0.05, f"an upload of {DURATION} s raised audio_seconds_total by {da}"

    # one rejection of each kind that can be provoked cheaply
    triggers = {
        "bad_config": lambda: run(HOSTILE["unknown-key"](srv.ws_url)),
        "too_big": lambda: run(HOSTILE["too-big-binary"](srv.ws_url)),
        "idle": lambda: run(HOSTILE["idle-after-ready"](srv.ws_url)),
        "upload_too_big": lambda: sc.post_raw(srv.url + "/v1/audio/transcriptions", *_big_upload()),
        "bad_request": lambda: _no_file(srv.url),
    }
    wrong = []
    for reason, trigger in triggers.items():
        before = sc.metrics(srv.url).get("ssmspeech_rejected_total", 0.0, reason=reason)
        trigger()
        sc.wait_active_streams(srv.url, 0, 5)
        after = sc.metrics(srv.url).get("ssmspeech_rejected_total", 0.0, reason=reason)
        if after - before != 1:
            wrong.append(f"ssmspeech_rejected_total{{reason=\"{reason}\"}} rose by {after - before}, expected 1")
    assert not wrong, "\n".join(wrong)
    assert sc.metrics(srv.url).get("ssmspeech_active_streams") == 0


def _big_upload():
    body, ctype = sc.multipart_body({}, {"file": ("a.wav", bytes(MAX_UPLOAD + 1000), "audio/wav")})
    return body, {"Content-Type": ctype}


# --------------------------------------------------------------------------------------------------
# Graceful shutdown (its own server)


def test_sigterm_flushes_finals_and_closes_1001(ref):
    srv = Server(BIN, ["--idle-timeout", "60"]).start(timeout=60)
    try:
        async def main():
            c = await StreamClient(srv.ws_url).connect()
            await c.send_config({})
            assert await c.wait_for("ready", 30), [m.data for m in c.messages]
            idle = await StreamClient(srv.ws_url).connect()   # a second stream with no audio yet
            await idle.send_config({})
            assert await idle.wait_for("ready", 30), [m.data for m in idle.messages]
            await c.send_audio(PCM, CHUNK_40MS)              # all of it, no `end`
            assert await c.wait_for("partial", TIMEOUT), f"no partial: {c.result().summary()}"
            await asyncio.sleep(1.0)                         # every byte has reached the server
            t0 = time.monotonic()
            srv.send_signal(signal.SIGTERM)
            await asyncio.gather(c.wait_closed(10), idle.wait_closed(10))
            return c.result(), idle.result(), t0

        r, idle, t0 = run(main(), 300)
        try:
            rc = srv.proc.wait(max(0.1, 10 - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            rc = "still running 10 s after SIGTERM"
        p = []
        if r.close_code != 1001:
            p.append(f"streaming client: close code {r.close_code}, expected 1001")
        if not r.finals:
            p.append("streaming client: no final flushed before the close")
        elif r.text != ref.text:
            p.append(f"streaming client: flushed finals {r.text!r} != transcribe {ref.text!r}")
        last = r.messages[-1].obj if r.messages else None
        if not (isinstance(last, dict) and last.get("type") == "done"):
            p.append("streaming client: the last message before the close is not {\"type\":\"done\"} (Docs/SERVER.md, "
                     f"Shutdown); last message: {r.messages[-1].data if r.messages else None}")
        if any(isinstance(m.obj, dict) and m.obj.get("type") == "error" for m in r.messages):
            p.append("streaming client: an error message on shutdown (Docs/SERVER.md: finals, done, 1001)")
        if idle.close_code != 1001:
            p.append(f"idle client: close code {idle.close_code}, expected 1001")
        if rc != 0:
            p.append(f"exit status after SIGTERM: {rc}")
        assert not p, "\n".join(p) + f"\nstreaming client: {r.summary()}\nidle client: {idle.summary()}" \
                                     f"\nserver stderr:\n{srv.stderr_text()}"
    finally:
        srv.kill()
