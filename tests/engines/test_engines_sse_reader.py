"""The SSE reader's short path (whole text events counted by a few scans) gives exactly what its
line-by-line loop gives, however the events are mixed and the stream is cut into reads."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tokbench.engines import sse

_TEXT = b'data: {"id":"x","choices":[{"index":0,"text":" %s","finish_reason":null}]}\n\n'
EVENTS = [
    _TEXT % b"tok",
    _TEXT % b"[DONE] inside text",  # [DONE] as text: not the end
    _TEXT % b"data: words",  # "data: " as text
    b'data: {"choices":[{"index":0,"text":"a","finish_reason":null},{"index":1,"text":"b","finish_reason":null}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"c"},"finish_reason":null}]}\n\n',  # chat shape
    b": keep-alive comment\n\n",
    b"\n",
    b"\n\n",
    b'data: {"choices":[{"index":0,"text":"x","finish_reason":null}]}\r\n\r\n',  # CRLF lines
    b'data: {"choices":[{"index":0,"text":"","finish_reason":null}],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
]
END = (b'data: {"choices":[{"index":0,"text":"","finish_reason":"length"}],'
       b'"usage":{"prompt_tokens":3,"completion_tokens":7}}\n\ndata: [DONE]\n\n')


def _read(stream: bytes, cuts: list[int], short_path: bool):
    reader = sse.SSEReader(lambda t, k: None, sse.parse_openai)
    if not short_path:
        reader._fast_events = lambda data: 0
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    done = False
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        done = reader.feed(stream[a:b], float(i))
        if done:
            break
    return done, reader.times, reader.counts, reader.reads, reader.events, reader.exact, reader.result.usage_output_tokens


@settings(max_examples=300, deadline=None)
@given(events=st.lists(st.sampled_from(range(len(EVENTS))), max_size=12),
       cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=10))
def test_short_path_counts_as_the_line_loop(events, cuts):
    stream = b"".join(EVENTS[i] for i in events) + END
    assert _read(stream, cuts, True) == _read(stream, cuts, False)


def test_short_path_counts_as_the_line_loop_for_every_short_mix():
    """Every sequence of up to three events, read one event at a time, as one read, and in pairs."""
    import itertools

    for n in (1, 2, 3):
        for seq in itertools.product(range(len(EVENTS)), repeat=n):
            parts = [EVENTS[i] for i in seq] + [END]
            stream = b"".join(parts)
            edges = list(itertools.accumulate(len(p) for p in parts))
            for cuts in (edges, [], edges[1::2]):
                assert _read(stream, cuts, True) == _read(stream, cuts, False), (seq, cuts)


def test_short_path_takes_whole_text_events():
    """A read of several whole text events is counted without the line loop (and gives their count)."""
    data = (_TEXT % b"a") * 3
    assert sse.SSEReader._fast_events(data) == 3
    assert sse.SSEReader._fast_events(_TEXT % b"a") == 1
    assert sse.SSEReader._fast_events(data[:-1]) == 0  # an unfinished event
    assert sse.SSEReader._fast_events((_TEXT % b"[DONE]")) == 0
