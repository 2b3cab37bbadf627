"""Client library for `ssmspeech serve` (Docs/SERVER.md), used by Tests/server and Scripts/server_*.py.

Standard library + numpy + `websockets` (Tests/server/requirements.txt). Pieces:

- `Server`: starts `ssmspeech serve` on a free loopback port, waits for `GET /health`, stops it with SIGTERM.
- `StreamClient` / `stream()`: a WebSocket client of `/v1/stream` (asyncio) that sends the JSON config,
  binary PCM in given pieces (optionally paced in real time), then `{"type":"end"}`, and records every
  message with its receive time (`time.monotonic()`).
- `check_sequence()`: the protocol rules of a successful stream, as a list of problems.
- HTTP helpers (urllib): `health()`, `metrics()`, `transcribe_upload()`, `speech()`; `post_raw()`
  (http.client) for bodies the server may refuse before reading them (413).
- Prometheus text parsing and `histogram_quantile()`; /proc CPU and RSS of a process; the CLI as reference.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_WAV = ROOT / "Resources" / "samples" / "sample.wav"
DEFAULT_BIN = os.environ.get("SSMSPEECH_BIN", str(ROOT / ".build" / "debug" / "ssmspeech"))

__all__ = [
    "ROOT", "SAMPLE_WAV", "DEFAULT_BIN", "free_port", "Server", "ServerError", "HTTPResult", "http_request",
    "post_raw", "health", "metrics", "wait_active_streams", "multipart_body", "transcribe_upload", "speech",
    "WavData", "parse_wav", "read_wav_file", "Received", "StreamClient", "StreamResult", "stream",
    "random_pieces", "fixed_pieces", "check_sequence", "require_loopback", "parse_metrics", "Metrics", "histogram_quantile",
    "proc_cpu_seconds", "proc_rss_mb", "cli", "cli_transcribe", "cli_stream_json", "InvalidStatus",
]


# --------------------------------------------------------------------------------------------------
# Server process


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago: bind to port 0, read the port, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerError(RuntimeError):
    pass


class Server:
    """`ssmspeech serve` as a child process on 127.0.0.1:<free port>.

    with Server(bin, ["--max-streams", "4"]) as srv:
        health(srv.url)
    """

    def __init__(self, binary: str | os.PathLike = DEFAULT_BIN, args: Iterable[str] = (), host: str = "127.0.0.1",
                 port: int | None = None, cwd: str | os.PathLike = ROOT, env: dict | None = None):
        self.binary = str(binary)
        self.args = [str(a) for a in args]
        self.host = host
        self.port = port
        self.cwd = str(cwd)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._stderr = None
        self._stdout = None

    # URLs
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/stream"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _spawn(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        self._stdout = tempfile.TemporaryFile()
        cmd = [self.binary, "serve", "--host", self.host, "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._stdout, stderr=self._stderr)

    def start(self, timeout: float = 60.0) -> "Server":
        fixed_port = self.port is not None
        for attempt in range(3):
            if not fixed_port:
                self.port = free_port(self.host)
            self._spawn()
            try:
                self._wait_healthy(timeout)
                return self
            except ServerError as e:
                err = self.stderr_text()
                # Lost the race for the port: another process took it between free_port() and bind.
                if not fixed_port and attempt < 2 and ("in use" in err.lower() or "eaddrinuse" in err.lower()):
                    continue
                raise e
        raise AssertionError("unreachable")

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerError(f"`{self.binary} serve` exited with status {rc} before answering /health "
                                  f"(port {self.port}); stderr:\n{self.stderr_text()}")
            try:
                r = http_request("GET", self.url + "/health", timeout=2)
                if r.status == 200:
                    return
                last = f"HTTP {r.status}: {r.body[:200]!r}"
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.2)
        self.kill()
        raise ServerError(f"`{self.binary} serve` did not answer GET /health within {timeout:.0f} s "
                          f"(last: {last}); stderr:\n{self.stderr_text()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Sends `sig`, waits up to `timeout` s; kills it (and returns None) if it is still running then."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr_text(self, limit: int = 20000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        data = self._stderr.read()
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "…" + text[-limit:]

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------
# HTTP (urllib; http.client only where the server may answer before reading the whole body)

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy


@dataclass
class HTTPResult:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    seconds: float = 0.0
    error: str | None = None  # set by post_raw when the connection failed while sending

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def http_request(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
                 timeout: float = 120.0) -> HTTPResult:
    """One request with urllib; HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    t0 = time.monotonic()
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            data = r.read()
            return HTTPResult(r.status, {k.lower(): v for k, v in r.headers.items()}, data, time.monotonic() - t0)
    except urllib.error.HTTPError as e:
        data = e.read()
        return HTTPResult(e.code, {k.lower(): v for k, v in (e.headers or {}).items()}, data, time.monotonic() - t0)


