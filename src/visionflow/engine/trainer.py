"""Fit and evaluate with Lightning: resume, checkpoints, loggers, device policy."""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from visionflow.engine import console
from visionflow.engine.callbacks import (
    DATA_KEY,
    DataFingerprint,
    EpochCountCheckpoint,
    EpochMetricsWriter,
    RngStateKeeper,
)
from visionflow.engine.checkpoint_io import AtomicCheckpointIO
from visionflow.io import BadInputError, copy_file, safe_torch_load
from visionflow.settings import PRECISIONS

log = logging.getLogger(__name__)
SMALL_FILE_BYTES = 1 << 20  # store files up to this size are fingerprinted by content


def lightning_precision(requested: str = PRECISIONS[0]) -> str:
    """The Lightning precision of a run's `precision` setting: bf16-mixed only on a CUDA
    device that supports it, fp32 (the originals') everywhere else."""
    if requested not in PRECISIONS:
        raise BadInputError("precision", f"{requested!r} is not one of {', '.join(PRECISIONS)}")
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return requested if bf16 else PRECISIONS[0]


def parallelism(settings: dict[str, Any]) -> dict[str, Any]:
    """`fit`'s devices/nodes/strategy from run settings (one device of any kind by default)."""
    return {
        "devices": settings.get("devices", "auto"),
        "nodes": settings.get("nodes", 1),
        "strategy": settings.get("strategy", "auto"),
    }


