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
from collections.abc import Sequence

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
    "visionflow.cli.preflight",
)


def build_parser() -> argparse.ArgumentParser:
    """The full command tree."""
    parser = argparse.ArgumentParser(prog="visionflow", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    areas = parser.add_subparsers(dest="area", required=True)
    for name in AREAS:
        importlib.import_module(name).register(areas)
    return parser


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