def post_raw(url: str, body: bytes | Iterable[bytes], headers: dict, timeout: float = 60.0,
             chunked: bool = False) -> HTTPResult:
    """POST with http.client, tolerating a server that answers (413) and closes before the body is sent:
    a send error is recorded and the response is still read. `chunked`: Transfer-Encoding: chunked, no
    Content-Length (`body` may then be an iterable of pieces)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    t0 = time.monotonic()
    send_error = None
    try:
        conn.putrequest("POST", u.path or "/")
        for k, v in headers.items():
            conn.putheader(k, v)
        pieces = [body] if isinstance(body, (bytes, bytearray)) else list(body)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(sum(len(p) for p in pieces)))
        conn.endheaders()
        try:
            for p in pieces:
                for i in range(0, len(p), 65536):
                    part = p[i:i + 65536]
                    conn.send(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            if chunked:
                conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError) as e:
            send_error = repr(e)
        try:
            r = conn.getresponse()
            data = r.read()
            return HTTPResult(r.status, {k.lower(): v for k, v in r.getheaders()}, data, time.monotonic() - t0,
                              send_error)
        except (OSError, http.client.HTTPException) as e:
            return HTTPResult(0, {}, b"", time.monotonic() - t0, f"send: {send_error}; response: {e!r}")
    finally:
        conn.close()


def health(base_url: str, timeout: float = 10.0) -> dict:
    r = http_request("GET", base_url + "/health", timeout=timeout)
    if r.status != 200:
        raise ServerError(f"GET /health: HTTP {r.status} {r.body[:300]!r}")
    return r.json()


def metrics(base_url: str, timeout: float = 10.0) -> "Metrics":
    r = http_request("GET", base_url + "/metrics", timeout=timeout)
    if r.status != 200:
        raise ServerError(f"GET /metrics: HTTP {r.status} {r.body[:300]!r}")
    return parse_metrics(r.text)


def wait_active_streams(base_url: str, at_most: int = 0, timeout: float = 10.0) -> int:
    """Polls /health until active_streams <= at_most; returns the last value seen (check it)."""
    deadline = time.monotonic() + timeout
    while True:
        n = health(base_url)["active_streams"]
        if n <= at_most or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def multipart_body(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """multipart/form-data body and its Content-Type. files: name -> (filename, data, content type)."""
    boundary = "----ssmclient" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode()
        out += str(value).encode() + b"\r\n"
    for name, (filename, data, ctype) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                f"Content-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def transcribe_upload(base_url: str, data: bytes | None, filename: str = "audio.wav",
                      response_format: str | None = None, fields: dict | None = None,
                      content_type: str = "application/octet-stream", timeout: float = 300.0) -> HTTPResult:
    """POST /v1/audio/transcriptions (multipart). data=None sends no `file` part."""
    f = dict(fields or {})
    if response_format is not None:
        f["response_format"] = response_format
    files = {} if data is None else {"file": (filename, data, content_type)}
    body, ctype = multipart_body(f, files)
    return http_request("POST", base_url + "/v1/audio/transcriptions", body, {"Content-Type": ctype},
                        timeout=timeout)


def speech(base_url: str, payload: dict | bytes, timeout: float = 300.0) -> HTTPResult:
    """POST /v1/audio/speech with a JSON body (bytes are sent as they are)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return http_request("POST", base_url + "/v1/audio/speech", body, {"Content-Type": "application/json"},
                        timeout=timeout)


# --------------------------------------------------------------------------------------------------
# WAV


