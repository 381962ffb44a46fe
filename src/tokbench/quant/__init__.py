"""Quantization rules: GGML block formats, preset names, llama.cpp's and mlx-lm's per-tensor choices.

Pure functions of a ModelSpec and a preset name; no engine is imported (``tokbench plan`` stays fast).
Modules: :mod:`.formats` (GGML type sizes), :mod:`.presets` (``parse_quant``),
:mod:`.llamacpp` (``tensor_types``, ``weights_bytes``), :mod:`.mlx` (``tensor_bytes``).
"""
