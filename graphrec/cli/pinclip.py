"""CLI commands of the pinclip stage (registered on import by graphrec.cli.main)."""
