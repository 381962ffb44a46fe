"""tokbench: plan and benchmark local LLM inference.

Public API (kept small on purpose):

- :func:`tokbench.modelspec.load_spec` -- a :class:`~tokbench.modelspec.model.ModelSpec` from a catalog id,
  a GGUF file, a config.json / model directory or an MLX directory.
- :func:`tokbench.plan.plan` -- memory, fit and speed estimates for a spec on some hardware.
"""

__version__ = "0.1.0"
