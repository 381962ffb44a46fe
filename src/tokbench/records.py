"""Raw per-request records: what loadgen measures, the store keeps and metrics summarize.

All timestamps are seconds on one monotonic clock (``time.perf_counter``) of the process that ran
the load; only differences between them mean anything. Nothing here is derived: metrics are pure
functions of these rows (``tokbench.metrics``), so old runs can be recomputed when definitions change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, ERROR, INCOMPLETE = "ok", "error", "incomplete"
STATUSES = (OK, ERROR, INCOMPLETE)


@dataclass
class RequestRecord:
    """One request as it happened.

    ``token_times`` holds one timestamp per output token: a streamed chunk that carries k tokens
    contributes k equal timestamps, so inter-token latency is counted per token, not per chunk.
    ``token_source`` says where the per-chunk token counts came from: ``server`` (the server said,
    per chunk), ``engine`` (an in-process engine stamps each token), ``tokenizer`` (a local tokenizer
    or the server's tokenize endpoint on each chunk's text, scaled to the server's total),
    ``usage_spread`` (the server's usage total spread over the chunks), ``chunks`` (one token per
    chunk, confirmed by the usage total when ``usage_output_tokens`` equals it; unconfirmed when the
    server reports no usage). ``chunks`` is the number of streamed events that carried output.
    ``attempt`` numbers the process that measured the request (0, then 1, 2 ... for each
    ``--resume``): a point's measuring time is summed per attempt, never across the pause between.
    ``status`` is ``ok`` (finished normally), ``incomplete`` (cut short: timeout, interrupt,
    truncated stream) or ``error`` (failed; ``error_class`` says how, e.g. ``http_503``,
    ``connect``, ``timeout_idle``, ``malformed_sse``).
    """

    point: str  # sweep point label, e.g. "c=8 d=4096"
    index: int  # request number within the run
    concurrency: int
    context_depth: int  # prompt tokens before generation (llama-bench's "d")
    prompt_tokens: int
    gen_tokens_requested: int
    t_start: float
    t_first_token: float | None = None
    t_end: float | None = None
    token_times: list[float] = field(default_factory=list)
    output_tokens: int = 0  # counted by the client (tokenizer or chunk count)
    usage_output_tokens: int | None = None  # as reported by the server, when it does
    usage_prompt_tokens: int | None = None
    status: str = OK
    error_class: str | None = None
    error_message: str | None = None
    warmup: bool = False
    role: str = ""  # workload role, e.g. "main" / "sub" in agent workloads
    native: dict[str, Any] = field(default_factory=dict)  # engine-native timings (llama.cpp timings, Ollama durations)
    chunks: int | None = None  # streamed events that carried output (None: not streamed in chunks)
    token_source: str = ""
    attempt: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RequestRecord:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (newer writers may add fields)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})
