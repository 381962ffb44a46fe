"""``tokbench plan OWNER/NAME``: Hub repos read through huggingface_hub against a loopback fake Hub.

The GGUFs are files llama.cpp itself wrote (llama_model_quantize, split the way gguf-split splits),
served with their real bytes; the MLX repo is tokbench's synth MLX writer's output. What is checked:
the plan uses the file's own per-tensor types and reads only headers; quant selection; the header
cache (a second plan and an offline plan fetch nothing); files downloaded by huggingface_hub are
read locally; private, gated and unknown repos; malformed headers exit 2 and cache nothing; vision,
MTP and mmproj weights are counted apart; the token goes to the Hub and nowhere else.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tb_fake_hub import FakeHub, Repo, Sparse
from tb_hub_files import safetensors_bytes
from tokbench.cli.main import main
from tokbench.errors import UserError
from tokbench.modelspec import load_spec
from tokbench.modelspec.gguf_header import parse_gguf_header
from tokbench.modelspec.hub import HubRef, gguf_groups, gguf_label, load_hub_spec, parse_ref

TOKEN = "hf_tokbenchTestToken0123456789"
MMPROJ = 912_345_678
SPLIT_REPO = "acme/Small-GGUF"


@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    """Point huggingface_hub (and tokbench) at a fake Hub with an empty HF_HOME; yields a setter."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    home = tmp_path / "hf-home"
    for var in ("HF_HUB_CACHE", "HF_ASSETS_CACHE", "HF_HUB_OFFLINE", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))  # never a developer's stored token
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})

    def use(hub: FakeHub, token: str | None = TOKEN) -> Path:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        if token is None:
            monkeypatch.delenv("HF_TOKEN", raising=False)
        else:
            monkeypatch.setenv("HF_TOKEN", token)
        return home

    return use


@pytest.fixture(scope="module")
def repos(llama_gguf):
    """The fake Hub's repos: a split GGUF repo with two quants and an mmproj, a single-file one."""
    path, splits = llama_gguf
    split_repo = Repo({
        **{f"Q4_K_M/{p.name}": p for p in splits},
        "Q8_0/Small-Q8_0.gguf": Sparse(b"GGUF-not-read", 40_000_000_000),
        "mmproj-F16.gguf": Sparse(b"GGUF-not-read", MMPROJ),
        "imatrix.gguf": Sparse(b"GGUF-not-read", 1_000_000),
        "README.md": b"# small\n",
    })
    return {SPLIT_REPO: split_repo, "acme/One-GGUF": Repo({"One-Q4_K_M.gguf": path, "README.md": b"hi"})}


def _plan(capsys, *argv) -> tuple[int, dict | str]:
    rc = main(["plan", *argv, "--hardware", "m4-max-40c:64", "--json"])
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if rc == 0 else out.err.strip())


def _error(capsys, *argv) -> str:
    rc, err = _plan(capsys, *argv)
    assert rc == 2, err
    assert "\n" not in err and "Traceback" not in err
    return err


def _headers_cached(home: Path) -> list[Path]:
    return list((home / "assets").rglob("headers/*.json"))


# --- reference parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, ref", [
    ("Qwen/Qwen3-30B-A3B", HubRef("Qwen/Qwen3-30B-A3B")),
    ("unsloth/Qwen3.5-35B-A3B-GGUF:UD-Q4_K_XL", HubRef("unsloth/Qwen3.5-35B-A3B-GGUF", "UD-Q4_K_XL")),
    ("https://huggingface.co/mlx-community/Qwen3-4B-4bit", HubRef("mlx-community/Qwen3-4B-4bit")),
    ("hf.co/bartowski/x-GGUF:q8_0", HubRef("bartowski/x-GGUF", "q8_0")),
    ("qwen3.5-397b-a17b", None), ("./models/x", None), ("a/b/c", None), ("model.gguf", None),
    ("/abs/path", None), ("owner/../x", None),
])
def test_parse_ref(text, ref):
    assert parse_ref(text) == ref


