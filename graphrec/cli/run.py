"""CLI commands of the run stage (registered on import by graphrec.cli.main)."""
