"""The original's config.json and gridsearch.json as the workflow's saliency section."""

import json

import pytest
import yaml
from helpers import REPO
from snakemake.utils import validate

from visionflow.experiments.saliency.importer import import_config
from visionflow.io import BadInputError

ORIGINAL = {
    "all_tasks": ["UniSal", "SAM", "AIM"], "skip": ["pretrain_weights", "run"],
    "name": "Generalization 9 - IKN", "gpu": 0,
    "model": {"hnet": {"type": "chunked", "task_cnt": 3, "hidden_layers": [512, 512],
                       "embedding_size": 256, "chunk_size": 65536, "chunk_emb_per_task": False,
                       "chunk_emb_size": 16},
              "mnet": {"type": "original", "encoder_type": "cwl", "mobilenet_cutoff": 17,
                       "decoder_type": "full", "decoder_non_linearity": "ReLU6"}},
    "pretrain_one_task": {"tasks": ["AIM", "SAM"], "batch_size": 4, "epochs": 1, "lr": 0.001},
    "train": {"tasks": ["UniSal", "SAM", "AIM"], "imgs_per_task_train": 1000,
              "imgs_per_task_val": 500, "loss": "BCELoss", "batch_size": 4,
              "consecutive_batches_per_task": 8, "epochs": 26, "lr": 0.001, "lr_decay": 0.1,
              "freeze_encoder_steps": 3, "decay_epochs": [], "auto_checkpoint_steps": 5},
}  # fmt: skip


def test_original_config_and_grid_import_into_a_valid_section(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(ORIGINAL))
    (tmp_path / "gridsearch.json").write_text(
        json.dumps([["train/epochs", [100, 200]], ["model/hnet/embedding_size", [64]]])
    )
    section = import_config(tmp_path / "config.json", tmp_path / "gridsearch.json")
    assert section["tasks"] == ["UniSal", "SAM", "AIM"] and section["skip"] == ["pretrain_weights"]
    assert section["model"]["generated"] == ["encoder.17", "encoder.18", "decoder"]
    assert section["model"]["hnet"] == {
        "task_embedding": 256,
        "chunk_size": 65536,
        "chunk_embedding": 16,
        "hidden": [512, 512],
    }
    train = section["train"]
    assert train["batches_per_task_train"] == 250 and train["batches_per_task_val"] == 125
    assert train["freeze_encoder_epochs"] == 3 and train["checkpoint_every"] == 5
    assert section["pretrain_one_task"]["task"] == "AIM"
    assert section["grid"] == [["train/epochs", [100, 200]], ["model/hnet/task_embedding", [64]]]
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["saliency"] = section
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))


@pytest.mark.parametrize(
    "config, grid, problem",
    [
        ({"all_tasks": ["A"]}, None, "no `model` section"),
        ({"model": {"mnet": {"encoder_type": "vgg"}}}, None, "encoder_type 'vgg' unknown"),
        ({"model": {}}, [["train/imgs_per_task_train", [10]]], "has no counterpart"),
        ({"model": {}}, {"train/epochs": [1]}, "expected"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, config, grid, problem):
    (tmp_path / "config.json").write_text(json.dumps(config))
    grid_path = None
    if grid is not None:
        grid_path = tmp_path / "gridsearch.json"
        grid_path.write_text(json.dumps(grid))
    with pytest.raises(BadInputError, match=problem):
        import_config(tmp_path / "config.json", grid_path)
