"""Plan a model by its Hugging Face repo id: ``Qwen/Qwen3-30B-A3B``, ``unsloth/X-GGUF:Q4_K_M``, ``mlx-community/...``.

What is read (never weights):

- GGUF repos: the files of the quant asked for (``--quant`` or ``repo:QUANT``; split files are one
  model), each file's header by HTTP range requests (:mod:`tokbench.modelspec.gguf_remote`: a few
  hundred KiB even for a 16 MB header). The plan uses the file's real per-tensor types. ``mmproj``
  files (vision towers for llama.cpp) are counted apart by their listed size.
- safetensors repos (original weights, mlx-community's quantized ones): config.json (downloaded into
  the Hugging Face cache like any hub file) and each shard's header (8-byte length + JSON, by range
  requests). Exact bytes per tensor; vision/audio towers and MTP blocks counted apart.

Listing the repo is one API call (``model_info`` with file sizes) that also pins the commit; all
later reads use that commit, and parsed headers are cached per commit (see :mod:`hub_io`), so
offline mode works for anything planned once, and for anything downloaded with huggingface_hub.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tokbench.errors import UserError, unknown
from tokbench.modelspec import hub_io
from tokbench.modelspec.model import ModelSpec

_REF = re.compile(r"^(?:(?:https?://)?(?:huggingface\.co|hf\.co)/)?(?P<repo>[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*?)"
                  r"(?::(?P<quant>[A-Za-z0-9][\w.\-]*))?/?$")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_LABEL = re.compile(r"(?:^|[-._])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|B?F16|F32|BF16|MXFP4(?:_MOE)?|TQ\d_\d))$", re.IGNORECASE)


@dataclass(frozen=True)
class HubRef:
    """A repo id as typed, with an optional ``:QUANT`` suffix (llama.cpp's ``-hf repo:quant`` form)."""

    repo: str
    quant: str | None = None


def parse_ref(text: str) -> HubRef | None:
    """The repo reference in ``text``, or None when it is not shaped like ``owner/name[:QUANT]``."""
    if not isinstance(text, str) or text.endswith((".gguf", ".json", ".safetensors")) or text.startswith((".", "/", "~")):
        return None
    m = _REF.match(text.strip())
    if not m or ".." in m.group("repo") or m.group("repo").count("/") != 1:
        return None
    return HubRef(m.group("repo"), m.group("quant"))


@dataclass(frozen=True)
class Manifest:
    """A repo at one commit: file name -> size in bytes, and where the listing came from."""

    repo: str
    commit: str
    files: dict[str, int]
    origin: str  # "hub", "tokbench cache" or "hf cache"


@dataclass
class HubModel:
    """What ``load_hub_spec`` found: the spec and how it was read."""

    spec: ModelSpec
    kind: str  # "gguf", "mlx" or "safetensors"
    repo: str
    commit: str
    label: str | None  # the GGUF quant (file label) or the MLX preset; None for original weights
    files: list[str]
    traffic: hub_io.Traffic
    origin: str
    labels: list[str] = field(default_factory=list)  # every GGUF quant the repo offers

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``tokbench plan --json``'s ``source``)."""
        return {"repo": self.repo, "commit": self.commit, "kind": self.kind, "quant": self.label, "files": self.files,
                "listing": self.origin, "fetched_bytes": self.traffic.bytes, "requests": self.traffic.requests,
                "weights_bytes": self.spec.weights_bytes, "apart": dict(self.spec.apart), "gguf_quants": self.labels}


# --- listing -------------------------------------------------------------------------------------


def _refs_path(repo: str, revision: str) -> Path:
    from huggingface_hub import cached_assets_path

    folder = cached_assets_path("tokbench", namespace=repo.replace("/", "--"), subfolder="refs",
                                assets_dir=hub_io.assets_dir())
    return folder / revision.replace("/", "__")


def _remember(man: Manifest, revision: str) -> None:
    try:
        _refs_path(man.repo, revision).write_text(man.commit)
        (hub_io.commit_dir(man.repo, man.commit) / "manifest.json").write_text(json.dumps(man.files))
    except OSError:
        pass


def _online_manifest(repo: str, revision: str, traffic: hub_io.Traffic) -> Manifest:
    """HfApi.model_info(files_metadata=True)'s request, made with huggingface_hub's session, auth
    headers and error classes; done directly because importing hf_api costs ~0.3 s of a 1-2 s plan."""
    from urllib.parse import quote

    from huggingface_hub import get_session
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    url = f"{hub_io.endpoint()}/api/models/{repo}/revision/{quote(revision, safe='')}"
    try:
        r = get_session().get(url, headers=build_hf_headers(), params={"blobs": True}, timeout=hub_io.TIMEOUT_S)
        hf_raise_for_status(r)
        info = r.json()
    except Exception as exc:  # noqa: BLE001 - every Hub failure becomes one line
        raise hub_io.hub_error(repo, exc) from None
    traffic.requests += 1
    siblings = info.get("siblings") if isinstance(info, dict) else None
    if not isinstance(siblings, list) or not isinstance(info.get("sha"), str):
        raise UserError(f"{repo}: {hub_io.endpoint()} returned no file listing")
    files = {}
    for s in siblings:
        if isinstance(s, dict) and isinstance(s.get("rfilename"), str):
            size = s.get("size") if s.get("size") is not None else (s.get("lfs") or {}).get("size", 0)
            files[s["rfilename"]] = int(size or 0)
    man = Manifest(repo, info["sha"], files, "hub")
    _remember(man, revision)
    return man


def _offline_manifest(repo: str, revision: str) -> Manifest:
    """The listing remembered by an earlier online plan, else the HF cache's snapshot of the repo."""
    try:
        commit = _refs_path(repo, revision).read_text().strip()
        path = hub_io.commit_dir(repo, commit) / "manifest.json"
        return Manifest(repo, commit, json.loads(path.read_text()), "tokbench cache")
    except (OSError, ValueError):
        pass
    folder = hub_io.hub_cache_dir() / f"models--{repo.replace('/', '--')}"
    try:
        commit = (folder / "refs" / revision).read_text().strip()
    except OSError:
        commit = revision if re.fullmatch(r"[0-9a-f]{40}", revision) else ""
    snap = folder / "snapshots" / commit
    if not commit or not snap.is_dir():
        raise UserError(f"{repo}: not in the Hugging Face cache and HF_HUB_OFFLINE is set; plan it once online")
    files = {str(p.relative_to(snap)): p.stat().st_size for p in snap.rglob("*") if p.is_file()}
    return Manifest(repo, commit, files, "hf cache")


def manifest(repo: str, revision: str = "main", traffic: hub_io.Traffic | None = None) -> Manifest:
    """The repo's files at ``revision`` (one API call online; caches when HF_HUB_OFFLINE is set)."""
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo)
    except Exception as exc:  # noqa: BLE001 - HFValidationError: a bad id the user typed
        raise UserError(f"{repo}: not a valid repository id ({str(exc).splitlines()[0]})") from None
    if hub_io.offline():
        return _offline_manifest(repo, revision)
    return _online_manifest(repo, revision, traffic or hub_io.Traffic())


