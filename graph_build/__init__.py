"""Curated collections -> a bipartite Pin-Board graph with a leakage-free warm/cold split."""
