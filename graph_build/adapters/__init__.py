"""Adapters that write the dataset contract from public data in ../shared/data (read in place)."""
