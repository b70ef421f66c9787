"""`visionflow preflight`: check a config's data, weights, models, memory and disk at once."""

from __future__ import annotations

import argparse
import json
import sys

from visionflow.cli import common


def _preflight(args: argparse.Namespace) -> None:
    from visionflow.config import ConfigError
    from visionflow.preflight.checks import load_config, preflight

    try:
        config = args.resolved or load_config(args.configfile)
    except ConfigError as exc:
        sys.exit(f"visionflow: error: {exc}")
    report = preflight(config)
    print("\n".join(report.lines))
    if report.problems:
        print(f"{len(report.problems)} problems:", *report.problems, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print("preflight passed")


def register(areas: common.Areas) -> None:
    """`visionflow preflight`."""
    help = "check data roots, weights, model steps, GPU memory and disk before running"
    parser = areas.add_parser("preflight", help=help, description=help)
    parser.set_defaults(handler=_preflight)
    parser.add_argument(
        "--configfile",
        default=None,
        help="config read over config/config.yaml, as Snakemake does (default: none)",
    )
    parser.add_argument(
        "--resolved",
        type=json.loads,
        default=None,
        help="the whole validated config as JSON (what `snakemake run_preflight` passes)",
    )
