"""JSON-lines manifests in the NeMo style: one ``{"audio_filepath", "text", "duration"}`` per line."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["write_manifest", "read_manifest", "audio_duration", "read_done_log"]


def read_done_log(path) -> dict:
    """The renderers' progress log (``done.jsonl``: one ``[voice, id, seconds]`` per line) as
    {(voice, id): seconds}; a missing file is empty and a torn last line is skipped."""
    out = {}
    path = Path(path)
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                v, i, d = json.loads(line)
                out[(v, i)] = d
            except ValueError:
                pass
    return out


def audio_duration(path) -> float:
    import soundfile as sf
    info = sf.info(str(path))
    return info.frames / float(info.samplerate)


def write_manifest(path, entries) -> int:
    """Writes entries (dicts with at least audio_filepath, text, duration); returns the count.

    The file is written under a temporary name of its own (unique per call) and renamed into place, so
    a reader never sees half a manifest and two writers of the same manifest at once (two training runs
    refreshing their snapshot together) cannot take each other's temporary file away: the last rename wins."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for e in entries:
                d = {"audio_filepath": str(e["audio_filepath"]), "text": e["text"],
                     "duration": round(float(e["duration"]), 3)}
                for k, v in e.items():
                    if k not in d:
                        d[k] = v
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
                n += 1
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a manifest is as readable as the files beside it
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def read_manifest(path, base_dir=None) -> list[dict]:
    """Reads a JSON-lines manifest; relative audio paths are resolved against base_dir (default:
    the manifest's folder)."""
    path = Path(path)
    base = Path(base_dir) if base_dir is not None else path.parent
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            p = Path(d["audio_filepath"])
            if not p.is_absolute():
                d["audio_filepath"] = str((base / p).resolve())
            d["duration"] = float(d.get("duration", 0.0))
            out.append(d)
    return out
