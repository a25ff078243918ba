"""Subcommands of `python -m reactions`, one module each (see reactions.cli.COMMANDS)."""
