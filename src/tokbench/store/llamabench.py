"""llama-bench results (``-o json``, ``-o jsonl``) as imported runs, one per model x
devices, each with the run identity a measured run has.

Fields from llama.cpp tools/llama-bench/llama-bench.cpp (``test::get_fields``, ``json_printer``,
``jsonl_printer``): ``model_filename``, ``model_type``, ``model_size``, ``model_n_params``,
``n_prompt``, ``n_gen``, ``n_depth``, ``avg_ts``, ``stddev_ts``, ``samples_ts`` (= (n_prompt +
n_gen) / seconds per repetition). A test is ``pp{n_prompt}`` (prompt processing: prefill tok/s),
``tg{n_gen}`` (generation: single-stream decode tok/s) or both at once (llama-bench reports the
combined rate only), run after ``n_depth`` tokens already in the context. ``-o csv`` / ``-o md``
are not read: no real file of either was at hand to test against (md also rounds the sizes that
identify the model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokbench.errors import UserError
from tokbench.metrics.stats import ci95, percentile

# A run is one model on one set of devices: rows differing in these are different runs.
RUN_KEYS = ("model_filename", "model_n_params", "model_size", "gpu_info", "cpu_info", "backends", "split_mode",
            "n_gpu_layers", "main_gpu", "devices", "tensor_split", "build_commit", "build_number")
# Settings that may vary between the tests of one run; named in a point's label when they do.
TEST_KEYS = ("n_batch", "n_ubatch", "n_threads", "type_k", "type_v", "flash_attn", "n_cpu_moe", "no_kv_offload",
             "poll", "cpu_mask", "embeddings")
KEEP = ("model_filename", "model_type", "n_threads", "n_gpu_layers", "n_batch", "n_ubatch", "type_k", "type_v",
        "flash_attn", "split_mode", "test_time", "avg_ts", "stddev_ts", "samples_ts", "n_prompt", "n_gen", "n_depth")


def is_llama_bench(rows: list[Any]) -> bool:
    """True when every object is a llama-bench test."""
    return bool(rows) and all(isinstance(r, dict) and "avg_ts" in r and "n_gen" in r for r in rows)


def test_name(t: dict) -> str:
    """``pp512``, ``tg128 @ d4096``, ``pp512+tg128``: llama-bench's own test names, depth after."""
    p, g, d = int(t.get("n_prompt") or 0), int(t.get("n_gen") or 0), int(t.get("n_depth") or 0)
    name = "+".join([s for s in (f"pp{p}" if p else "", f"tg{g}" if g else "") if s]) or "empty"
    return name + (f" @ d{d}" if d else "")


def point_summary(t: dict, empty: dict) -> dict[str, Any]:
    """One test as a point summary (``empty``: the importers' all-None summary, filled in here)."""
    p, g, d = int(t.get("n_prompt") or 0), int(t.get("n_gen") or 0), int(t.get("n_depth") or 0)
    samples = [float(x) for x in t.get("samples_ts") or []] or [float(t["avg_ts"])]
    s = dict(empty)
    s.update(requests=len(samples), ok=len(samples), output_tokens=g * len(samples),
             test={"n_prompt": p, "n_gen": g, "n_depth": d})
    stats = {"mean": float(t["avg_ts"]), "p50": percentile(samples, 50)}
    if g and not p:  # tg: tokens/s is single-stream decode speed at depth d
        s["decode_tps_per_stream"] = stats
        s["decode_tps_ci95"] = ci95(samples)
        s["aggregate_output_tps"] = stats["mean"]
    elif p and not g:  # pp: prompt processing speed
        s["prefill_tps"] = stats
    else:  # pp+tg: llama-bench reports the combined rate only
        s["combined_tps"] = stats
    return s


