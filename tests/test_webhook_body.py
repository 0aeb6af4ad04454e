"""The webhook's I/O: reading a delivery's body within the size limit, in chunks (with and
without a length), and publishing it."""

from __future__ import annotations

import io

from knargo.edge.webhook import CHUNK, read_body


class Counted(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.sizes.append(-1 if size is None else size)
        return super().read(size)


def test_a_body_with_its_length_is_read_in_chunks() -> None:
    data = bytes(range(256)) * (3 * CHUNK // 256 + 7)
    stream = Counted(data)
    assert read_body(stream, len(data), len(data)) == data
    assert max(stream.sizes) <= CHUNK


def test_a_body_over_the_limit_is_not_read() -> None:
    stream = Counted(b"x" * 100)
    assert read_body(stream, 100, 99) is None
    assert stream.sizes == []


def test_a_body_without_a_length_stops_past_the_limit() -> None:
    stream = Counted(b"y" * (2 * CHUNK + 10))
    assert read_body(stream, None, CHUNK) is None
    assert stream.tell() == CHUNK + 1  # read no further than one byte over
    assert read_body(Counted(b"z" * 10), None, 10) == b"z" * 10


def test_a_shorter_body_than_announced_is_what_arrived() -> None:
    assert read_body(Counted(b"abc"), 10, 100) == b"abc"
    assert read_body(Counted(b""), None, 100) == b""