# --- GGUF repos ----------------------------------------------------------------------------------


def gguf_label(path: str) -> str | None:
    """The quant a GGUF file name carries (Q4_K_M, UD-Q4_K_XL, IQ2_XXS, BF16 ...), or None."""
    parts = path.split("/")
    if len(parts) > 1 and _LABEL.search("-" + parts[-2]):
        return _LABEL.search("-" + parts[-2]).group(1).upper()
    stem = _SPLIT.sub("", parts[-1])
    stem = stem[:-5] if stem.lower().endswith(".gguf") else stem
    m = _LABEL.search(stem)
    return m.group(1).upper() if m else None


def gguf_groups(files: dict[str, int]) -> tuple[dict[str, list[str]], list[str]]:
    """(quant label -> its files in split order, mmproj files) of a repo listing."""
    groups: dict[str, list[str]] = {}
    mmproj = []
    for name in sorted(files):
        base = name.rsplit("/", 1)[-1].lower()
        if not base.endswith(".gguf") or base.startswith("imatrix"):
            continue
        if "mmproj" in base:
            mmproj.append(name)
            continue
        label = gguf_label(name)
        if label:
            groups.setdefault(label, []).append(name)
    return groups, mmproj


def _pick(repo: str, groups: dict[str, list[str]], quant: str | None) -> str:
    if quant is None:
        if len(groups) == 1:
            return next(iter(groups))
        raise UserError(f"{repo} has GGUF files for {', '.join(sorted(groups))}: pick one with --quant or {repo}:QUANT")
    hit = {k.lower(): k for k in groups}.get(quant.strip().lower())
    if hit is None:
        raise unknown(f"GGUF quant in {repo}", quant, groups)
    return hit


