"""The raw streaming HTTP client: body framing decoded whatever way the bytes are split."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from tokbench.engines.rawhttp import _Conn

EVENTS = [b'data: {"choices":[{"text":"a","finish_reason":null}]}\n\n'] * 5 + [b"data: [DONE]\n\n"]


def _chunked(parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def _feed_split(wire: bytes, cuts: list[int]):
    loop = asyncio.new_event_loop()
    try:
        done = loop.create_future()
        got = []

        def feed(data, t):  # as the SSE reader: done once the [DONE] line is complete
            got.append(data)
            return b"[DONE]\n" in b"".join(got)

        conn = _Conn(feed, done)
        conn.transport = None
        bounds = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
        for a, b in zip(bounds, bounds[1:]):
            conn.data_received(wire[a:b])
        return b"".join(got), done
    finally:
        loop.close()


HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_chunked_body_survives_any_split(cuts):
    body, done = _feed_split(HEAD_CHUNKED + _chunked(EVENTS), cuts)
    whole = b"".join(EVENTS)
    assert body == whole[:len(body)] and b"data: [DONE]\n" in body  # every byte up to the final event, in order
    assert done.done() and done.exception() is None


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_content_length_and_error_status(cuts):
    wire = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\noverloads"
    body, done = _feed_split(wire, cuts)
    assert body == b""
    assert done.exception().error_class == "http_503"


def test_chunked_end_without_final_event_is_truncated():
    body, done = _feed_split(HEAD_CHUNKED + _chunked(EVENTS[:2]), [])
    assert done.exception().error_class == "truncated_stream"
