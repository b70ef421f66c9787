"""`visionflow config <verb>`: the configuration reference written from the schema."""

from __future__ import annotations

import argparse

from visionflow.cli import common


def _reference(args: argparse.Namespace) -> None:
    from visionflow import config_reference

    if args.check:
        config_reference.check()
        print(f"{config_reference.REFERENCE} is current")
        return
    config_reference.write()
    print(f"wrote {config_reference.REFERENCE}")


def register(areas: common.Areas) -> None:
    """`visionflow config ...`."""
    verbs = common.add_area(areas, "config", "the workflow configuration")
    p = common.add_verb(verbs, "reference", _reference, "write config/README.md from the schema")
    p.add_argument("--check", action="store_true", help="fail if config/README.md is not current")
