"""Every weights file the config names is an input of the rules that read it, so a changed
file reruns them and a wrong path stops the dry run naming the key."""

import pytest
import yaml
from helpers import snakemake, workflow_copy

# config key (dotted), a rule that reads the file it names
WEIGHTS = [
    ("cornet.pretrained", "train_cornet"),
    ("grasp.alexnet_weights", "train_grasp"),
    ("slr.pretrained", "train_slr"),
    ("cvat.split.embedding_weights", "split_cvat"),
    ("detection.variants.0.weights", "search_detection"),
    ("detection.variants.0.weights", "train_detection"),
    ("saliency.model.weights", "train_saliency"),
    ("analysis.clip.weights", "label_clip"),
    ("analysis.clip.arch_config", "label_clip"),
]


def weights_config(folder, missing: str | None = None) -> dict:
    """A config file setting every weights key to a file in `folder` (`missing`: a path
    that does not exist instead)."""

    def path(key):
        return str(folder / ("absent.pt" if key == missing else f"{key}.pt"))

    return {
        "cornet": {"pretrained": path("cornet.pretrained")},
        "grasp": {"alexnet_weights": path("grasp.alexnet_weights")},
        "slr": {"pretrained": path("slr.pretrained")},
        "cvat": {"split": {"method": "feature_space",
                           "embedding_weights": path("cvat.split.embedding_weights")}},
        "detection": {"variants": [{"name": "resnet18", "backbone": "resnet18", "run_hpo": True,
                                    "weights": path("detection.variants.0.weights")}]},
        "saliency": {"model": {"weights": path("saliency.model.weights")}},
        "analysis": {"clip": {"weights": path("analysis.clip.weights"),
                              "arch_config": path("analysis.clip.arch_config")}},
    }  # fmt: skip


def workdir_with_weights(tmp_path, missing: str | None = None):
    workdir = workflow_copy(tmp_path / "work")
    folder = tmp_path / "weights"
    folder.mkdir()
    for key, _ in WEIGHTS:
        (folder / f"{key}.pt").write_bytes(b"weights")
    (workdir / "weights.yaml").write_text(yaml.safe_dump(weights_config(folder, missing)))
    return workdir, folder


def test_every_weights_file_is_an_input_of_its_rules(tmp_path):
    workdir, folder = workdir_with_weights(tmp_path)
    result = snakemake(workdir, "all", "-n", "--configfile", "config/config.yaml", "weights.yaml")
    inputs: dict[str, str] = {}
    for block in result.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        found = [line for line in block.splitlines() if line.strip().startswith("input:")]
        inputs[rule] = inputs.get(rule, "") + " ".join(found)
    for key, rule in WEIGHTS:
        assert str(folder / f"{key}.pt") in inputs[rule], (key, rule)


@pytest.mark.slow  # one dry run per key
@pytest.mark.parametrize("key", sorted({key for key, _ in WEIGHTS}))
def test_a_missing_weights_file_stops_the_dry_run_naming_its_key(key, tmp_path):
    workdir, folder = workdir_with_weights(tmp_path, missing=key)
    result = snakemake(
        workdir, "all", "-n", "--configfile", "config/config.yaml", "weights.yaml", check=False
    )
    assert result.returncode == 1
    assert f"weights.yaml: {key}: {folder / 'absent.pt'} does not exist" in (
        result.stderr.splitlines()
    )
    assert "Traceback" not in result.stdout + result.stderr
