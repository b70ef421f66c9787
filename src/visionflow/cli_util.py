"""What every `visionflow` area's argument parser shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], None]


def add_verb(sub: argparse._SubParsersAction, name: str, handler: Handler, help: str):
    """A verb parser under `sub` that runs `handler`."""
    parser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    return parser
