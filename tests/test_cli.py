"""The `visionflow` command line: one-line usage errors, global options anywhere, --version,
help text with the default for every option."""

import argparse
from importlib import metadata

import numpy as np
import pandas as pd
import pytest

from visionflow.cli import build_parser, common, main, subparsers

TRAIN = ["cornet", "train", "--data", "d", "--run-dir", "r", "--settings", "{}"]


def shown(default: object) -> list[str]:
    """How a default appears in help text: each item of a list, else the value."""
    return [str(item) for item in default] if isinstance(default, list | tuple) else [str(default)]


def test_every_option_has_help_naming_its_default():
    missing = []
    for parser in subparsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            text = action.help or ""
            default = action.default
            plain_flag = isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction)
            if default in (None, argparse.SUPPRESS) or plain_flag:
                if not text:
                    missing.append((parser.prog, action.dest, "no help"))
            elif "default" not in text or not all(s in text for s in shown(default)):
                missing.append((parser.prog, action.dest, f"help does not name {default!r}"))
    assert not missing


def test_malformed_settings_json_is_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        main([*TRAIN[:-1], '{"lr": 0.1,}'])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("visionflow cornet train: error: argument --settings: not valid JSON")
    assert err.rstrip().endswith("(see visionflow cornet train --help)")


@pytest.mark.parametrize(
    ("argv", "threads"),
    [
        (["--threads", "3", *TRAIN], 3),
        (["cornet", "--threads", "4", *TRAIN[1:]], 4),
        ([*TRAIN, "--threads", "5"], 5),
        (["--threads", "3", *TRAIN, "--threads", "6"], 6),
        (TRAIN, None),
        (["slr", "test", "full", "run", "--data", "d", "--threads", "2"], 2),
    ],
)
def test_threads_is_accepted_before_or_after_the_area_and_verb(argv, threads):
    assert build_parser().parse_args(argv).threads == threads


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"visionflow {metadata.version('visionflow')}\n"


def test_summaries_drop_float32_noise_and_keep_the_rest(tmp_path, capsys):
    table = pd.DataFrame({"run": ["a", "b"], "epochs": [3, 4], "lr": [1e-3, 3e-4],
                          "test_top1": np.array([0.79, 1 / 3], np.float32).astype(float),
                          "test_loss": [0.123456789, float("nan")]})  # fmt: skip
    common.emit_summary(table, tmp_path / "summary.csv")
    assert (tmp_path / "summary.csv").read_text().splitlines() == [
        "run,epochs,lr,test_top1,test_loss",
        "a,3,0.001,0.79,0.123457",
        "b,4,0.0003,0.333333,",
    ]
