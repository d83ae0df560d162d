"""Read the history rows of a wandb run file (`run-*.wandb`) without a server.

wandb 0.31 keeps no Python reader: the file is a 7-byte header (":W&B", a 2-byte magic, a version
byte), then 32 KiB blocks of records, each with a 7-byte header (crc32, little-endian length, type:
1 full, 2 first, 3 middle, 4 last) holding a `wandb_internal_pb2.Record` (LevelDB's log format).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK, HEADER = 32 * 1024, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    out, pending, pos = [], b"", 7
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # block trailer: zero padding
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:
            pos += room  # padding to the end of the block
            continue
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            pending = chunk
        elif kind == FIRST:
            pending = chunk
            continue
        elif kind == MIDDLE:
            pending += chunk
            continue
        elif kind == LAST:
            pending += chunk
        record = wandb_internal_pb2.Record()
        record.ParseFromString(pending)
        out.append(record)
    return out


def history(path: Path) -> list[dict]:
    """The logged rows, {key: value}, in the order written."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
    return rows
