"""The command line: a registry of subcommands, each in its own module, imported on use.

Every command module has `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`,
and imports nothing heavy at module level, so `reactions --help` answers without torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from reactions import __version__

#: Command name -> module. Order is the order `--help` lists them in.
COMMANDS: dict[str, str] = {
    "demo": "reactions.commands.demo",
    "init": "reactions.commands.init",
    "story": "reactions.commands.story",
    "collect": "reactions.commands.collect",
    "classify": "reactions.commands.classify",
    "summarize": "reactions.commands.summarize",
    "blurb": "reactions.commands.blurb",
    "summarize-file": "reactions.commands.summarize_file",
    "run": "reactions.commands.run",
    "worker": "reactions.commands.worker",
    "status": "reactions.commands.status",
    "import": "reactions.commands.import_pages",
    "dashboard": "reactions.commands.dashboard",
    "digest": "reactions.commands.digest",
    "export": "reactions.commands.export",
    "label": "reactions.commands.label",
    "train-stance": "reactions.commands.train_stance",
    "eval-stance": "reactions.commands.eval_stance",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reactions",
        description="What people are saying about a news story: collect posts, sort them into "
        "supporters, skeptics and neutral, and write the paragraph an editor can paste.",
    )
    parser.add_argument("--version", action="version", version=f"reactions {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors a user can cause and fix: reported in one line, without a traceback."""
    from collectors.base import CollectorError
    from reactions.config import ConfigError
    from reactions.store import StoreError
    from reactions.stories import StoryFileError

    return (ConfigError, StoryFileError, StoreError, CollectorError, ValueError, FileNotFoundError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def entry() -> None:
    """The `reactions` console script and `python -m reactions`: `main`, safe in a pipe.

    When the reader of stdout goes away (`reactions status --json | head`), the command
    ends quietly with the shell's usual status for SIGPIPE instead of a BrokenPipeError
    traceback.
    """
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 128 + 13  # 128 + SIGPIPE, as for any command whose reader went away
    sys.exit(code)
