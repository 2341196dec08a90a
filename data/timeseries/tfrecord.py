"""TFRecord files and ``tf.train.SequenceExample`` records, read without TensorFlow.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes | data | uint32 masked CRC32C of data

with ``masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2^32). Every checksum is verified, so a
truncated or corrupted file fails with one line naming the file and the record instead of yielding garbage.

The records of the AudioSet embedding release are serialised ``tf.train.SequenceExample`` protocol buffers.
Their message classes are built here at run time from a descriptor (the few messages of TensorFlow's
``example.proto`` and ``feature.proto``, in a private descriptor pool), so only the ``protobuf`` package is needed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import google_crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from data.errors import DatasetError

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")  # length, masked CRC of the length
_FOOTER = struct.Struct("<I")  # masked CRC of the data


class TFRecordError(DatasetError):
    """A TFRecord file is truncated, fails a checksum, or holds a record that does not parse."""


def masked_crc32c(data: bytes) -> int:
    """The masked CRC32C (Castagnoli) checksum TFRecord framing stores for ``data``."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord (length, its checksum, data, checksum): the inverse of reading."""
    length = struct.pack("<Q", len(data))
    return length + _FOOTER.pack(masked_crc32c(length)) + data + _FOOTER.pack(masked_crc32c(data))


def read_records(stream: BinaryIO, name: str) -> Iterator[bytes]:
    """Yield the data of every record of a TFRecord stream, checking both checksums of each.

    Args:
        stream: A binary file object positioned at the first record.
        name: What to call the stream in errors (usually its path).

    Raises:
        TFRecordError: naming ``name`` and the 0-based record index.
    """
    index = 0
    while True:
        header = stream.read(_HEADER.size)
        if not header:
            return
        if len(header) < _HEADER.size:
            raise TFRecordError(f"{name}: record {index}: truncated header ({len(header)} of 12 bytes)")
        length, length_crc = _HEADER.unpack(header)
        if masked_crc32c(header[:8]) != length_crc:
            raise TFRecordError(f"{name}: record {index}: length checksum mismatch (corrupt file)")
        data = stream.read(length)
        footer = stream.read(_FOOTER.size)
        if len(data) < length or len(footer) < _FOOTER.size:
            raise TFRecordError(f"{name}: record {index}: truncated data ({len(data)} of {length} bytes)")
        if masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
            raise TFRecordError(f"{name}: record {index}: data checksum mismatch (corrupt file)")
        yield data
        index += 1


def read_tfrecord_file(path: str | Path) -> Iterator[bytes]:
    """Yield the checked records of the TFRecord file ``path``."""
    with open(path, "rb") as f:
        yield from read_records(f, str(path))


# ----------------------------------------------------------------------------------------------------------
# tf.train.SequenceExample
# ----------------------------------------------------------------------------------------------------------
def _example_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The messages of TensorFlow's ``feature.proto`` and ``example.proto`` a SequenceExample needs."""
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="hypercl/tf_example.proto", package="tensorflow",
                                               syntax="proto3")

    def message(name: str, fields: list[tuple], nested: descriptor_pb2.DescriptorProto | None = None):
        msg = proto.message_type.add(name=name)
        if nested is not None:
            msg.nested_type.append(nested)
        for field_name, number, ftype, label, type_name, oneof in fields:
            field = msg.field.add(name=field_name, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
            if oneof is not None:
                field.oneof_index = oneof
        return msg

    def map_entry(value_type: str) -> descriptor_pb2.DescriptorProto:
        entry = descriptor_pb2.DescriptorProto(name="Entry")
        entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=value_type)
        entry.options.map_entry = True
        return entry

    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, F.TYPE_BYTES, rep, None, None)])
    message("FloatList", [("value", 1, F.TYPE_FLOAT, rep, None, None)])
    message("Int64List", [("value", 1, F.TYPE_INT64, rep, None, None)])
    feature = message("Feature", [("bytes_list", 1, F.TYPE_MESSAGE, opt, ".tensorflow.BytesList", 0),
                                  ("float_list", 2, F.TYPE_MESSAGE, opt, ".tensorflow.FloatList", 0),
                                  ("int64_list", 3, F.TYPE_MESSAGE, opt, ".tensorflow.Int64List", 0)])
    feature.oneof_decl.add(name="kind")
    message("Features", [("feature", 1, F.TYPE_MESSAGE, rep, ".tensorflow.Features.Entry", None)],
            map_entry(".tensorflow.Feature"))
    message("FeatureList", [("feature", 1, F.TYPE_MESSAGE, rep, ".tensorflow.Feature", None)])
    message("FeatureLists", [("feature_list", 1, F.TYPE_MESSAGE, rep, ".tensorflow.FeatureLists.Entry", None)],
            map_entry(".tensorflow.FeatureList"))
    message("SequenceExample", [("context", 1, F.TYPE_MESSAGE, opt, ".tensorflow.Features", None),
                                ("feature_lists", 2, F.TYPE_MESSAGE, opt, ".tensorflow.FeatureLists", None)])
    return proto


def _build_classes() -> dict[str, type]:
    pool = descriptor_pool.DescriptorPool()  # private: never clashes with protos other packages register
    pool.Add(_example_descriptor())
    names = ("Feature", "FeatureList", "SequenceExample")
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{n}")) for n in names}


_CLASSES: dict[str, type] = {}


def example_classes() -> dict[str, type]:
    """The message classes ``{"Feature", "FeatureList", "SequenceExample"}`` (built on first use)."""
    if not _CLASSES:
        _CLASSES.update(_build_classes())
    return _CLASSES


def _values(feature) -> list:
    kind = feature.WhichOneof("kind")
    return [] if kind is None else list(getattr(feature, kind).value)


@dataclass
class SequenceExample:
    """A parsed ``tf.train.SequenceExample``: context features and feature lists as plain Python lists."""

    context: dict[str, list]  # name -> values (bytes, float or int)
    feature_lists: dict[str, list[list]]  # name -> one value list per step


def parse_sequence_example(data: bytes, where: str = "<bytes>") -> SequenceExample:
    """Decode one serialised SequenceExample; a malformed one raises :class:`TFRecordError` naming ``where``."""
    msg = example_classes()["SequenceExample"]()
    try:
        msg.ParseFromString(data)
    except DecodeError as err:
        raise TFRecordError(f"{where}: not a tf.train.SequenceExample ({err})") from None
    context = {k: _values(f) for k, f in msg.context.feature.items()}
    lists = {k: [_values(f) for f in fl.feature] for k, fl in msg.feature_lists.feature_list.items()}
    return SequenceExample(context, lists)
