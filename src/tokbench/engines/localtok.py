"""What an OpenAI-compatible server's side offers besides the stream: a local tokenizer standing in
for the server's (HF dir), and the speculative-decoding counters of its Prometheus ``/metrics``."""

from __future__ import annotations

from tokbench.errors import UserError

SPEC_COUNTERS = {  # vLLM's Prometheus counters of speculative decoding -> our names
    "vllm:spec_decode_num_drafts": "drafts", "vllm:spec_decode_num_draft_tokens": "draft_tokens",
    "vllm:spec_decode_num_accepted_tokens": "accepted_tokens"}


def parse_spec_counters(text: str) -> dict[str, float]:
    """Speculative-decoding counters from Prometheus text (summed over label sets)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        key = SPEC_COUNTERS.get(name[:-6] if name.endswith("_total") else name)
        if key:
            try:
                out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
    return out


class LocalTokenizer:
    """A local tokenizer (HF dir): prompts get the specials a server adds, chunk text none."""

    def __init__(self, path: str):
        try:
            from transformers import AutoTokenizer

            self.tok = AutoTokenizer.from_pretrained(path)
        except Exception as exc:  # noqa: BLE001 - any failure here is a bad --tokenizer value
            raise UserError(f"cannot load tokenizer from {path}: {exc}") from None

    def __call__(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=True)

    def plain(self, text: str) -> list[int]:
        """Ids of a piece of output text (no BOS)."""
        return self.tok.encode(text, add_special_tokens=False)


def load_tokenizer(path: str) -> LocalTokenizer:
    """The tokenizer of an HF dir or tokenizer.json (UserError when it cannot be loaded)."""
    return LocalTokenizer(path)
