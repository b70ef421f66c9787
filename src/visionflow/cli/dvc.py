"""`visionflow dvc <verb>`: dvc.yaml from the DAG, and pulls Snakemake trusts."""

from __future__ import annotations

import argparse

from visionflow.cli import common


def _stages(args: argparse.Namespace) -> None:
    from visionflow.dvc import stages
    from visionflow.dvc.cache import CACHE_TYPE, require_copy_cache

    if args.check:
        require_copy_cache()
        stages.check(args.configfile, args.targets)
        print(f"{stages.DVC_YAML} is current; DVC's cache type is {CACHE_TYPE}")
        return
    content = stages.write(args.configfile, args.targets)
    outs = sum(len(stage["outs"]) for stage in content["stages"].values())
    print(f"wrote {stages.DVC_YAML}: {len(content['stages'])} stages, {outs} outputs")
    for source in stages.untracked_sources(content):
        print(f"note: {source} is read but not versioned; track it with `dvc add {source}`")


def _pull(args: argparse.Namespace) -> None:
    from visionflow.dvc.sync import pull

    touched = pull(args.remote, args.jobs)
    print(f"pulled; {touched} outputs re-stamped, `snakemake -n` has nothing to do")


def _sync(args: argparse.Namespace) -> None:
    from visionflow.dvc.sync import sync

    touched = sync()
    print(f"{touched} outputs re-stamped, `snakemake -n` has nothing to do")


def register(areas: common.Areas) -> None:
    """`visionflow dvc ...`."""
    verbs = common.add_area(areas, "dvc", "share data and models through DVC")
    p = common.add_verb(verbs, "stages", _stages, "write dvc.yaml from the Snakemake DAG")
    p.add_argument("targets", nargs="*", help="Snakemake targets (default: all)")
    p.add_argument(
        "--configfile",
        default="config/config.yaml",
        help="config the stages are generated for (default config/config.yaml)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="fail if dvc.yaml is not current or DVC's cache type is not copy",
    )
    p = common.add_verb(verbs, "pull", _pull, "dvc pull, then mark the pulled outputs current")
    p.add_argument("-r", "--remote", help="DVC remote (default: the configured default)")
    p.add_argument("-j", "--jobs", type=int, help="parallel transfers (default: DVC's)")
    common.add_verb(verbs, "sync", _sync, "mark outputs current after git/dvc checkout")
