"""Catalog data shipped with tokbench (hardware, models, quant formats, calibration) and its loaders.

Every data file keeps a ``source`` column or key: where the fact comes from.
"""
