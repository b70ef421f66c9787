"""What every `visionflow` area's argument parser shares."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import yaml

Handler = Callable[[argparse.Namespace], None]


def add_verb(sub: argparse._SubParsersAction, name: str, handler: Handler, help: str):
    """A verb parser under `sub` that runs `handler`."""
    parser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    return parser


def run_history(run_dirs: Sequence[Path], label: Callable[[dict], str]) -> dict[str, pd.DataFrame]:
    """metrics.csv of each run dir, keyed by `label` of its config.yaml settings."""
    runs = {}
    for run_dir in run_dirs:
        settings = yaml.safe_load((run_dir / "config.yaml").read_text())
        runs[label(settings)] = pd.read_csv(run_dir / "metrics.csv")
    return runs


def emit_yaml(data: object, out: Path | None) -> None:
    """Print `data` as YAML, and write it to `out` too when given."""
    from visionflow.io import write_text

    text = yaml.safe_dump(data, sort_keys=False)
    if out:
        write_text(out, text)
    sys.stdout.write(text)
