"""TFRecord framing and SequenceExample decoding (data/timeseries/tfrecord.py) against hand-written files."""

import io

import numpy as np
import pytest

from data.errors import DatasetError
from data.timeseries.preprocess_audioset import parse_audioset_clip
from data.timeseries.tfrecord import (
    TFRecordError,
    frame_record,
    masked_crc32c,
    parse_sequence_example,
    read_records,
    read_tfrecord_file,
)
from tests.data.timeseries.audioset_files import (
    audioset_record,
    crc32c_bitwise,
    masked,
    sequence_example,
    tfrecord_bytes,
)


def test_crc32c_matches_the_standard_check_value_and_a_bitwise_implementation():
    assert crc32c_bitwise(b"123456789") == 0xE3069283  # the published CRC-32C check value
    for data in (b"", b"a", b"123456789", bytes(range(256)) * 3):
        assert masked_crc32c(data) == masked(crc32c_bitwise(data))
    assert masked_crc32c(b"") == 0xA282EAD8  # crc("") = 0, so only the mask delta remains


def test_frame_record_writes_the_known_bytes():
    framed = frame_record(b"hello")
    assert framed == tfrecord_bytes([b"hello"])
    assert framed[:8] == (5).to_bytes(8, "little") and framed[12:17] == b"hello" and len(framed) == 21


@pytest.fixture
def clips():
    """Three clips with known frames (10, 10 and 7 seconds) and labels."""
    rng = np.random.RandomState(3)
    frames = [rng.randint(0, 256, (n, 128)).astype(np.uint8) for n in (10, 10, 7)]
    labels = [[0, 137], [72], [5, 300, 411]]
    return frames, labels


def test_generated_tfrecord_file_parses_to_the_expected_arrays(tmp_path, clips):
    frames, labels = clips
    path = tmp_path / "bal_train" / "Zy.tfrecord"
    path.parent.mkdir()
    path.write_bytes(tfrecord_bytes([audioset_record(f"vid{i}", labels[i], frames[i], start=10.0 * i)
                                     for i in range(3)]))
    parsed = [parse_audioset_clip(data, f"record {i}") for i, data in enumerate(read_tfrecord_file(path))]
    assert len(parsed) == 3
    x = np.stack([c.frames for c in parsed[:2]])
    assert x.dtype == np.uint8 and x.shape == (2, 10, 128)
    np.testing.assert_array_equal(x, np.stack(frames[:2]))
    assert parsed[2].frames.shape == (7, 128) and np.array_equal(parsed[2].frames, frames[2])
    assert [c.labels for c in parsed] == labels
    assert [c.video_id for c in parsed] == ["vid0", "vid1", "vid2"]
    assert [(c.start, c.end) for c in parsed] == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]


def test_generic_sequence_example_values():
    data = sequence_example({"n": ("int64", [-3, 2**40]), "f": ("float", [0.5, -2.25]), "s": ("bytes", [b"x"])},
                            {"steps": [("int64", [1]), ("int64", [2, 3])], "empty": []})
    example = parse_sequence_example(data)
    assert example.context == {"n": [-3, 2**40], "f": [0.5, -2.25], "s": [b"x"]}
    assert example.feature_lists == {"steps": [[1], [2, 3]], "empty": []}


def _corrupt(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:]


def test_corrupted_data_checksum_is_rejected_naming_file_and_record(tmp_path, clips):
    frames, labels = clips
    records = [audioset_record(f"v{i}", labels[i], frames[i]) for i in range(3)]
    data = tfrecord_bytes(records)
    second = len(tfrecord_bytes(records[:1]))  # offset of record 1
    path = tmp_path / "eval00.tfrecord"
    path.write_bytes(_corrupt(data, second + 12 + 40))  # a byte inside the data of record 1
    reader = read_tfrecord_file(path)
    assert next(reader) == records[0]  # record 0 is intact and still read
    with pytest.raises(TFRecordError, match=r"eval00\.tfrecord: record 1: data checksum mismatch") as err:
        next(reader)
    assert isinstance(err.value, DatasetError) and "\n" not in str(err.value)


def test_corrupted_length_and_truncation_are_rejected():
    data = tfrecord_bytes([b"abc", b"defgh"])
    with pytest.raises(TFRecordError, match=r"f: record 0: length checksum mismatch"):
        list(read_records(io.BytesIO(_corrupt(data, 0)), "f"))
    with pytest.raises(TFRecordError, match=r"f: record 1: truncated data \(3 of 5 bytes\)"):
        list(read_records(io.BytesIO(data[:-6]), "f"))
    with pytest.raises(TFRecordError, match=r"f: record 1: truncated header \(4 of 12 bytes\)"):
        list(read_records(io.BytesIO(data[: len(tfrecord_bytes([b"abc"])) + 4]), "f"))
    assert list(read_records(io.BytesIO(data), "f")) == [b"abc", b"defgh"]


def test_a_record_that_is_no_sequence_example_is_rejected(tmp_path):
    with pytest.raises(TFRecordError, match=r"x.tfrecord: record 4: not a tf.train.SequenceExample"):
        parse_sequence_example(b"\x0a\x05ab", "x.tfrecord: record 4")  # field 1 claims 5 bytes, 2 follow
    bad_frame = sequence_example({}, {"audio_embedding": [("bytes", [bytes(127)])]})
    with pytest.raises(TFRecordError, match=r"r 2: audio_embedding frames must be one 128-byte string"):
        parse_audioset_clip(bad_frame, "r 2")
