"""Small shared helpers: atomic output directories, hashing, JSON, logging, progress bars."""