@pytest.mark.parametrize("name, label", [
    ("Qwen3.5-35B-A3B-Q4_K_M.gguf", "Q4_K_M"),
    ("Qwen3.5-35B-A3B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("UD-Q4_K_XL/Qwen3.5-397B-A17B-UD-Q4_K_XL-00001-of-00006.gguf", "UD-Q4_K_XL"),
    ("BF16/Model-BF16-00002-of-00009.gguf", "BF16"),
    ("model.IQ2_XXS.gguf", "IQ2_XXS"),
    ("gpt-oss-120b-MXFP4-00001-of-00002.gguf", "MXFP4"),
    ("model-q4_0.gguf", "Q4_0"),
    ("README.md", None),
])
def test_gguf_label(name, label):
    assert gguf_label(name) == label


def test_gguf_groups_keep_split_order_and_set_mmproj_and_imatrix_aside():
    files = {"Q4_K_M/m-Q4_K_M-00002-of-00002.gguf": 1, "Q4_K_M/m-Q4_K_M-00001-of-00002.gguf": 1, "m-Q8_0.gguf": 1,
             "mmproj-BF16.gguf": 1, "imatrix_unsloth.gguf": 1, "config.json": 1}
    groups, mmproj = gguf_groups(files)
    assert groups == {"Q4_K_M": ["Q4_K_M/m-Q4_K_M-00001-of-00002.gguf", "Q4_K_M/m-Q4_K_M-00002-of-00002.gguf"],
                      "Q8_0": ["m-Q8_0.gguf"]}
    assert mmproj == ["mmproj-BF16.gguf"]


# --- GGUF repos ----------------------------------------------------------------------------------


def test_split_gguf_repo_plans_with_the_files_own_types(hub_env, repos, llama_gguf, capsys):
    path, splits = llama_gguf
    local = load_spec(str(path))
    with FakeHub(dict(repos)) as hub:
        home = hub_env(hub)
        rc, doc = _plan(capsys, f"{SPLIT_REPO}:Q4_K_M")
    assert rc == 0, doc
    assert [r["quant"] for r in doc["rows"]] == ["native"]
    assert doc["rows"][0]["weights_bytes"] == local.weights_bytes  # the two splits are one model
    src = doc["sources"][0]
    assert src["hub"]["kind"] == "gguf" and src["hub"]["quant"] == "Q4_K_M" and src["hub"]["listing"] == "hub"
    assert src["hub"]["files"] == [f"Q4_K_M/{p.name}" for p in splits]
    assert src["hub"]["gguf_quants"] == ["Q4_K_M", "Q8_0"]
    assert src["apart"] == {"mmproj mmproj-F16.gguf": MMPROJ}
    assert src["prediction"]["preset"] == "Q4_K_M" and abs(src["prediction"]["diff_pct"]) < 5
    # Only headers were read: far less than the first split's 7 MB key/value section, nothing else.
    assert src["hub"]["fetched_bytes"] == sum(h.sent for h in hub.log if h.range)
    assert src["hub"]["fetched_bytes"] < parse_gguf_header(splits[0]).data_offset / 4
    touched = {h.path.split("/resolve/")[1].split("/", 1)[1] for h in hub.log if "/resolve/" in h.path}
    assert touched == {f"Q4_K_M/{p.name}" for p in splits}
    assert len(_headers_cached(home)) == 2


def test_text_output_says_what_was_read(hub_env, repos, capsys):
    with FakeHub(dict(repos)) as hub:
        hub_env(hub)
        assert main(["plan", "acme/One-GGUF", "--hardware", "m4-max-40c:64"]) == 0
    out = capsys.readouterr().out
    assert "Read acme/One-GGUF @ 0123456789ab (gguf Q4_K_M, One-Q4_K_M.gguf)" in out
    assert "no weights" in out and "llama.cpp's Q4_K_M rule would give" in out


def test_quant_selection(hub_env, repos, capsys):
    with FakeHub(dict(repos)) as hub:
        hub_env(hub)
        err = _error(capsys, SPLIT_REPO)
        assert "Q4_K_M, Q8_0" in err and "--quant" in err
        err = _error(capsys, SPLIT_REPO, "--quant", "Q4_K_X")
        assert "Q4_K_M" in err
        rc, doc = _plan(capsys, SPLIT_REPO, "--quant", "q4_k_m")  # any case, as llama.cpp's -hf accepts
        assert rc == 0 and doc["sources"][0]["hub"]["quant"] == "Q4_K_M"
        rc, doc = _plan(capsys, "acme/One-GGUF")  # one quant in the repo: no choice needed
        assert rc == 0 and doc["sources"][0]["hub"]["quant"] == "Q4_K_M"


def test_second_plan_and_offline_plan_fetch_nothing(hub_env, repos, monkeypatch, capsys):
    with FakeHub(dict(repos)) as hub:
        hub_env(hub)
        rc, first = _plan(capsys, "acme/One-GGUF")
        assert rc == 0 and first["sources"][0]["hub"]["fetched_bytes"] > 0
        n = len(hub.log)
        rc, again = _plan(capsys, "acme/One-GGUF")
        assert rc == 0 and [h.range for h in hub.log[n:]] == [None]  # the listing, to pin the commit
        assert again["sources"][0]["hub"]["fetched_bytes"] == 0
        assert again["rows"][0]["weights_bytes"] == first["rows"][0]["weights_bytes"]
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        n = len(hub.log)
        rc, off = _plan(capsys, "acme/One-GGUF")
        assert rc == 0 and len(hub.log) == n
        assert off["sources"][0]["hub"]["listing"] == "tokbench cache"
        assert off["rows"] == first["rows"]
        err = _error(capsys, f"{SPLIT_REPO}:Q4_K_M")  # never planned: nothing to read offline
        assert "HF_HUB_OFFLINE" in err and len(hub.log) == n


def test_files_downloaded_by_huggingface_hub_are_read_locally(hub_env, repos, monkeypatch, capsys):
    from huggingface_hub import hf_hub_download

    with FakeHub(dict(repos)) as hub:
        home = hub_env(hub)
        hf_hub_download("acme/One-GGUF", "One-Q4_K_M.gguf", cache_dir=home / "hub", endpoint=hub.url)
        n = len(hub.log)
        rc, doc = _plan(capsys, "acme/One-GGUF")
        assert rc == 0 and not any(h.range for h in hub.log[n:])
        assert doc["sources"][0]["hub"]["fetched_bytes"] == 0
        for p in _headers_cached(home):  # offline with the HF cache only: its snapshot is the listing
            p.unlink()
        for p in (home / "assets").rglob("refs/*"):
            p.unlink()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        n = len(hub.log)
        rc, off = _plan(capsys, "acme/One-GGUF")
        assert rc == 0 and len(hub.log) == n
        assert off["sources"][0]["hub"]["listing"] == "hf cache" and off["rows"] == doc["rows"]


# --- access --------------------------------------------------------------------------------------


def test_private_repo_needs_the_right_token(hub_env, repos, llama_gguf, capsys):
    path, _ = llama_gguf
    secret = Repo({"m-Q4_K_M.gguf": path}, token=TOKEN)
    with FakeHub({"acme/private": secret, "acme/gated": Repo({"m-Q4_K_M.gguf": path}, gated=True)}) as hub:
        home = hub_env(hub, token=None)
        assert "private (set HF_TOKEN)" in _error(capsys, "acme/private")
        assert "no such model repository" in _error(capsys, "acme/does-not-exist")
        assert "gated" in _error(capsys, "acme/gated")
        hub_env(hub, token="hf_wrongToken000000000000")
        assert "HF_TOKEN was refused" in _error(capsys, "acme/private")
        hub_env(hub, token=TOKEN)
        n = len(hub.log)
        rc, doc = _plan(capsys, "acme/private")
        assert rc == 0 and doc["rows"][0]["quant"] == "native"
        assert {h.auth for h in hub.log[n:] if "/api/models/" in h.path or "/resolve/" in h.path} == {f"Bearer {TOKEN}"}
    for f in home.rglob("*"):  # the token is sent, never stored
        assert not f.is_file() or TOKEN.encode() not in f.read_bytes(), f


def test_cli_subprocess_end_to_end_keeps_the_token_out_of_output(repos, tmp_path):
    """The installed command with only environment variables, as a user runs it."""
    with FakeHub({**repos, "acme/private": Repo({"x-Q4_K_M.gguf": b"GGUF"}, token="hf_other")}) as hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "home"), HF_TOKEN=TOKEN)
        runs = [subprocess.run([sys.executable, "-m", "tokbench.cli.main", "plan", ref, "-H", "m4-max-40c:64"],
                               env=env, capture_output=True, text=True, timeout=120)
                for ref in (f"{SPLIT_REPO}:Q4_K_M", "acme/private")]
    assert runs[0].returncode == 0, runs[0].stderr
    assert "mmproj mmproj-F16.gguf" in runs[0].stdout and "Fits m4-max-40c:64?" in runs[0].stdout
    assert runs[1].returncode == 2 and "HF_TOKEN was refused" in runs[1].stderr
    for r in runs:
        assert TOKEN not in r.stdout + r.stderr
    assert any(h.auth == f"Bearer {TOKEN}" for h in hub.log)


