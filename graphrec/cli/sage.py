"""CLI commands of the sage stage (registered on import by graphrec.cli.main)."""