def data_fingerprint(data_dir: Path) -> str:
    """A digest of a prepared store: every file's name and size, and the bytes of the small
    ones (manifest, info.json), so a store prepared again from other samples or in another
    format differs, while reading gigabytes is never needed."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(data_dir).rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(data_dir)}\0{size}\0".encode())
        if size <= SMALL_FILE_BYTES:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def resume_checkpoint(ckpt_dir: Path, hparams: dict[str, Any], data: str) -> Path | None:
    """The checkpoint to resume from: `last.ckpt` if it was written with the same
    hyperparameters and training data (fingerprint `data`); if it is unreadable, the newest
    readable other checkpoint of this run.

    State of other settings or data is removed (a fresh start). An unreadable `last.ckpt` with
    nothing to fall back on stops the run rather than retrain over finished epochs.
    """
    last = ckpt_dir / "last.ckpt"
    if not last.exists():
        return None
    try:
        saved = safe_torch_load(last)
    except BadInputError as exc:
        return _fallback(ckpt_dir, hparams, data, exc)
    if _same_run(saved, hparams, data):
        log.info("resuming from %s", last)
        return last
    changed = "settings" if saved.get("hyper_parameters") != hparams else "training data"
    log.warning("%s changed since %s was written; starting fresh", changed, last)
    shutil.rmtree(ckpt_dir)
    return None


def _same_run(state: dict[str, Any], hparams: dict[str, Any], data: str) -> bool:
    """Whether checkpoint `state` was written with these hyperparameters and data."""
    return state.get("hyper_parameters") == hparams and state.get(DATA_KEY) == data


def _fallback(ckpt_dir: Path, hparams: dict[str, Any], data: str, problem: BadInputError) -> Path:
    """The newest readable checkpoint of the same run besides last.ckpt, or a clear stop."""
    others = [p for p in ckpt_dir.glob("*.ckpt") if p.name != "last.ckpt"]
    for path in sorted(others, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            state = safe_torch_load(path)
        except BadInputError:
            continue
        if _same_run(state, hparams, data) and "loops" in state:
            log.warning("%s; resuming from %s (epoch %d) instead", problem, path, state["epoch"])
            return path
    raise BadInputError(
        problem.path,
        f"{problem.problem}; no other checkpoint of this run to resume from (delete"
        f" {ckpt_dir} to start over)",
    )


def fit(
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    run_dir: Path,
    *,
    data: str,
    epochs: int,
    metrics: Sequence[str],
    best_by: str | None,
    best_mode: str = "max",
    devices: int | str = "auto",
    nodes: int = 1,
    strategy: str = "auto",
    callbacks: Sequence[L.Callback] = (),
    loggers: Sequence[Logger] = (),
    accumulate_grad_batches: int = 1,
    precision: str = PRECISIONS[0],
    splits: Sequence[str] = ("train", "val"),
) -> Path:
    """Train `module` into `run_dir`, resuming from its last checkpoint; returns the published one.

    `data` is the training data's fingerprint (`data_fingerprint`): a checkpoint of other
    data is not resumed. `metrics` are the names the module logs as `<split>/<name>` for each
    of `splits` (by default `train/<name>` and `val/<name>`); `best_by` is the one whose best
    validation value (highest, or lowest for `best_mode="min"`) picks checkpoints/best.ckpt,
    or None to publish the final epoch's model as checkpoints/final.ckpt (copies of that
    epoch's file). `callbacks` add experiment-specific behaviour, `loggers` go beside the CSV
    and TensorBoard ones; `precision` is the run's setting. `devices`, `nodes` and `strategy`
    are Lightning's: several devices train data-parallel (DDP, gloo on CPU, nccl on GPU); our
    sampler shards the data itself. Writes metrics.csv (validation before the first epoch,
    then train and val per epoch) and
    checkpoints/last.ckpt after every epoch.
    """
    console.quiet_dependencies()
    ckpt_dir = run_dir / "checkpoints"
    resume = resume_checkpoint(ckpt_dir, dict(module.hparams), data)
    best = None
    if best_by is not None:
        best = EpochCountCheckpoint(
            dirpath=ckpt_dir,
            filename=f"{best_by}-epoch{{epoch:03d}}",
            monitor=f"val/{best_by}",
            mode=best_mode,
            save_on_train_epoch_end=True,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        )
    # Unmonitored, so it is rewritten after every epoch whatever the metrics did.
    last = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="last",
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="auto",
        devices=devices,
        num_nodes=nodes,
        strategy=strategy,
        use_distributed_sampler=False,
        precision=lightning_precision(precision),
        callbacks=[
            EpochMetricsWriter(run_dir / "metrics.csv", metrics, splits),
            RngStateKeeper(),
            DataFingerprint(data),
            *console.callbacks(metrics),
            *callbacks,
            *([best] if best else []),
            last,
        ],
        logger=[
            CSVLogger(run_dir / "logs", name="csv"),
            TensorBoardLogger(run_dir / "logs", name="tensorboard"),
            *loggers,
        ],
        plugins=[AtomicCheckpointIO()],
        num_sanity_val_steps=0,
        deterministic="warn" if torch.cuda.is_available() else True,
        default_root_dir=run_dir,
        log_every_n_steps=10,
        accumulate_grad_batches=accumulate_grad_batches,
        **console.trainer_flags(),
    )
    if resume is None:
        trainer.validate(module, datamodule=datamodule, verbose=False)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    source = Path(best.best_model_path) if best else ckpt_dir / "last.ckpt"
    published = ckpt_dir / ("best.ckpt" if best else "final.ckpt")
    if trainer.is_global_zero:
        # A copy, not a second name: DVC replaces a file with several names by a copy from its
        # cache (a new inode and time), and Snakemake would then re-run every job reading it.
        copy_file(source, published)
    return published


def evaluate(module: L.LightningModule, dataloader: Any) -> dict[str, float]:
    """Validation metrics of `module` on `dataloader` (keys without the `val/` prefix), in the
    precision it was trained with (its `precision` hyperparameter; fp32 without one)."""
    console.quiet_dependencies()
    trainer = L.Trainer(
        accelerator="auto",
        devices=1,
        precision=lightning_precision(module.hparams.get("precision", PRECISIONS[0])),
        logger=False,
        enable_checkpointing=False,
        **console.trainer_flags(),
    )
    [metrics] = trainer.validate(module, dataloaders=dataloader, verbose=False)
    return {k.removeprefix("val/"): float(v) for k, v in metrics.items() if k.startswith("val/")}
