"""`visionflow <area> <verb>`: the one entry point every workflow rule calls.

Each area (a dataset, an experiment, the analyses, DVC) registers its verbs from its own
module; a verb parses its arguments, calls the package, writes what it returns, and turns
input errors into one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence
from importlib import metadata

from visionflow.cli.common import Parser

# Modules with a `register(areas)`, in the order `visionflow --help` lists them.
AREAS = (
    "visionflow.cli.demo",
    "visionflow.cli.miniimagenet",
    "visionflow.experiments.cornet.cli",
    "visionflow.cli.jacquard",
    "visionflow.experiments.grasp.cli",
    "visionflow.cli.wlasl",
    "visionflow.experiments.slr.cli",
    "visionflow.cli.cvat",
    "visionflow.experiments.detection.cli",
    "visionflow.experiments.saliency.cli",
    "visionflow.cli.analysis",
    "visionflow.cli.dvc",
    "visionflow.cli.config",
    "visionflow.cli.preflight",
)


def build_parser() -> argparse.ArgumentParser:
    """The full command tree; the global options work before or after the area and verb."""
    parser = Parser(prog="visionflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_global_options(parser, default=None)
    areas = parser.add_subparsers(dest="area", required=True)
    for name in AREAS:
        importlib.import_module(name).register(areas)
    for sub in subparsers(parser):
        # SUPPRESS: unless given here, the value parsed before the area stays.
        _add_global_options(sub, default=argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--threads", type=int, default=default, help="torch intra-op threads (default: torch's)"
    )


def _version() -> str:
    try:
        return metadata.version("visionflow")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below `parser` (areas, verbs, their modes), depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from subparsers(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run, and turn input errors into one clear line and exit status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from visionflow.dvc.commands import CommandError
    from visionflow.io import BadInputError, OutOfSpaceError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        args.handler(args)
    except (BadInputError, CommandError, OutOfSpaceError) as exc:
        print(f"visionflow: error: {exc}", file=sys.stderr)
        return 2
    return 0
