"""CLI commands of the candidates stage (registered on import by graphrec.cli.main)."""
