"""`visionflow preflight`: passes on the demo config; on broken copies (missing root, missing
or unloadable weights, too little disk, a batch too big for the GPU) lists every problem;
counts the jobs of `all`, the GPU hours of the training samples, memory per device and the
disk where the stores go."""

import math
import shutil
from collections import namedtuple

import pytest
import torch
from helpers import REPO, validated, workflow_copy

from visionflow.cli import main
from visionflow.preflight import budget, checks
from visionflow.preflight.checks import Report, check_steps, preflight, training_steps
from visionflow.preflight.estimate import step_cost


def test_demo_config_passes():
    report = preflight(validated())
    assert report.problems == []
    assert any(line.startswith("model cornet: ") for line in report.lines)
    assert any(line.startswith("disk: ") for line in report.lines)


def test_every_problem_of_a_broken_config_is_listed(tmp_path):
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(b"not a checkpoint")
    config = validated(
        miniimagenet={"root": str(tmp_path / "typo")},
        cornet={"pretrained": str(damaged)},
        grasp={"alexnet_weights": str(tmp_path / "absent.pth")},
        preflight={"gpu_memory_gb": 1e-4, "disk_margin": 1e12},
    )
    problems = preflight(config).problems
    keys = [problem.split(":")[0] for problem in problems]
    assert keys == [
        "miniimagenet.root", "grasp.alexnet_weights", "cornet.pretrained",
        "cornet", "grasp", "slr asl10 R(2+1)D_18", "preflight.disk_margin",
    ]  # fmt: skip
    assert "not a loadable weights-only checkpoint" in problems[2]
    assert "more than preflight.gpu_memory_gb (0.0001)" in problems[3]


def test_step_memory_counts_weights_gradients_states_and_activations():
    cost = step_cost(lambda: torch.nn.Linear(10, 4), lambda b: (torch.empty(b, 10),), 8, 2)
    weights = 4 * 44 * (1 + 1 + 2)  # parameters, gradients, two optimizer states
    assert cost.parameters == 44 and cost.memory_bytes == weights + 4 * 8 * 4
    assert cost.flops == 2 * (2 * 8 * 10 * 4)  # forward, weight gradient (input needs none)


def test_paper_config_lists_missing_roots_and_the_checks_it_could_run(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as stop:
        main(["preflight", "--configfile", "config/paper.yaml"])
    assert stop.value.code == 1
    out, err = capsys.readouterr()
    assert "model cornet: 52,955,684 parameters, batch 16:" in out
    assert "model detection: not estimated" in out
    assert "; without detection, saliency (not estimated)" in out
    assert "gpu hours cornet: 1.87 per 1,000 training samples (4 runs x 43 epochs;" in out
    assert "of them on a GPU (stand-ins for the 8 missing roots and files)" in out
    for root in ("miniimagenet", "jacquard", "wlasl", "cvat", "saliency"):
        assert f"  {root}.root: " in err
    assert "  grasp.alexnet_weights: /models/alexnet-owt-7be5be79.pth does not exist" in err


@pytest.mark.slow  # a Snakemake dry run: seconds the fast tier has not got
def test_jobs_and_gpu_jobs_come_from_the_dry_run_of_all(tmp_path, monkeypatch):
    monkeypatch.chdir(workflow_copy(tmp_path))
    config = validated(experiments=["cornet"])
    # all, demo, prepare, 4 x (train, test), plot, summarize; train and test declare gpu
    assert budget.dry_run(config, []) == (13, 8)
    typo = ["miniimagenet", "root"]
    assert budget.dry_run(
        validated(experiments=["cornet"], miniimagenet={"root": "x"}), [typo]
    ) == (12, 8)  # a stand-in for a real root: no demo job
    wlasl = {"root": "w", "split_file": "splits/nslt_{n}.json"}  # inside the stand-in root
    config = validated(experiments=["slr"], wlasl=wlasl)
    assert budget.dry_run(config, [["wlasl", "root"]]) == (6, 2)  # prepare, train, test, ...
    (tmp_path / "w").mkdir()  # a root without the split file
    failed = budget.dry_run(config, [])
    assert failed.startswith("MissingInputException in rule prepare_wlasl")
    assert failed.endswith(": w/splits/nslt_10.json")
    failed = budget.dry_run(validated(experiments=["cornet"], miniimagenet={"root": "x"}), [])
    assert failed.startswith("miniimagenet.root: x does not exist (the demo dataset is")


def test_gpu_hours_count_the_training_samples_of_the_root(tmp_path, monkeypatch):
    from visionflow.demo.miniimagenet import generate

    generate(tmp_path / "mini", n_classes=2, train_per_class=9, val_per_class=1)
    monkeypatch.chdir(tmp_path)
    config = validated(experiments=["cornet", "detection"],
                       miniimagenet={"root": str(tmp_path / "mini")})  # fmt: skip
    report = Report()
    costs = check_steps(config, report)
    checks.gpu_hours(config, costs, report)
    [(step, cost)] = costs
    hours = cost.flops * 4 * 10 * math.ceil(18 / 16) / 10e12 / 3600  # 4 runs, 10 epochs
    assert (
        f"gpu hours cornet: {hours:.2f} (4 runs x 10 epochs x 2 steps of 18 training"
        " samples)" in report.lines
    )
    assert report.lines[-1] == (
        f"gpu hours total: {hours:.2f} at 10 TFLOP/s"
        " (preflight.gpu_tflops); without detection (not estimated)"
    )


def test_memory_is_one_devices_share_of_the_global_batch():
    config = validated(experiments=["grasp"], grasp={"devices": 2})
    report = Report()
    [(step, cost)] = check_steps(config, report)
    share = step_cost(step.build, step.inputs, 4, step.optimizer_states)
    assert cost.memory_bytes == share.memory_bytes and cost.flops == 2 * share.flops
    assert report.lines[0].startswith(
        f"model grasp: 301,718 parameters, batch 8, 4 per device: {share.memory_bytes / 1e9:.2f}"
    )
    report = Report()
    check_steps(validated(experiments=["grasp"], grasp={"devices": 3}), report)
    assert report.problems == ["grasp.batch_size: the global batch 8 does not divide over 3"
                               " devices"]  # fmt: skip


def test_free_disk_is_read_where_the_stores_will_be_written(tmp_path, monkeypatch):
    seen = []

    def usage(path):
        seen.append(path)
        return namedtuple("Usage", "total used free")(1, 1, 0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", usage)
    config = validated(experiments=["grasp"])
    costs = list(zip(training_steps(config), [checks.StepCost(10**9, 0, 0)], strict=True))
    report = Report()
    checks.check_disk(config, costs, report)
    (tmp_path / "data" / "prepared").mkdir(parents=True)
    checks.check_disk(config, costs, report)
    assert seen == [str(tmp_path), str(tmp_path / "data" / "prepared")]
    assert report.problems[0].startswith("preflight.disk_margin: ")
