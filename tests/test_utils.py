"""The audio helpers of the public API."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gradio_webrtc import (
    aggregate_bytes_to_16bit,
    async_aggregate_bytes_to_16bit,
    audio_to_bytes,
    audio_to_file,
    audio_to_float32,
    audio_to_int16,
)


def test_float32_int16_conversions():
    x = np.array([-32768, 0, 16384, 32767], dtype=np.int16)
    f = audio_to_float32(x)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, [-1.0, 0.0, 0.5, 32767 / 32768])
    assert audio_to_float32(f) is f
    np.testing.assert_array_equal(audio_to_int16(np.array([1.5, -1.5, 0.5], np.float32)), [32767, -32768, 16384])
    assert audio_to_int16(x) is x
    with pytest.raises(TypeError, match="int16 or float32"):
        audio_to_float32(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="int16 or float32"):
        audio_to_int16(np.zeros(3, np.uint8))


def test_float32_accepts_the_original_tuple_with_a_warning():
    with pytest.warns(DeprecationWarning, match="takes the array"):
        out = audio_to_float32((16000, np.array([16384], np.int16)))
    np.testing.assert_allclose(out, [0.5])


def test_mp3_encoding_of_a_tone():
    t = np.arange(16000) / 16000
    audio = (16000, (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(1, -1))
    data = audio_to_bytes(audio)
    # An MPEG audio frame sync word (11 set bits) starts the stream (LAME writes no ID3 tag here).
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0
    assert 4000 < len(data) < 40000
    path = audio_to_file(audio)
    try:
        assert path.endswith(".mp3")
        with open(path, "rb") as f:
            assert f.read() == data
    finally:
        os.unlink(path)


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"\x01\x00\x02\x00"], [[1, 2]]),
        ([b"\x01", b"\x00\x02", b"\x00"], [[1], [2]]),
        ([b"", b"\x01"], []),
    ],
)
def test_aggregate_bytes(chunks, expected):
    got = [a.tolist() for a in aggregate_bytes_to_16bit(iter(chunks))]
    assert got == [[e] for e in expected]
    assert all(a.shape[0] == 1 for a in aggregate_bytes_to_16bit(iter(chunks)))


async def test_async_aggregate_bytes():
    async def gen():
        for c in [b"\x01", b"\x00\x02", b"\x00"]:
            yield c

    got = [a.tolist() async for a in async_aggregate_bytes_to_16bit(gen())]
    assert got == [[[1]], [[2]]]
