"""Bayesian hyperparameter search with Optuna, shared on disk by any number of worker jobs.

The study lives in a journal file, so workers in separate processes (Snakemake jobs on
one machine or SLURM nodes on a shared file system) add trials to the same study, and a
killed worker resumes its unfinished trial when it starts again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import optuna
import pandas as pd
from lightning.pytorch.trainer.states import TrainerFn
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from visionflow.io import BadInputError

log = logging.getLogger(__name__)

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)

Objective = Callable[[optuna.Trial, dict[str, Any]], float]
# Searched settings: name -> ("int" or "float", drawn on a log scale).
Space = Mapping[str, tuple[str, bool]]


def suggest(trial: optuna.Trial, space: Space, ranges: Mapping[str, list]) -> dict[str, Any]:
    """One value per setting of `space` from its [low, high] range (a resumed trial's own)."""
    params = {}
    for name, (kind, log_scale) in space.items():
        low, high = ranges[name]
        if kind == "int":
            params[name] = trial.suggest_int(name, int(low), int(high), log=log_scale)
        else:
            params[name] = trial.suggest_float(name, float(low), float(high), log=log_scale)
    return params


def study_name(variant: str, search: Mapping[str, Any]) -> str:
    """The variant plus a digest of the search settings: other settings start a new study."""
    digest = hashlib.sha256(json.dumps(search, sort_keys=True).encode()).hexdigest()[:10]
    return f"{variant}-{digest}"


def open_study(path: Path, name: str, startup_trials: int, seed: int) -> optuna.Study:
    """The study `name` in the journal file `path`, created on first use.

    TPE after `startup_trials` random ones (the original's num_initial_data_points),
    with constant liar so parallel workers do not propose the same point; the median
    pruner stops trials whose validation loss is worse than the median at the same epoch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="minimize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=1),
        load_if_exists=True,
    )
    # Seeded by what the study already holds too: a restarted worker must not repeat the
    # points its killed predecessor drew from the same seed.
    held = len(study.get_trials(deepcopy=False))
    sampler_seed = int(np.random.SeedSequence([seed, held]).generate_state(1)[0])
    study.sampler = optuna.samplers.TPESampler(
        n_startup_trials=startup_trials, seed=sampler_seed, constant_liar=True
    )
    return study


def _unfinished(study: optuna.Study, worker: int, workers: int) -> list[optuna.Trial]:
    """Trials left running by an earlier, killed run of this worker (worker 0 also adopts
    those of workers no longer configured)."""
    mine = []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = frozen.user_attrs.get("worker", -1)
        if owner == worker or (worker == 0 and owner >= workers):
            mine.append(optuna.Trial(study, frozen._trial_id))
    return mine


def run_worker(
    study: optuna.Study,
    objective: Objective,
    space: Space,
    ranges: Mapping[str, list],
    max_trials: int,
    worker: int,
    workers: int,
) -> list[dict[str, Any]]:
    """Run trials until the study holds `max_trials`; returns what this worker did.

    First finishes its own trials a kill left running, then asks for new ones.
    """
    done = []
    pending = _unfinished(study, worker, workers)
    while True:
        if pending:
            trial = pending.pop(0)
            log.info("resuming trial %d", trial.number)
        elif len(study.get_trials(deepcopy=False, states=COUNTED)) < max_trials:
            trial = study.ask()
            trial.set_user_attr("worker", worker)
        else:
            if not done:
                log.info(idle_reason(study, worker, max_trials))
            return done
        params = suggest(trial, space, ranges)
        try:
            value = objective(trial, params)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            done.append({"trial": trial.number, "state": "PRUNED", "value": None, **params})
            continue
        study.tell(trial, value)
        done.append({"trial": trial.number, "state": "COMPLETE", "value": value, **params})


def idle_reason(study: optuna.Study, worker: int, max_trials: int) -> str:
    """Why worker `worker` ran no trial: the budget is taken, and by which workers."""
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False, states=COUNTED):
        owner = str(trial.user_attrs.get("worker", "?"))
        counts[owner] = counts.get(owner, 0) + 1
    taken = ", ".join(f"worker {owner}: {n}" for owner, n in sorted(counts.items()))
    return (f"worker {worker} ran no trial: the study already holds {sum(counts.values())} "
            f"of its max_num_trials {max_trials} ({taken})")  # fmt: skip


def optimal_settings(study: optuna.Study) -> dict[str, Any]:
    """The best trial's settings and value, the file the original wrote after a search."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise BadInputError(study.study_name, "the study has no completed trial (all pruned?)")
    best = study.best_trial
    return {"best_value": best.value, "trial": best.number, **best.params}


class PruningCallback(L.Callback):
    """Reports each trained epoch's validation loss to `trial` and stops hopeless trials."""

    def __init__(self, trial: optuna.Trial, monitor: str = "val/loss") -> None:
        self.trial, self.monitor = trial, monitor

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.trial.report(value, step=trainer.current_epoch + 1)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {trainer.current_epoch + 1}: {value:.4f}")


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, last reported epoch, worker, settings."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        steps = trial.intermediate_values
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "epochs": max(steps) if steps else 0,
                "worker": trial.user_attrs.get("worker"),
                **trial.params,
            }
        )
    return pd.DataFrame(rows)