# --- malformed files -----------------------------------------------------------------------------


def _bad_gguf() -> dict[str, bytes | Sparse]:
    huge_kv = b"GGUF" + struct.pack("<IQQ", 3, 1, 2**40)  # a trillion key/value pairs in a 1 MB file
    bad_string = b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", 2**50)  # a key longer than the file
    return {"huge": Sparse(huge_kv, 1_000_000), "string": Sparse(bad_string, 1_000_000),
            "magic": Sparse(b"GGML" + bytes(20), 1_000_000), "short": b"GGUF\x03\x00"}


@pytest.mark.parametrize("kind", sorted(_bad_gguf()))
def test_malformed_gguf_header_exits_2_and_caches_nothing(hub_env, kind, capsys):
    with FakeHub({"acme/bad": Repo({"bad-Q4_K_M.gguf": _bad_gguf()[kind]})}) as hub:
        home = hub_env(hub)
        err = _error(capsys, "acme/bad")
        assert "acme/bad/bad-Q4_K_M.gguf" in err
        assert sum(h.sent for h in hub.log) < 1_000_000 or kind == "short"  # never the whole file
    assert _headers_cached(home) == []


def test_truncated_llama_header_exits_2(hub_env, llama_gguf, capsys):
    path, _ = llama_gguf
    data = path.read_bytes()
    cut = Sparse(data[: parse_gguf_header(path).data_offset // 2], len(data))  # header cut off mid-tokenizer
    with FakeHub({"acme/cut": Repo({"cut-Q4_K_M.gguf": cut})}) as hub:
        home = hub_env(hub)
        assert "acme/cut/cut-Q4_K_M.gguf" in _error(capsys, "acme/cut")
    assert _headers_cached(home) == []


def _tiny_config(**extra) -> bytes:
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 256,
           "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "tie_word_embeddings": False, **extra}
    return json.dumps(cfg).encode()


def _text_tensors() -> dict:
    t = {"model.embed_tokens.weight": ("BF16", (256, 64)), "lm_head.weight": ("BF16", (256, 64)),
         "model.norm.weight": ("BF16", (64,))}
    for i in range(2):
        t.update({f"model.layers.{i}.self_attn.q_proj.weight": ("BF16", (64, 64)),
                  f"model.layers.{i}.mlp.up_proj.weight": ("BF16", (128, 64))})
    return t


def test_safetensors_repo_counts_vision_and_mtp_apart(hub_env, capsys):
    vision = {"model.visual.blocks.0.attn.qkv.weight": ("BF16", (192, 64))}
    mtp = {"model.layers.2.mlp.up_proj.weight": ("BF16", (128, 64)), "mtp.fc.weight": ("BF16", (64, 128))}
    files = {"config.json": _tiny_config(),
             "model-00001-of-00002.safetensors": safetensors_bytes({**_text_tensors(), **vision}),
             "model-00002-of-00002.safetensors": safetensors_bytes(mtp),
             "README.md": b"x"}
    with FakeHub({"acme/st": Repo(files)}) as hub:
        hub_env(hub)
        spec = load_hub_spec("acme/st").spec
        rc, doc = _plan(capsys, "acme/st", "--quant", "Q8_0")
    text = 2 * (2 * 256 * 64 + 64 + 2 * (64 * 64 + 128 * 64))
    assert spec.weights_bytes == text and dict(spec.apart) == {"mtp": 2 * 2 * 128 * 64, "vision": 2 * 192 * 64}
    assert rc == 0 and [r["quant"] for r in doc["rows"]] == ["Q8_0"]  # a prediction for original weights
    assert doc["sources"][0]["hub"]["kind"] == "safetensors"


@pytest.mark.parametrize("shard", [
    struct.pack("<Q", 10**15) + b"{}",  # header length past the end of the file
    struct.pack("<Q", 8) + b"not json" + bytes(64),
    b"\x01\x02",
])
def test_malformed_safetensors_header_exits_2(hub_env, shard, capsys):
    files = {"config.json": _tiny_config(), "model.safetensors": shard}
    with FakeHub({"acme/st-bad": Repo(files)}) as hub:
        home = hub_env(hub)
        assert "acme/st-bad/model.safetensors" in _error(capsys, "acme/st-bad")
    assert _headers_cached(home) == []


@pytest.mark.parametrize("catalog_id", ["qwen3-30b-a3b", "qwen3.5-35b-a3b"])
def test_mlx_repo_matches_the_same_directory_read_locally(hub_env, tmp_path, capsys, catalog_id):
    from dataclasses import replace

    from tokbench.synth import prepare, synthesize

    spec = replace(load_spec(catalog_id), n_experts=8, n_experts_used=2)
    out = synthesize(prepare(spec, scale_layers=4, scale_width=0.0625, vocab=512), "mlx-4bit", tmp_path / "m",
                     vocab=512)
    local = load_spec(str(out))
    files = {str(p.relative_to(out)): p for p in out.rglob("*") if p.is_file()}
    with FakeHub({"mlx-community/Tiny-4bit": Repo(files)}) as hub:
        hub_env(hub)
        model = load_hub_spec("mlx-community/Tiny-4bit")
        rc, doc = _plan(capsys, "mlx-community/Tiny-4bit")
    assert model.kind == "mlx" and model.label == "mlx-4bit" and model.spec.arch == local.arch
    assert model.spec.weights_bytes == local.weights_bytes and model.spec.n_experts == 8
    assert rc == 0 and [r["quant"] for r in doc["rows"]] == ["mlx-4bit"]


def test_repo_without_model_files_is_one_line(hub_env, capsys):
    with FakeHub({"acme/empty": Repo({"README.md": b"x"})}) as hub:
        hub_env(hub)
        assert "no GGUF files and no config.json" in _error(capsys, "acme/empty")
        with pytest.raises(UserError, match="not a Hugging Face repo id"):
            load_hub_spec("not a repo")
