"""Optuna search on a journal file: trial budget, resume after a kill, parallel workers,
pruning."""

import math
import multiprocessing
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from visionflow.engine import hpo
from visionflow.experiments.detection import SEARCH_SPACE
from visionflow.io import BadInputError

RANGES = {"lr": [1e-4, 1e-1], "weight_decay": [1e-5, 1e-2], "momentum": [0.1, 0.9],
          "step_size": [1, 5], "gamma": [0.01, 0.5]}  # fmt: skip


def score(trial: optuna.Trial, params: dict) -> float:
    """A smooth objective with its minimum at lr = 0.01."""
    return (math.log10(params["lr"]) + 2) ** 2 + params["gamma"]


def study(path: Path, seed: int = 0) -> optuna.Study:
    return hpo.open_study(path, "demo", startup_trials=2, seed=seed)


def test_worker_stops_at_the_trial_budget_and_reports_the_best(tmp_path):
    done = hpo.run_worker(
        study(tmp_path / "s.journal"), score, SEARCH_SPACE, RANGES, 6, worker=0, workers=1
    )
    assert [d["trial"] for d in done] == list(range(6))
    reopened = study(tmp_path / "s.journal")
    budget_met = hpo.run_worker(reopened, score, SEARCH_SPACE, RANGES, 6, worker=0, workers=1)
    assert budget_met == []
    best = hpo.optimal_settings(reopened)
    assert best["best_value"] == min(d["value"] for d in done)
    assert set(RANGES) <= set(best) and isinstance(best["step_size"], int)
    table = hpo.trials_table(reopened)
    assert table["state"].eq("COMPLETE").all() and len(table) == 6


def test_a_worker_left_without_a_trial_says_which_workers_took_the_budget(tmp_path, caplog):
    path = tmp_path / "s.journal"
    hpo.run_worker(study(path), score, SEARCH_SPACE, RANGES, 2, worker=0, workers=3)
    hpo.run_worker(study(path), score, SEARCH_SPACE, RANGES, 3, worker=1, workers=3)
    with caplog.at_level("INFO", logger=hpo.__name__):
        idle = hpo.run_worker(study(path), score, SEARCH_SPACE, RANGES, 3, worker=2, workers=3)
    assert idle == []
    assert [r.getMessage() for r in caplog.records if r.name == hpo.__name__] == [
        "worker 2 ran no trial: the study already holds 3 of its max_num_trials 3 "
        "(worker 0: 2, worker 1: 1)"
    ]


def test_killed_worker_resumes_its_trial_and_draws_new_points(tmp_path):
    path = tmp_path / "s.journal"
    first = study(path)
    killed = first.ask()
    killed.set_user_attr("worker", 0)
    params = hpo.suggest(killed, SEARCH_SPACE, RANGES)  # killed here: the trial stays RUNNING

    seen = []
    done = hpo.run_worker(
        study(path), lambda t, p: seen.append(p) or score(t, p), SEARCH_SPACE, RANGES, 3, 0, 1
    )
    assert done[0]["trial"] == killed.number and seen[0] == params
    assert [d["state"] for d in done] == ["COMPLETE"] * 3
    draws = [tuple(sorted(p.items())) for p in seen]
    assert len(set(draws)) == 3  # a restart does not repeat its predecessor's draws


def test_other_workers_running_trials_are_left_alone(tmp_path):
    path = tmp_path / "s.journal"
    other = study(path).ask()
    other.set_user_attr("worker", 1)
    done = hpo.run_worker(study(path), score, SEARCH_SPACE, RANGES, 3, worker=0, workers=2)
    assert other.number not in [d["trial"] for d in done] and len(done) == 2
    orphan = hpo.run_worker(study(path), score, SEARCH_SPACE, RANGES, 3, worker=0, workers=1)
    assert [d["trial"] for d in orphan] == [other.number]  # worker 1 no longer configured


def slow_score(trial: optuna.Trial, params: dict) -> float:
    time.sleep(0.5)  # long enough that both workers get trials
    return score(trial, params)


def _worker(path: str, worker: int) -> None:
    hpo.run_worker(
        hpo.open_study(Path(path), "demo", 2, worker),
        slow_score,
        SEARCH_SPACE,
        RANGES,
        8,
        worker,
        2,
    )


@pytest.mark.slow  # several processes: the full tier
def test_two_processes_share_one_study(tmp_path):
    path = tmp_path / "s.journal"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(str(path), w)) for w in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    trials = study(path).get_trials()
    assert len(trials) == 8 and all(t.state == TrialState.COMPLETE for t in trials)
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 8


def test_median_pruner_stops_a_trial_worse_than_the_median(tmp_path):
    search = study(tmp_path / "s.journal")
    for value in (1.0, 1.1, 0.9):
        trial = search.ask()
        for step in (1, 2, 3):
            trial.report(value, step)
        search.tell(trial, value)

    def hopeless(trial: optuna.Trial, params: dict) -> float:
        for step in (1, 2, 3):
            trial.report(5.0, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 5.0

    [done] = hpo.run_worker(search, hopeless, SEARCH_SPACE, RANGES, 4, worker=0, workers=1)
    assert done["state"] == "PRUNED"
    assert hpo.trials_table(search)["state"].tolist() == ["COMPLETE"] * 3 + ["PRUNED"]


def test_a_study_without_a_completed_trial_has_no_optimum(tmp_path):
    search = study(tmp_path / "s.journal")
    search.tell(search.ask(), state=TrialState.PRUNED)
    with pytest.raises(BadInputError, match="no completed trial"):
        hpo.optimal_settings(search)
