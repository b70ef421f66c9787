"""Wall time of the documented demo, split by rule, with the interpreter/import overhead.

Runs `snakemake results/cornet/top1.png --cores 2 --resources gpu=1` in a scratch copy of
the repository's workflow/, config/ and envs/ folders (nothing in the repository is touched)
and reports:

  wall time     seconds from starting Snakemake to its exit (DAG building included);
  per rule      jobs and summed seconds (column `s`) of the benchmarks/**/*.tsv files the
                rules write, i.e. the time each job's shell command took;
  baseline      the median time of `python -c "import visionflow.cli, torch, lightning"`
                (interpreter start-up + imports) times the number of jobs. Only training
                jobs import lightning, so this is an upper bound of that overhead.

Read the baseline share as the part of the wall time no change to the computation can remove
without merging jobs. The gap between the wall time and the summed rule times is Snakemake's
own scheduling and bookkeeping.

To time a smaller run, pass `--config KEY=VALUE ...` or `--configfile FILE ...`; both are
forwarded to Snakemake. Snakemake's --config reads nested values as strings, which the config
schema rejects for numbers, so put nested settings (cornet epochs, demo sizes) in a YAML file:
  cornet: {epochs: 1, outer_times: [1]}
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "demo_wall_time.json"
TARGET = "results/cornet/top1.png"
COPIED = ("workflow", "config", "envs")
IMPORTS = "import visionflow.cli, torch, lightning"
RULE_LINE = re.compile(r"^(?:local)?rule (\w+):$")
BENCHMARK_LINE = re.compile(r"^\s+benchmark: (\S+)$")
PROGRESS_LINE = re.compile(r"^\d+ of \d+ steps \(\d+%\) done$|^Finished jobid: ")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def import_seconds(env: dict[str, str], repeats: int) -> list[float]:
    """Wall seconds of `repeats` fresh interpreters doing the imports every job does."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", IMPORTS], env=env, check=True)
        times.append(time.perf_counter() - start)
    return times


def run_snakemake(workdir: Path, command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run Snakemake in `workdir`, echoing progress lines; return (wall seconds, full output)."""
    lines = []
    start = time.perf_counter()
    with subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if PROGRESS_LINE.match(line.strip()):
                log(f"  snakemake: {line.strip()}")
    wall = time.perf_counter() - start
    output = "".join(lines)
    if process.returncode != 0:
        log(output[-4000:])
        sys.exit(f"snakemake failed with exit code {process.returncode} (see output above)")
    return wall, output


def rule_of_benchmark(output: str) -> dict[str, str]:
    """Benchmark file path -> rule name, from the job blocks Snakemake prints."""
    rules, rule = {}, None
    for line in output.splitlines():
        if match := RULE_LINE.match(line):
            rule = match[1]
        elif (match := BENCHMARK_LINE.match(line)) and rule:
            rules[match[1]] = rule
    return rules


def per_rule_seconds(workdir: Path, output: str) -> dict[str, list[float]]:
    """Rule -> the `s` value of each of its jobs' benchmark files."""
    rules = rule_of_benchmark(output)
    seconds: dict[str, list[float]] = defaultdict(list)
    for path in sorted((workdir / "benchmarks").rglob("*.tsv")):
        relative = path.relative_to(workdir).as_posix()
        with path.open() as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        seconds[rules.get(relative, relative)].extend(float(row["s"]) for row in rows)
    started = list(dict.fromkeys(rules.values()))  # rules in the order their jobs started
    order = {rule: started.index(rule) if rule in started else len(started) for rule in seconds}
    return dict(sorted(seconds.items(), key=lambda item: order[item[0]]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--import-repeats", type=int, default=5, help="baseline repetitions")
    parser.add_argument(
        "--config", nargs="+", default=[], metavar="KEY=VALUE", help="passed to snakemake"
    )
    parser.add_argument(
        "--configfile", nargs="+", default=[], type=Path, help="passed to snakemake"
    )
    parser.add_argument("--scratch", type=Path, help="parent of the temporary work folder")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    bin_dir = Path(sys.prefix) / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bin_dir / "snakemake"), TARGET, "--cores", str(args.cores)]
    command += ["--resources", "gpu=1"]
    if args.config:
        command += ["--config", *args.config]
    if args.configfile:
        command += ["--configfile", *(str(path.resolve()) for path in args.configfile)]

    workdir = Path(tempfile.mkdtemp(prefix="bench-demo-", dir=args.scratch))
    try:
        for name in COPIED:
            shutil.copytree(REPO / name, workdir / name)
        log(f"timing {args.import_repeats} x `python -c '{IMPORTS}'`")
        imports = import_seconds(env, args.import_repeats)
        log(f"running {' '.join(command[1:])} in {workdir}")
        wall, output = run_snakemake(workdir, command, env)
        seconds = per_rule_seconds(workdir, output)
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    jobs = sum(len(values) for values in seconds.values())
    per_import = statistics.median(imports)
    baseline = per_import * jobs
    print(f"{'rule':<22} {'jobs':>4} {'total s':>9}")
    for rule, values in seconds.items():
        print(f"{rule:<22} {len(values):>4} {sum(values):>9.1f}")
    print(f"{'sum of rules':<22} {jobs:>4} {sum(map(sum, seconds.values())):>9.1f}")
    print(f"{'wall time':<27} {wall:>9.1f}")
    print(f"{'baseline: imports x jobs':<27} {baseline:>9.1f}  ", end="")
    print(f"({per_import:.2f} s x {jobs} jobs = {baseline / wall:.1%} of wall time)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "command": ["snakemake", *command[1:]],
        "wall_s": wall,
        "rules": {rule: {"jobs": len(v), "total_s": sum(v), "s": v} for rule, v in seconds.items()},
        "jobs": jobs,
        "import_s": imports,
        "import_median_s": per_import,
        "baseline_s": baseline,
        "baseline_share_of_wall": baseline / wall,
        "cpu_count": os.cpu_count(),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
