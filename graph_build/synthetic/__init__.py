"""Synthetic fashion catalogue with planted latent styles (the embedded default dataset)."""