def group_runs(rows: list[dict]) -> list[list[dict]]:
    """Rows split into runs (same model file on the same devices), in file order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(str(r.get(k)) for k in RUN_KEYS), []).append(r)
    return list(groups.values())


def labels(rows: list[dict]) -> list[str]:
    """A unique label per test of one run: its name, plus the settings that vary between tests
    (``tg128 fa=1 ub=256``) when the name repeats."""
    varying = [k for k in TEST_KEYS if len({str(r.get(k)) for r in rows}) > 1]
    names = [test_name(r) for r in rows]
    out, taken = [], set()
    for r, name in zip(rows, names):
        label = name
        if names.count(name) > 1 and varying:
            label += " " + " ".join(f"{k}={r.get(k)}" for k in varying)
        base, n = label, 2
        while label in taken:
            label, n = f"{base} #{n}", n + 1
        taken.add(label)
        out.append(label)
    return out


def identity(rows: list[dict], hardware: str | None, model: tuple[str, str | None] | None
             ) -> tuple[dict, list[str], dict]:
    """(RunIdentity dict, what could not be identified, how each part was identified) of one run's rows."""
    from tokbench.identity import RunIdentity, Topology, quant_from_text
    from tokbench.store.identify import llama_devices, llama_version, match_model

    first, notes = rows[0], []
    fname = Path(str(first.get("model_filename") or "")).name
    m, q = match_model(first.get("model_n_params"), first.get("model_size"), str(first.get("model_type") or ""), fname)
    how = {"model": m.extra.get("matched"), "quant": q.extra.get("matched")}
    if model is not None:
        model_id, quant = model
        how["model"] = "--model"
        if quant is not None:
            how["quant"] = "--model"
        elif m.value == model_id:  # the sizes agree with --model: their quant stands
            quant = q.value
        else:  # the sizes are of another model: only the tool's own text can name the quant
            quant = quant_from_text(str(first.get("model_type") or ""))
            how["quant"] = "model_type" if quant else None
        notes += [] if quant else ["quant: not known (--model ID:QUANT sets it)"]
    else:
        model_id, quant = m.value, q.value
        notes += [f"model: {m.reason} (--model ID[:QUANT] sets it)"] if m.value is None else []
        notes += [f"quant: {q.reason}"] if q.value is None and m.value is not None else []
    hw, gpus, split = llama_devices(first)
    hw_id = hardware or hw.value
    how["hardware"] = "--hardware" if hardware else ("gpu_info" if gpus else "cpu_info") if hw.value else None
    if hw_id is None:
        notes.append(f"hardware: {hw.reason} (--hardware ID sets it)")
    # Tables show the label: the catalog id once identified, else what the file calls the model.
    label = model_id or (f"{fname} ({first.get('model_type')})" if fname else first.get("model_type"))
    ident = RunIdentity(model_id, quant, hw_id, "llama.cpp", llama_version(first), "llama-bench", None, label,
                        None if hw_id else (first.get("gpu_info") or first.get("cpu_info") or None),
                        Topology(gpus=gpus, split=split))
    return ident.to_dict(), [f"{fname or 'model'}: {n}" for n in notes], how


def run_config(rows: list[dict]) -> tuple[dict, dict]:
    """(config, environment) of one run: what the file says about the build and the devices."""
    first = rows[0]
    config = {"engine": "llama.cpp", "tool": "llama-bench", "build_commit": first.get("build_commit"),
              "build_number": first.get("build_number"), "models": [first.get("model_filename")],
              "model_type": first.get("model_type"), "model_size": first.get("model_size"),
              "model_n_params": first.get("model_n_params"),
              "settings": {k: first.get(k) for k in ("backends", "split_mode", "n_gpu_layers", "main_gpu", "devices",
                                                     "tensor_split", "flash_attn", "type_k", "type_v") if k in first}}
    environment = {k: first.get(k) for k in ("cpu_info", "gpu_info", "backends") if k in first}
    return config, environment


def check_rows(rows: list[dict]) -> None:
    """UserError unless every row is a llama-bench test."""
    if not rows or any("avg_ts" not in r or "n_prompt" not in r for r in rows):
        raise UserError("not llama-bench output: expected objects with avg_ts, n_prompt, n_gen")
