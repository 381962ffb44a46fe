"""Secrets never reach the database."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tokbench.records import RequestRecord
from tokbench.store import open_store, redact
from tokbench.store.redact import env_secrets, is_secret_key

KEY = "sk-test-0123456789abcdefXYZ"


def test_redact_drops_secret_keys_keeps_counts():
    cfg = {"api_key": KEY, "headers": {"Authorization": f"Bearer {KEY}", "Accept": "x"}, "max_tokens": 8,
           "gen_tokens": 4, "nested": [{"hf_token": "h"}, {"openai_api_key": "o"}], "X-Api-Key": "z"}
    out = redact(cfg, [KEY])
    assert out == {"headers": {"Accept": "x"}, "max_tokens": 8, "gen_tokens": 4, "nested": [{}, {}]}
    assert cfg["api_key"] == KEY  # input not mutated


def test_redact_masks_values_in_text():
    out = redact({"url": f"http://h/v1?key={KEY}", "cmd": ["--api-key", "mysecretvalue"], "n": 3},
                 ["mysecretvalue", KEY])
    assert KEY not in str(out) and "mysecretvalue" not in str(out)
    assert out["n"] == 3 and "[REDACTED]" in out["url"]
    # Bearer and sk- tokens are masked even when the caller forgot to pass them.
    assert "abcdefgh12345678" not in redact("auth: Bearer abcdefgh12345678", [])
    assert "sk-" + "a" * 20 not in redact("got sk-" + "a" * 20, [])


def test_secret_key_names():
    for k in ("api_key", "API-KEY", "Authorization", "token", "hf_token", "openai_api_key", "password"):
        assert is_secret_key(k), k
    for k in ("max_tokens", "gen_tokens", "tokenizer", "output_tokens", "prompt_tokens", "token_times"):
        assert not is_secret_key(k), k


def test_env_secrets():
    env = {"OPENAI_API_KEY": "abcdefgh", "HF_TOKEN": "hf_xxxxxxxx", "TOKENIZERS_PARALLELISM": "false_long",
           "PATH": "/usr/bin:/bin", "SHORT_TOKEN": "abc"}
    assert sorted(env_secrets(env)) == ["abcdefgh", "hf_xxxxxxxx"]


def test_store_never_writes_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVER_API_KEY", "envsecret-98765")
    path = tmp_path / "r.db"
    with open_store(path, secrets=[KEY]) as s:
        run = s.create_run("bench", {"api_key": KEY, "endpoint": f"http://x/?k={KEY}", "env": "envsecret-98765"},
                           {"argv": ["tokbench", "--api-key", KEY]})
        s.add_record(run, RequestRecord(point="p", index=0, concurrency=1, context_depth=0, prompt_tokens=1,
                                        gen_tokens_requested=1, t_start=0.0, status="error", error_class="http_401",
                                        error_message=f"401 for key {KEY}", native={"auth": KEY, "x": KEY}))
        s.set_point_meta(run, "p", {"header": f"Bearer {KEY}"})
        s.add_secrets(["late-secret-1"])
        s.finish_run(run, "failed", error=f"auth failed: {KEY} late-secret-1")
    for f in tmp_path.iterdir():
        data = f.read_bytes()
        for secret in (KEY, "envsecret-98765", "late-secret-1"):
            assert secret.encode() not in data, (f.name, secret)



def _words():
    from tokbench.store.redact import _SECRET_KEYS, _SECRET_SUFFIXES

    keys = sorted(_SECRET_KEYS) + ["my" + x for x in _SECRET_SUFFIXES]
    variants = [k.upper().replace("_", "-") for k in keys] + [f" {k} " for k in keys]
    return keys + variants + [
        "token_source", "tokens", "max_tokens", "Bearer abcdefgh12345678", "sk-" + "a" * 20, "hf_" + "b" * 24,
        "finish_reason", "length", "predicted_per_second", "monkey", "prefix sk-short", "hunter22", "pass", "keys",
        "", "\u00e9", "a\"b", "hunter22\n"]


_WORDS = _words()


def test_the_quick_secret_check_never_skips_what_redact_would_change():
    """``might_hold_secret`` is the store's shortcut past :func:`redact`: whenever it says no, the
    walk would have returned the value unchanged (every credential name and pattern, as a key, a
    value, nested)."""
    import json

    from tokbench.store.redact import might_hold_secret, redact

    secrets = ["hunter22"]
    for w in _WORDS:
        for value in ({w: "x"}, {"a": w}, [w], {"n": [{w: 1}]}, {"n": {"m": w}}):
            if not might_hold_secret(json.dumps(value), secrets):
                assert json.dumps(redact(value, secrets)) == json.dumps(value), value
    assert not might_hold_secret(json.dumps({"finish_reason": "length", "token_source": "chunks", "chunks": 3}))


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.one_of(st.sampled_from(_WORDS), st.integers(), st.floats(allow_nan=False), st.none()),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.sampled_from(_WORDS), inner, max_size=4)),
                    max_leaves=8))
def test_the_quick_secret_check_on_mixed_values(value):
    """The same on random nestings of those names and values."""
    import json

    from tokbench.store.redact import might_hold_secret, redact

    if not might_hold_secret(json.dumps(value), ["hunter22"]):
        assert json.dumps(redact(value, ["hunter22"])) == json.dumps(value)
