"""Fixture: a real single-node SLURM cluster on this machine (tests/slurm/setup_cluster.sh)."""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "slurm" / "setup_cluster.sh"


def cluster(action: str) -> subprocess.CompletedProcess:
    """Run `setup_cluster.sh start|stop`; a hang counts as a failure."""
    try:
        return subprocess.run(["bash", str(SCRIPT), action], capture_output=True, text=True,
                              timeout=600)  # fmt: skip
    except subprocess.TimeoutExpired as error:
        return subprocess.CompletedProcess(error.cmd, 1, "", f"timed out after {error.timeout} s")


@pytest.fixture(scope="module")
def slurm_cluster():
    """Start the cluster (installing slurm-wlm and munge if missing), stop it afterwards.

    Where it cannot start, the test fails with the script's reason: it never skips."""
    try:
        start = cluster("start")
        if start.returncode != 0:
            pytest.fail(f"could not start a SLURM cluster:\n{start.stdout}{start.stderr}",
                        pytrace=False)  # fmt: skip
        yield
    finally:
        stop = cluster("stop")
        assert stop.returncode == 0, f"could not stop the SLURM cluster:\n{stop.stderr}"