@dataclass
class WavData:
    format_tag: int
    channels: int
    rate: int
    bits: int
    riff_size: int
    data_size: int  # as written in the header (0xFFFFFFFF for a live stream)
    data: bytes     # the data chunk's bytes (to the end of the file when its size is 0xFFFFFFFF or too large)

    def samples(self) -> np.ndarray:
        if self.format_tag == 1 and self.bits == 16:
            return np.frombuffer(self.data[: len(self.data) // 2 * 2], dtype="<i2")
        raise ValueError(f"unsupported WAV format tag {self.format_tag}, {self.bits} bits")


def parse_wav(buf: bytes) -> WavData:
    """Parses RIFF/WAVE by hand (the `wave` module refuses 0xFFFFFFFF sizes)."""
    if len(buf) < 12 or buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        raise ValueError(f"not a RIFF/WAVE file (starts {buf[:12]!r})")
    riff_size = struct.unpack_from("<I", buf, 4)[0]
    pos, fmt = 12, None
    while pos + 8 <= len(buf):
        cid, size = buf[pos:pos + 4], struct.unpack_from("<I", buf, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            tag, ch, rate, _, _, bits = struct.unpack_from("<HHIIHH", buf, body)
            if tag == 0xFFFE and size >= 26:  # WAVE_FORMAT_EXTENSIBLE: sub-format GUID's first 2 bytes
                tag = struct.unpack_from("<H", buf, body + 24)[0]
            fmt = (tag, ch, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            end = len(buf) if size == 0xFFFFFFFF or body + size > len(buf) else body + size
            return WavData(fmt[0], fmt[1], fmt[2], fmt[3], riff_size, size, buf[body:end])
        if size == 0xFFFFFFFF:
            break
        pos = body + size + (size & 1)
    raise ValueError("no data chunk")


def read_wav_file(path: str | os.PathLike) -> WavData:
    return parse_wav(Path(path).read_bytes())


# --------------------------------------------------------------------------------------------------
# WebSocket streaming


def random_pieces(rng: random.Random, lo: int = 1, hi: int = 8000) -> Iterator[int]:
    while True:
        yield rng.randint(lo, hi)


def fixed_pieces(n: int) -> Iterator[int]:
    while True:
        yield n


@dataclass
class Received:
    t: float                 # time.monotonic() at receipt
    data: str | bytes
    obj: Any = None          # parsed JSON (text messages), None if not JSON or binary

    @property
    def type(self) -> str | None:
        return self.obj.get("type") if isinstance(self.obj, dict) else None


class StreamClient:
    """One WebSocket connection to /v1/stream. A background task records every message received."""

    def __init__(self, url: str, open_timeout: float = 30.0, additional_headers: dict | None = None):
        self.url = url
        self.open_timeout = open_timeout
        self.additional_headers = additional_headers
        self.ws = None
        self.messages: list[Received] = []
        self.t_connected: float | None = None
        self.t_closed: float | None = None
        self.t_end_sent: float | None = None
        self.reader_error: BaseException | None = None
        self.send_failed = False
        self.max_lateness = 0.0   # worst lag of a paced send behind its schedule (client-side overload)
        self._closed = asyncio.Event()
        self._new = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def connect(self) -> "StreamClient":
        """Raises websockets.exceptions.InvalidStatus when the upgrade is refused (e.g. HTTP 503)."""
        self.ws = await ws_connect(self.url, compression=None, proxy=None, ping_interval=None,
                                   open_timeout=self.open_timeout, close_timeout=5, max_size=None,
                                   max_queue=None, additional_headers=self.additional_headers)
        self.t_connected = time.monotonic()
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for m in self.ws:
                obj = None
                if isinstance(m, str):
                    try:
                        obj = json.loads(m)
                    except ValueError:
                        obj = None
                self.messages.append(Received(time.monotonic(), m, obj))
                self._new.set()
        except ConnectionClosed:
            pass
        except BaseException as e:  # noqa: BLE001 - recorded for the caller
            self.reader_error = e
        finally:
            self.t_closed = time.monotonic()
            self._closed.set()
            self._new.set()

    # sending (False when the connection is already closed)
    async def send(self, data: str | bytes) -> bool:
        try:
            await self.ws.send(data)
            return True
        except ConnectionClosed:
            self.send_failed = True
            return False

    async def send_json(self, obj: Any) -> bool:
        return await self.send(json.dumps(obj))

    async def send_config(self, config: dict | None = None) -> bool:
        return await self.send_json({} if config is None else config)

    async def send_end(self) -> bool:
        ok = await self.send_json({"type": "end"})
        self.t_end_sent = time.monotonic()
        return ok

    async def send_audio(self, data: bytes, pieces: Iterator[int] | int | None = None,
                         bytes_per_second: float | None = None, start: float | None = None,
                         stop_after: int | None = None) -> bool:
        """Sends `data` as binary messages of the sizes `pieces` yields (int: fixed size; None: one message).
        bytes_per_second paces byte k to go at start + k / bytes_per_second. stop_after: stop (return True)
        once that many bytes have been sent. Returns False if the connection closed."""
        if pieces is None:
            pieces = fixed_pieces(max(1, len(data)))
        elif isinstance(pieces, int):
            pieces = fixed_pieces(pieces)
        t0 = time.monotonic() if start is None else start
        limit = len(data) if stop_after is None else min(stop_after, len(data))
        pos = 0
        while pos < limit:
            n = min(next(pieces), limit - pos)
            if bytes_per_second:
                due = t0 + pos / bytes_per_second
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    self.max_lateness = max(self.max_lateness, -delay)
            if not await self.send(data[pos:pos + n]):
                return False
            pos += n
        return True

    # receiving
    def objects(self) -> list[Any]:
        return [m.obj for m in self.messages]

    async def wait_for(self, pred: Callable[[Received], bool] | str, timeout: float = 60.0) -> Received | None:
        """The first message (already received or arriving) that matches; None if the connection closes
        or the time runs out first. pred may be a message type ("ready", "final", …)."""
        if isinstance(pred, str):
            want = pred
            pred = lambda m: m.type == want  # noqa: E731
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for m in self.messages[seen:]:
                if pred(m):
                    return m
            seen = len(self.messages)
            if self._closed.is_set():
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def wait_closed(self, timeout: float = 60.0) -> bool:
        try:
            await asyncio.wait_for(self._closed.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def close_code(self) -> int | None:
        """The code of the close frame the server sent; None if none came (yet)."""
        rcvd = self.ws.protocol.close_rcvd if self.ws is not None else None
        return rcvd.code if rcvd is not None else None

    @property
    def close_reason(self) -> str | None:
        rcvd = self.ws.protocol.close_rcvd if self.ws is not None else None
        return rcvd.reason if rcvd is not None else None

    async def close(self, code: int = 1000) -> None:
        if self.ws is not None:
            try:
                await self.ws.close(code)
            except Exception:  # noqa: BLE001
                pass
        await self.wait_closed(10)

    def abort(self) -> None:
        """Drops the TCP connection at once: no close frame, no `end`."""
        if self.ws is not None:
            self.ws.transport.abort()

    def result(self) -> "StreamResult":
        return StreamResult(list(self.messages), self.close_code, self.close_reason, self.t_connected,
                            self.t_end_sent, self.t_closed, self.send_failed, self.max_lateness,
                            None if self.reader_error is None else repr(self.reader_error))


@dataclass
class StreamResult:
    messages: list[Received]
    close_code: int | None
    close_reason: str | None
    t_connected: float | None = None
    t_end_sent: float | None = None
    t_closed: float | None = None
    send_failed: bool = False
    max_lateness: float = 0.0
    reader_error: str | None = None
    timed_out: bool = False

    def of_type(self, t: str) -> list[dict]:
        return [m.obj for m in self.messages if m.type == t]

    @property
    def finals(self) -> list[dict]:
        return self.of_type("final")

    @property
    def partials(self) -> list[dict]:
        return self.of_type("partial")

    @property
    def errors(self) -> list[dict]:
        return self.of_type("error")

    @property
    def text(self) -> str:
        """The finals' texts joined with a space."""
        return " ".join(f.get("text", "") for f in self.finals)

    def first_time(self, t: str) -> float | None:
        for m in self.messages:
            if m.type == t:
                return m.t
        return None

    @property
    def final_latency(self) -> float | None:
        """Seconds from sending `end` to receiving `done`."""
        t_done = self.first_time("done")
        if self.t_end_sent is None or t_done is None:
            return None
        return t_done - self.t_end_sent

    def summary(self) -> str:
        lines = [f"close code {self.close_code} ({self.close_reason!r}), {len(self.messages)} messages"
                 + (", TIMED OUT" if self.timed_out else "") + (f", reader error {self.reader_error}"
                                                               if self.reader_error else "")]
        for m in self.messages[:40]:
            d = m.data if isinstance(m.data, str) else f"<binary {len(m.data)} bytes>"
            lines.append("  " + (d if len(d) < 300 else d[:300] + "…"))
        if len(self.messages) > 40:
            lines.append(f"  … {len(self.messages) - 40} more")
        return "\n".join(lines)


async def stream(url: str, audio: bytes, config: dict | None = None, pieces: Iterator[int] | int | None = 3200,
                 bytes_per_second: float | None = None, send_end: bool = True, timeout: float = 120.0,
                 start_delay: float = 0.0) -> StreamResult:
    """Connect, send config (None: `{}`), wait for ready, send audio, `end`, collect until the server closes."""
    if start_delay > 0:
        await asyncio.sleep(start_delay)
    c = StreamClient(url)
    await c.connect()
    timed_out = False
    try:
        async def run() -> None:
            if await c.send_config(config):
                m = await c.wait_for(lambda m: m.type in ("ready", "error"), timeout)
                if m is not None and m.type == "ready":
                    if await c.send_audio(audio, pieces, bytes_per_second) and send_end:
                        await c.send_end()
            await c._closed.wait()
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        timed_out = True
    finally:
        if not c.closed:
            await c.close()
    r = c.result()
    r.timed_out = timed_out
    return r


def require_loopback(url: str) -> str:
    """The URL without a trailing slash; exits if its host is not a loopback address (the load and
    soak tools never aim at another machine)."""
    url = url.rstrip("/")
    host = url.split("://", 1)[-1].split("/")[0].rsplit(":", 1)[0]
    if host not in ("127.0.0.1", "localhost", "[::1]", "::1"):
        sys.exit(f"--url must be a loopback address (127.0.0.1, localhost, [::1]), got {host!r}")
    return url


def check_sequence(r: StreamResult, sample_rate: int | None = 16000, expect_close: int = 1000) -> list[str]:
    """Problems in a successful stream's messages (empty list: it followed Docs/SERVER.md):
    `ready` first, then partials/finals (stream --json shapes), `done` last, close with `expect_close`."""
    p: list[str] = []
    if r.timed_out:
        p.append("timed out before the server closed the connection")
    if r.reader_error:
        p.append(f"reader error {r.reader_error}")
    msgs = r.messages
    if not msgs:
        return p + ["no message received"]
    for i, m in enumerate(msgs):
        if not isinstance(m.data, str):
            p.append(f"message {i} is binary ({len(m.data)} bytes); every server message must be text")
        elif not isinstance(m.obj, dict) or not isinstance(m.obj.get("type"), str):
            p.append(f"message {i} is not a JSON object with a type: {m.data[:200]!r}")
    if p:
        return p
    first = msgs[0].obj
    if first["type"] != "ready":
        p.append(f"first message is not ready: {first}")
    else:
        if sample_rate is not None and first.get("sample_rate") != sample_rate:
            p.append(f"ready.sample_rate {first.get('sample_rate')!r} != {sample_rate}")
        fs = first.get("frame_seconds")
        if not isinstance(fs, (int, float)) or isinstance(fs, bool) or not fs > 0:
            p.append(f"ready.frame_seconds is not a positive number: {fs!r}")
    last = msgs[-1].obj
    if last["type"] != "done":
        p.append(f"last message is not done: {last}")
    else:
        d = last.get("duration")
        if not isinstance(d, (int, float)) or isinstance(d, bool) or d < 0:
            p.append(f"done.duration is not a number >= 0: {d!r}")
    last_partial = ""
    prev_final_end = -math.inf
    for i, m in enumerate(msgs[1:-1], 1):
        o = m.obj
        t = o["type"]
        if t not in ("partial", "final"):
            p.append(f"message {i} between ready and done has type {t!r}: {o}")
            continue
        txt, s, e = o.get("text"), o.get("start"), o.get("end")
        if not isinstance(txt, str) or not all(isinstance(x, (int, float)) for x in (s, e)):
            p.append(f"message {i}: {t} without text/start/end: {o}")
            continue
        if s > e + 1e-9:
            p.append(f"message {i}: start {s} > end {e}")
        if t == "partial":
            if txt == last_partial:
                p.append(f"message {i}: partial repeats the open utterance's text {txt!r} (sent only on change)")
            last_partial = txt
        else:
            last_partial = ""
            words = o.get("words")
            if not isinstance(words, list) or not all(
                    isinstance(w, dict) and isinstance(w.get("word"), str) and "start" in w and "end" in w
                    for w in words):
                p.append(f"message {i}: final without a words list of {{word,start,end}}: {o}")
            if s < prev_final_end - 1e-6:
                p.append(f"message {i}: final starts at {s} before the previous final's end {prev_final_end}")
            prev_final_end = e
    if len([m for m in msgs if m.type == "done"]) != 1:
        p.append("more than one done")
    if r.close_code != expect_close:
        p.append(f"close code {r.close_code} (reason {r.close_reason!r}), expected {expect_close}")
    return p


# --------------------------------------------------------------------------------------------------
# Prometheus text format


@dataclass
class Metrics:
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def get(self, name: str, default: float | None = None, **labels: str) -> float | None:
        return self.samples.get((name, tuple(sorted(labels.items()))), default)

    def names(self) -> set[str]:
        return {n for n, _ in self.samples}

    def buckets(self, name: str, **labels: str) -> list[tuple[float, float]]:
        """Cumulative (le, count) of histogram `name`, sorted by le (+Inf last)."""
        out = []
        for (n, lab), v in self.samples.items():
            if n != name + "_bucket":
                continue
            d = dict(lab)
            le = d.pop("le", None)
            if le is None or d != labels:
                continue
            out.append((math.inf if le in ("+Inf", "Inf", "inf") else float(le), v))
        return sorted(out)


def _parse_labels(s: str) -> tuple[tuple[str, str], ...]:
    out, i = [], 0
    while i < len(s):
        while i < len(s) and s[i] in " ,":
            i += 1
        if i >= len(s):
            break
        eq = s.index("=", i)
        key = s[i:eq].strip()
        i = eq + 1
        assert s[i] == '"', s
        i += 1
        val = []
        while s[i] != '"':
            if s[i] == "\\":
                i += 1
                val.append({"n": "\n"}.get(s[i], s[i]))
            else:
                val.append(s[i])
            i += 1
        i += 1
        out.append((key, "".join(val)))
    return tuple(sorted(out))


def parse_metrics(text: str) -> Metrics:
    m = Metrics(text=text)
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                m.types[parts[2]] = parts[3]
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels, value = rest.rsplit("}", 1)
            lab = _parse_labels(labels)
        else:
            name, value = line.split(None, 1)
            lab = ()
        value = value.split()[0]  # drop an optional timestamp
        m.samples[(name.strip(), lab)] = float(value)
    return m


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus-style: linear interpolation inside the bucket that holds the q-quantile (cumulative
    counts, sorted by le). NaN if empty; the highest finite bound if it falls in the +Inf bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if math.isinf(le):
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


def bucket_diff(after: list[tuple[float, float]], before: list[tuple[float, float]]) -> list[tuple[float, float]]:
    b = dict(before)
    return [(le, c - b.get(le, 0.0)) for le, c in after]


# --------------------------------------------------------------------------------------------------
# /proc


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14, 15 of stat(5)


def proc_rss_mb(pid: int, key: str = "VmRSS") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        pass
    return math.nan


# --------------------------------------------------------------------------------------------------
# The command line as reference


def cli(binary: str, args: list[str], stdin: bytes | None = None, timeout: float = 600.0) -> subprocess.CompletedProcess:
    r = subprocess.run([binary, *args], input=stdin, cwd=ROOT, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"ssmspeech {' '.join(args)} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r


def cli_transcribe(binary: str, path: str | os.PathLike = SAMPLE_WAV, fmt: str = "text") -> str:
    return cli(binary, ["transcribe", "--format", fmt, str(path)]).stdout.decode()


def cli_stream_json(binary: str, data: bytes, args: list[str] = ()) -> list[dict]:
    out = cli(binary, ["stream", "--json", *args], stdin=data).stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]
