"""Writers of AudioSet files in their official formats, for tests, independent of the code under test.

SequenceExamples are encoded by hand in the protobuf wire format and framed as TFRecords with a bitwise CRC32C
(Castagnoli, reflected polynomial 0x82F63B78), so the reader is checked against a second implementation of
both formats rather than against itself.
"""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np


# ------------------------------------------------------------------------------------------------ CRC32C
def crc32c_bitwise(data: bytes) -> int:
    """CRC32C, one bit at a time (slow, obviously right)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_bytes(records: list[bytes]) -> bytes:
    """Records framed as a TFRecord file: length, masked CRC of the length, data, masked CRC of the data."""
    out = b""
    for data in records:
        length = struct.pack("<Q", len(data))
        out += length + struct.pack("<I", masked(crc32c_bitwise(length))) + data
        out += struct.pack("<I", masked(crc32c_bitwise(data)))
    return out


# ------------------------------------------------------------------------------------------------ protobuf wire
def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are sent as their 64-bit two's complement
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def delimited(field: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def feature(kind: str, values: list) -> bytes:
    """A ``tf.train.Feature``: bytes_list = 1 (repeated bytes), float_list = 2, int64_list = 3 (both packed)."""
    if kind == "bytes":
        return delimited(1, b"".join(delimited(1, v) for v in values))
    if kind == "float":
        return delimited(2, delimited(1, b"".join(struct.pack("<f", v) for v in values)))
    return delimited(3, delimited(1, b"".join(varint(v) for v in values)))


def sequence_example(context: dict[str, tuple[str, list]], lists: dict[str, list[tuple[str, list]]]) -> bytes:
    """A ``tf.train.SequenceExample``: context = 1 (Features: map feature = 1), feature_lists = 2 (FeatureLists:
    map feature_list = 1 of FeatureList: repeated feature = 1). Map entries: key = 1, value = 2."""
    ctx = b"".join(delimited(1, delimited(1, k.encode()) + delimited(2, feature(*v))) for k, v in context.items())
    fls = b"".join(delimited(1, delimited(1, k.encode()) + delimited(2, b"".join(delimited(1, feature(*f))
                                                                                  for f in steps)))
                   for k, steps in lists.items())
    return delimited(1, ctx) + delimited(2, fls)


def audioset_record(video_id: str, labels: list[int], frames: np.ndarray, start: float = 30.0) -> bytes:
    """One clip as in the embedding release (``frames``: uint8 ``[F, 128]``)."""
    context = {"video_id": ("bytes", [video_id.encode()]), "start_time_seconds": ("float", [start]),
               "end_time_seconds": ("float", [start + 10.0]), "labels": ("int64", list(labels))}
    return sequence_example(context, {"audio_embedding": [("bytes", [row.tobytes()]) for row in frames]})


# ------------------------------------------------------------------------------------------------ metadata
def write_metadata(folder: Path, classes: list[dict]) -> None:
    """``ontology.json``, ``class_labels_indices.csv`` and ``confidence_data.csv`` for ``classes``.

    Args:
        classes: dicts with ``name``, ``confidence`` (%; None = not in the confidence table), ``restricted``
            and ``children`` (bools); the class index is the position in the list.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ontology = [{"id": f"/m/{i:04d}", "name": c["name"], "description": "", "citation_uri": "",
                 "positive_examples": [], "child_ids": ["/m/9999"] if c["children"] else [],
                 "restrictions": ["abstract"] if c["restricted"] else []} for i, c in enumerate(classes)]
    (folder / "ontology.json").write_text(json.dumps(ontology, indent=1))
    with open(folder / "class_labels_indices.csv", "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["index", "mid", "display_name"])
        for i, c in enumerate(classes):
            f.write(f'{i},/m/{i:04d},"{c["name"]}"\n')
    rows = [f"{c['name']}\t{c['confidence']}%\t1,234\t3.4\t56\t0.2\t60\t0.2\t1,118\t3.1"
            for c in classes if c["confidence"] is not None]
    (folder / "confidence_data.csv").write_text("\n".join(rows) + "\n")
