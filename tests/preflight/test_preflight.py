"""`visionflow preflight`: passes on the demo config; on broken copies (missing root, missing
or unloadable weights, too little disk, a batch too big for the GPU) lists every problem."""

import pytest
import torch
from helpers import REPO, validated

from visionflow.cli import main
from visionflow.preflight.checks import preflight
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
    for root in ("miniimagenet", "jacquard", "wlasl", "cvat", "saliency"):
        assert f"  {root}.root: " in err
