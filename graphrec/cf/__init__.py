"""Closed-form and factor collaborative-filtering math shared by the ``full`` teacher and the
evaluation baselines (numpy/scipy only; no model or evaluation imports)."""
