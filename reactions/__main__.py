"""`python -m reactions`: the command line."""

from reactions.cli import entry

entry()