def _gguf_spec(man: Manifest, label: str, files: list[str], mmproj: list[str], traffic: hub_io.Traffic) -> ModelSpec:
    from tokbench.modelspec.gguf_header import GGUFHeader, spec_from_header
    from tokbench.modelspec.hub_read import gguf_header

    headers = [gguf_header(man, f, traffic) for f in files]
    first = next((h for h in headers if h.metadata.get("split.no") == 0), headers[0])
    count = first.metadata.get("split.count")
    if isinstance(count, int) and count and count != len(files):
        raise UserError(f"{man.repo}: {files[0]} says {count} split files, the repo has {len(files)} for {label}")
    merged = GGUFHeader(first.version, first.metadata, tuple(t for h in headers for t in h.tensors), first.alignment,
                        first.data_offset, sum(h.size for h in headers))
    spec = spec_from_header(merged, f"{man.repo}/{files[0]}", name=f"{man.repo}:{label}")
    apart = spec.apart + tuple((f"mmproj {name}", man.files[name]) for name in mmproj)
    return replace(spec, source=f"hf://{man.repo}@{man.commit[:12]}/{files[0]}", apart=apart)


# --- safetensors repos ---------------------------------------------------------------------------


def _config(man: Manifest) -> dict[str, Any]:
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(man.repo, "config.json", revision=man.commit, cache_dir=hub_io.hub_cache_dir(),
                               endpoint=hub_io.endpoint(), local_files_only=hub_io.offline())
    except Exception as exc:  # noqa: BLE001
        raise hub_io.hub_error(man.repo, exc) from None
    try:
        cfg = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{man.repo}/config.json: not a readable config.json ({exc.__class__.__name__})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{man.repo}/config.json: must be a JSON object")
    return cfg


def _safetensors_spec(man: Manifest, traffic: hub_io.Traffic) -> tuple[ModelSpec, str | None]:
    from tokbench.modelspec.apart import split_bytes
    from tokbench.modelspec.hf_config import spec_from_config
    from tokbench.modelspec.hub_read import safetensors_header
    from tokbench.modelspec.mlx_dir import parse_quantization

    cfg = _config(man)
    shards = sorted(f for f in man.files if f.endswith(".safetensors") and "/" not in f)
    tensors = [t for f in shards for t in safetensors_header(man, f, traffic)]
    spec = spec_from_config(cfg, name=man.repo, source=f"hf://{man.repo}@{man.commit[:12]}")
    quant = parse_quantization(cfg, Path(f"{man.repo}/config.json"))
    text, apart = split_bytes([(t.name, t.nbytes) for t in tensors], spec.n_layers)
    preset = quant.preset if quant else None
    return replace(spec, weights_bytes=text, file_type=preset, apart=apart), preset


def load_hub_spec(ref: HubRef | str, quant: str | None = None, revision: str = "main") -> HubModel:
    """A ModelSpec for a Hub repo (see module docstring); ``quant`` picks the GGUF files (or ``ref``'s
    ``:QUANT``). UserError (one line) for anything a user can get wrong: unknown repo, gated repo,
    refused token, offline and not cached, no such quant, a malformed header."""
    if isinstance(ref, str):
        parsed = parse_ref(ref)
        if parsed is None:
            raise UserError(f"{ref}: not a Hugging Face repo id (owner/name[:QUANT])")
        ref = parsed
    quant = quant or ref.quant
    traffic = hub_io.Traffic()
    man = manifest(ref.repo, revision, traffic)
    groups, mmproj = gguf_groups(man.files)
    has_st = "config.json" in man.files and any(f.endswith(".safetensors") for f in man.files)
    wants_gguf = quant is not None and quant.strip().lower() in {k.lower() for k in groups}
    if groups and (wants_gguf or not has_st):
        label = _pick(ref.repo, groups, quant)
        spec = _gguf_spec(man, label, groups[label], mmproj, traffic)
        return HubModel(spec, "gguf", ref.repo, man.commit, label, groups[label], traffic, man.origin, sorted(groups))
    if not has_st:
        raise UserError(f"{ref.repo}: no GGUF files and no config.json with *.safetensors in the repository")
    spec, preset = _safetensors_spec(man, traffic)
    files = sorted(f for f in man.files if f.endswith(".safetensors") and "/" not in f)
    return HubModel(spec, "mlx" if preset else "safetensors", ref.repo, man.commit, preset, ["config.json", *files],
                    traffic, man.origin, sorted(groups))


def is_hub_ref(text: str) -> bool:
    """True when ``text`` names a Hub repo rather than a local path or a catalog id."""
    return parse_ref(text) is not None and not os.path.exists(os.path.expanduser(text.split(":")[0]))
