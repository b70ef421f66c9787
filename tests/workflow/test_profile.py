"""The default workflow profile limits GPU jobs to the GPUs CUDA sees, one without any."""

import shutil

import pytest
from helpers import REPO, SNAKEMAKE, run
from snakemake.profiles import ProfileConfigFileParser

PROFILE = REPO / "workflow" / "profiles" / "default" / "config.yaml"
# Two jobs that declare a GPU, each noting when it held it.
SNAKEFILE = """
rule all:
    input:
        expand("held{i}.txt", i=range(2)),


rule use_gpu:
    output:
        "held{i}.txt",
    resources:
        gpu=1,
    shell:
        "python -c 'import time; print(time.time())' > {output}; sleep 1;"
        " python -c 'import time; print(time.time())' >> {output}"
"""


@pytest.mark.parametrize(
    ("visible", "limit"),
    [("", 1), ("0", 1), ("0,1", 2), ("GPU-8a1e,GPU-77c0,GPU-0f3d", 3), ("0,-1,2", 1)],
)
def test_gpu_limit_counts_the_devices_cuda_sees(visible, limit, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    with PROFILE.open() as stream:
        profile = ProfileConfigFileParser().parse(stream)
    assert profile["resources"] == [f"gpu={limit}"]


def test_two_gpu_jobs_never_run_at_once_without_resources_flag(tmp_path):
    (tmp_path / "workflow").mkdir()
    (tmp_path / "workflow" / "Snakefile").write_text(SNAKEFILE)
    shutil.copytree(PROFILE.parent, tmp_path / "workflow" / "profiles" / "default")
    result = run([*SNAKEMAKE, "--cores", "2"], cwd=tmp_path)  # no GPU visible: limit 1
    assert 'gpu=Resource("gpu", 1)' in result.stdout + result.stderr
    spans = sorted(
        tuple(map(float, (tmp_path / f"held{i}.txt").read_text().split())) for i in range(2)
    )
    assert spans[0][1] <= spans[1][0], f"GPU jobs overlapped: {spans}"
