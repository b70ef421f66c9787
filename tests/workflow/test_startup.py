"""The start-up check: missing data roots and named files of the active studies, all at once,
each with its key; a demo writes only its own folder, never a root the user typed."""

from pathlib import Path

import pytest
from helpers import planned_jobs, snakemake, validated, workflow_copy

from visionflow.config import ConfigError
from visionflow.preflight import startup


def test_demo_config_needs_nothing_on_disk():
    assert startup.problems(validated()) == []


def test_a_root_elsewhere_than_the_demo_folder_must_exist(tmp_path):
    typo = tmp_path / "typo"
    config = validated(miniimagenet={"root": str(typo)})
    [(key, problem)] = startup.problems(config)
    assert key == ["miniimagenet", "root"]
    assert problem.startswith(f"{typo} does not exist (the demo dataset is data/raw/miniimagenet")
    typo.mkdir()
    assert startup.problems(config) == []


def test_paper_config_lists_every_missing_root_and_file_of_the_active_studies(tmp_path):
    weights = str(tmp_path / "alexnet.pth")
    config = validated("paper.yaml", grasp={"alexnet_weights": weights})
    keys = [".".join(map(str, key)) for key, _ in startup.problems(config)]
    roots = ["miniimagenet", "jacquard", "wlasl", "cvat", "saliency"]
    files = ["grasp.alexnet_weights", "analysis.rsm.reference.alexnet", "saliency.model.weights"]
    assert keys == [f"{name}.root" for name in roots] + files  # the last one unset, required

    config = validated("paper.yaml", experiments=["cornet"], grasp={"alexnet_weights": weights})
    assert [key for key, _ in startup.problems(config)] == [["miniimagenet", "root"]]

    Path(weights).write_bytes(b"")
    config = validated("paper.yaml", experiments=["grasp"], grasp={"alexnet_weights": weights})
    assert [key for key, _ in startup.problems(config)] == [["jacquard", "root"]]


def test_check_names_the_file_each_key_came_from(tmp_path):
    config = validated("paper.yaml", experiments=["cornet", "saliency"])
    with pytest.raises(ConfigError) as error:
        startup.check(config, ["config/config.yaml", "config/paper.yaml"], {})
    assert str(error.value).splitlines() == [
        "config/paper.yaml: miniimagenet.root: /data/MiniImageNet does not exist",
        "config/paper.yaml: saliency.root: /data/saliency does not exist",
        "config/paper.yaml: saliency.model.weights: real data needs the torchvision MobileNetV2"
        " ImageNet state dict the original always starts from (mobilenet_v2-b0353104.pth)",
    ]


@pytest.mark.slow  # a Snakemake start-up: seconds the fast tier has not got
def test_typed_root_fails_at_start_up_and_demo_writes_nothing_there(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    typo = tmp_path / "typo"
    result = snakemake(workdir, "-n", "--config", f"miniimagenet={{root: {typo}}}", check=False)
    message = result.stdout + result.stderr
    assert result.returncode != 0 and "demo_miniimagenet" not in result.stdout
    assert f"--config: miniimagenet.root: {typo} does not exist" in message
    assert not typo.exists()


@pytest.mark.slow
def test_all_builds_only_the_active_studies(tmp_path):
    workdir = workflow_copy(tmp_path, jacquard={"root": str(tmp_path / "absent")})
    result = snakemake(workdir, "-n", "all", "--config", "experiments=[cornet]")
    jobs = planned_jobs(result.stdout)
    assert set(jobs) == {"all", "demo_miniimagenet", "prepare_miniimagenet", "train_cornet",
                         "test_cornet", "plot_cornet", "summarize_cornet"}  # fmt: skip
