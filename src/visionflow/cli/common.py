"""What every `visionflow` area's verbs share: registration, options, JSON and YAML arguments."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import yaml

Handler = Callable[[argparse.Namespace], None]
Areas = argparse._SubParsersAction


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: command, problem, where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_area(areas: Areas, name: str, help: str) -> argparse._SubParsersAction:
    """The verbs of a new area `visionflow <name> ...`."""
    parser = areas.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest="verb", required=True)


def add_verb(verbs: argparse._SubParsersAction, name: str, handler: Handler, help: str):
    """A verb parser under `verbs` that runs `handler`."""
    parser = verbs.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    return parser


def json_value(text: str) -> Any:
    """An argument holding JSON (settings, lists, option objects)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text[:80]!r}") from None


def json_object(text: str) -> dict[str, Any]:
    """An argument holding a JSON object."""
    value = json_value(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text[:80]!r}")
    return value


def add_data(parser: argparse.ArgumentParser, store: str) -> None:
    """`--data`: the prepared store (described by `store`) a verb reads."""
    parser.add_argument("--data", type=Path, required=True, help=store)


def add_workers(parser: argparse.ArgumentParser, default: int = 0) -> None:
    """`--workers`: processes that load or convert data besides the main one's work."""
    parser.add_argument(
        "--workers",
        type=int,
        default=default,
        help=f"data loading/conversion processes (default {default})",
    )


def add_train(parser: argparse.ArgumentParser, store: str) -> None:
    """The arguments of every `train` verb: prepared store, run directory, settings."""
    add_data(parser, store)
    parser.add_argument("--run-dir", type=Path, required=True, help="run directory to write")
    parser.add_argument(
        "--settings", type=json_object, required=True, help="JSON object of run settings"
    )


def add_train_verb(verbs: argparse._SubParsersAction, experiment: str, store: str) -> None:
    """An experiment's `train` verb: `experiments.<experiment>.training.train` of one run."""

    def handler(args: argparse.Namespace) -> None:
        training = importlib.import_module(f"visionflow.experiments.{experiment}.training")
        training.train(args.data, args.run_dir, args.settings)

    add_train(add_verb(verbs, "train", handler, "train one run (resumes if interrupted)"), store)


def add_summarize_verb(verbs: argparse._SubParsersAction, experiment: str, help: str) -> None:
    """An experiment's `summarize` verb: the CSV of `experiments.<experiment>.evaluation.
    summarize` over trained run directories."""

    def handler(args: argparse.Namespace) -> None:
        evaluation = importlib.import_module(f"visionflow.experiments.{experiment}.evaluation")
        emit_summary(evaluation.summarize(args.runs), args.out)

    parser = add_verb(verbs, "summarize", handler, help)
    add_runs(parser)
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")


def add_runs(parser: argparse.ArgumentParser) -> None:
    """`--runs`: the trained run directories a plot or summary reads."""
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")


def add_conversion(parser: argparse.ArgumentParser) -> None:
    """What every raw-to-prepared converter takes besides its paths."""
    parser.add_argument(
        "--on-bad-sample",
        choices=["error", "skip"],
        default="error",
        help="stop at a bad file, or skip it and record it (default error)",
    )
    parser.add_argument("--workers", type=int, default=1, help="conversion processes (default 1)")


def emit_yaml(data: object, out: Path | None) -> None:
    """Print `data` as YAML, and write it to `out` too when given."""
    from visionflow.io import write_text

    text = yaml.safe_dump(data, sort_keys=False)
    if out:
        write_text(out, text)
    sys.stdout.write(text)


def print_json(data: object) -> None:
    """Print a result for the log."""
    print(json.dumps(data, indent=2))


def emit_table(table: Any, out: Path) -> None:
    """Write a table as CSV to `out` and print it for the log."""
    from visionflow.io import write_table

    write_table(out, table)
    print(table.to_string(index=False))


def emit_summary(table: Any, out: Path) -> None:
    """`emit_table` of a summary, its float columns at 6 significant digits."""
    from visionflow.io import significant

    emit_table(significant(table), out)


def emit_json(data: object, out: Path) -> None:
    """Write a result as JSON to `out` and print it for the log."""
    from visionflow.io import write_json

    write_json(out, data)
    print_json(data)
