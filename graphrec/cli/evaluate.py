"""CLI commands of the evaluate stage (registered on import by graphrec.cli.main)."""
