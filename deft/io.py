"""Atomic file writing and JSON lines: no reader ever sees half a file."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_jsonl(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def dumps_jsonl(rows: list[dict]) -> bytes:
    """Canonical JSON lines (sorted keys): the same rows always give the same bytes and sha256."""
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
