"""A full disk during a write: no partial output, one clear error, and a rerun that completes."""

import errno
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import comparable, cornet_train_command, subprocess_env, tiny_settings

import visionflow.io
from visionflow.engine import checkpoint_io
from visionflow.io import OutOfSpaceError, write_table, write_text


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_injected_enospc_leaves_the_old_file_and_names_the_new_one(tmp_path, monkeypatch):
    table = tmp_path / "table.parquet"
    write_table(table, pd.DataFrame({"a": [1, 2]}))
    before = table.read_bytes()

    def full_disk(self, path, **kwargs):
        Path(path).write_bytes(b"PAR1 half a table")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    with pytest.raises(OutOfSpaceError, match=r"table\.parquet: no space left"):
        write_table(table, pd.DataFrame({"a": [3]}))
    assert table.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_injected_checkpoint_failure_on_a_full_disk_is_reported_as_such(tmp_path, monkeypatch):
    """torch reports a short write as a bare RuntimeError; a (nearly) full disk explains it."""

    def torch_on_a_full_disk(obj, handle):
        handle.write(b"PK half a checkpoint")
        raise RuntimeError("[enforce fail at inline_container.cc:671] . unexpected pos 576 vs 534")

    monkeypatch.setattr(visionflow.io.torch, "save", torch_on_a_full_disk)
    monkeypatch.setattr("visionflow.io._NEARLY_FULL", 1 << 62)  # every disk counts as full
    with pytest.raises(OutOfSpaceError, match="last.ckpt"):
        checkpoint_io.AtomicCheckpointIO().save_checkpoint({}, tmp_path / "last.ckpt")
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_are_not_mistaken_for_a_full_disk(tmp_path, monkeypatch):
    def refuse(self, path, **kwargs):
        raise ValueError("not a table")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", refuse)
    monkeypatch.setattr("visionflow.io._NEARLY_FULL", 1 << 62)  # even on a (nearly) full disk
    with pytest.raises(ValueError, match="not a table"):
        write_table(tmp_path / "t.parquet", pd.DataFrame())
    write_text(tmp_path / "ok.txt", "fine")  # the text writer is untouched
    assert leftovers(tmp_path) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 MiB tmpfs, where the machine lets this process mount one."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here; the injected-error tests above cover the writer")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.slow
def test_training_on_a_full_tmpfs_stops_clearly_and_completes_once_space_exists(
    tiny_store, tmp_path, small_tmpfs
):
    settings = tiny_settings(epochs=2)
    env = subprocess_env()
    reference = tmp_path / "reference"
    subprocess.run(cornet_train_command(tiny_store, reference, settings), env=env, check=True,
                   capture_output=True)  # fmt: skip

    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * (64 * 2**20 - 512 * 2**10))  # under a checkpoint (6.8 MB) free
    run = small_tmpfs / "run"
    full = subprocess.run(cornet_train_command(tiny_store, run, settings), env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert full.returncode == 2, full.stderr[-2000:]
    message = full.stderr.strip().splitlines()[-1]
    assert message.startswith("visionflow: error: ") and "no space left" in message
    assert "Traceback" not in full.stderr
    checkpoints = run / "checkpoints"
    assert not checkpoints.exists() or leftovers(checkpoints) == []
    assert not (checkpoints / "best.ckpt").exists()

    filler.unlink()
    rerun = subprocess.run(cornet_train_command(tiny_store, run, settings), env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    pd.testing.assert_frame_equal(
        comparable(run / "metrics.csv"), comparable(reference / "metrics.csv"), check_exact=True
    )
