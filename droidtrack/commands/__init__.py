"""droidtrack's subcommands, one module each with `register(subparsers)` (see droidtrack/cli.py)."""
from __future__ import annotations

import argparse


def add_command(sub: argparse._SubParsersAction, name: str, epilog: str, help: str,
                description: str) -> argparse.ArgumentParser:
    """The parser of subcommand `name`: `help` is its line in `droidtrack --help`, `description`
    heads its own --help and `epilog` (examples, exit codes) ends it, printed as written."""
    return sub.add_parser(name, help=help, description=description, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
