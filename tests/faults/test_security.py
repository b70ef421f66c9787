"""Loads never execute code and config values never reach a shell as code."""

import re

from helpers import REPO, read_config, snakemake, workflow_copy, write_config

FORBIDDEN = {
    r"torch\.load\((?![^)]*weights_only=True)": "torch.load without weights_only=True",
    r"allow_pickle\s*=\s*True": "numpy loads that unpickle",
    r"\bpickle\.loads?\(": "pickle loads",
    r"yaml\.load\(": "yaml.load (use yaml.safe_load)",
    r"shell\s*=\s*True": "subprocess through a shell",
    r"os\.system\(": "os.system",
}


def test_no_source_file_loads_code_or_shells_out():
    found = []
    workflow = REPO / "workflow"
    sources = [*(REPO / "src").rglob("*.py"), *(REPO / "bench").glob("*.py"),
               workflow / "Snakefile", *(workflow / "rules").glob("*.smk")]  # fmt: skip
    for path in sorted(sources):
        text = path.read_text()
        for pattern, what in FORBIDDEN.items():
            found += [f"{path.relative_to(REPO)}: {what}" for _ in re.finditer(pattern, text)]
    assert found == []


def test_a_path_full_of_shell_syntax_is_only_ever_a_path(tmp_path):
    workdir = workflow_copy(tmp_path)
    config = read_config(workdir)
    root = "data/raw/we ird;$(touch PWNED) `touch PWNED2` 'q\""
    demo = {"tasks": 2, "frames_per_task": 10, "size": 64, "out": root}
    config["cvat"].update(root=root, demo=demo)
    write_config(workdir, config)
    snakemake(workdir, "data/prepared/cvat/annotations/annotations.parquet")
    assert (workdir / root).is_dir() and any((workdir / root).iterdir())
    assert not list(workdir.rglob("PWNED*"))
