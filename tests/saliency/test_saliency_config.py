"""The original's config.json of every generation (and gridsearch.json) as the workflow's
saliency section: every key imported or named in the warning, nothing lost without a trace."""

import copy
import json
import logging

import kdsalbox_configs as kds
import pytest
import yaml
from helpers import REPO

from visionflow.config import ConfigError, checked
from visionflow.experiments.saliency.importer import import_config, leaves, read_config
from visionflow.io import BadInputError
from visionflow.preflight import startup

GENERATIONS = {
    "g1-flat-93151c3": kds.G1_FLAT,
    "g1-0edc07f": kds.G1,
    "g2-10995b2": kds.G2,
    "g2-full-c525d4f": kds.G2_FULL,
    "g3-4dc32f4": kds.G3,
    "g3-3c4756c": kds.G3_EARLY,
    "g3-4dc32f4-with-part-files": kds.G3
    | {"pretrain_weights": kds.PRETRAIN_WEIGHTS, "pretrain_one_task": kds.PRETRAIN_ONE_TASK},
}


def write(tmp_path, conf, name="config.json"):
    (tmp_path / name).write_text(json.dumps(conf, indent=4))
    return tmp_path / name


def valid_config(section):
    """The demo config with `section` as its saliency part, checked as the workflow does."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["saliency"] = copy.deepcopy(section) | {"demo": {"images": 60, "size": 96}}
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    return checked(config, schema, ["config/config.yaml"], {})["saliency"]


@pytest.mark.parametrize("name", GENERATIONS)
def test_every_key_is_imported_or_named(tmp_path, caplog, name):
    conf = GENERATIONS[name]
    path = write(tmp_path, conf)
    with caplog.at_level(logging.WARNING):
        section = import_config(path)
    record = read_config(path)
    [warning] = [r.getMessage() for r in caplog.records]
    keys = set(leaves(conf))
    handled = {**record.imported, **record.ignored}
    for key in keys:
        assert any(key == k or key.startswith(k + ".") for k in handled), f"{key} lost"
    for key in record.ignored:
        assert key in warning
    for key in record.imported:
        assert any(leaf == key or leaf.startswith(key + ".") for leaf in keys)
        assert key not in record.ignored
    valid_config(section)  # the schema and cross-checks take what the importer wrote


def test_pr_head_config_trains_nine_tasks_then_generalizes_to_ikn(tmp_path):
    section = valid_config(import_config(write(tmp_path, kds.G3)))
    assert section["tasks"] == kds.TEN
    assert section["train"]["tasks"] == [t for t in kds.TEN if t != "IKN"]
    generalization = section["train_generalization_task"]
    assert generalization["tasks"] == ["IKN"]
    assert generalization["train_images"] == 10 and generalization["val_images"] == 250
    assert generalization["freeze_hnet_shared_epochs"] == 5
    assert generalization["freeze_encoder_epochs"] == 100
    assert generalization["batches_per_task_train"] is None  # every image, as the original
    assert section["skip"] == ["pretrain_weights", "pretrain_one_task", "train_catchup"]
    assert section["test"]["tasks"] == section["run"]["tasks"] == section["eval"]["tasks"]
    model = section["model"]
    assert model["use_eval_mode"] is False and model["decoder_activation"] == "relu6"
    assert model["hnet"]["type"] == "chunked" and model["generated"] == ["decoder"]
    assert section["preprocess"]["histogram_matching"] == "none"
    assert "histogram_matching_image_path" not in section["preprocess"]
    grid = [["train/imgs_per_task_train", [1000, 2000]],
            ["model/mnet/decoder_non_linearity", ["ReLU", "LeakyReLU"]]]  # fmt: skip
    write(tmp_path, grid, "gridsearch.json")
    assert import_config(tmp_path / "config.json", tmp_path / "gridsearch.json")["grid"] == [
        ["train/batches_per_task_train", [250, 500]],
        ["model/decoder_activation", ["relu", "leaky_relu"]],
    ]


def test_top_level_tasks_are_the_tasks_and_pretrain_one_task_uses_the_first(tmp_path):
    section = valid_config(import_config(write(tmp_path, kds.G2_FULL)))
    assert section["tasks"] == ["AIM", "SUN"]
    assert section["pretrain_one_task"]["task"] == "AIM"
    assert section["pretrain_one_task"]["batches_per_task_train"] is None
    assert section["skip"] == [
        "pretrain_weights", "pretrain_one_task", "train_catchup", "train_generalization_task"
    ]  # fmt: skip
    assert section["weights_dir"] == "./models/"
    model = section["model"]
    assert model["hnet"]["type"] == "single_layer"  # the old top-level `type: full`
    # No encoder_type: the encoder is generated from mobilenet_cutoff on, as upstream.
    assert model["generated"] == [f"encoder.{i}" for i in range(19)] + ["decoder"]
    g2 = valid_config(import_config(write(tmp_path, kds.G2)))
    assert g2["tasks"] == kds.FOUR and g2["test"]["tasks"] is None  # the test uses them all


def test_multimodel_configs_keep_flat_model_keys_and_stage_task_lists(tmp_path):
    flat = valid_config(import_config(write(tmp_path, kds.G1_FLAT)))
    assert flat["tasks"] == kds.SEVEN and flat["train"]["tasks"] == kds.SEVEN
    assert flat["model"]["hnet"] | {"type": "chunked"} == {
        "type": "chunked", "task_embedding": 16, "chunk_size": 524288, "chunk_embedding": 8,
        "hidden": [128, 128, 64],
    }  # fmt: skip
    assert flat["model"]["decoder_activation"] == "relu"  # F.relu before the key existed
    assert flat["test"]["batch_size"] == 1
    write(tmp_path, kds.G1_GRID, "gridsearch.json")
    nested = import_config(write(tmp_path, kds.G1), tmp_path / "gridsearch.json")
    assert nested["grid"] == [["model/hnet/hidden", [[128, 128, 128], [512, 512, 512, 512]]]]
    assert nested["pretrain_weights"]["tasks"] == kds.FOUR
    assert nested["pretrain_weights"]["loss"] == "mse"
    assert "pretrain_weights" not in valid_config(nested)["skip"]  # the old `pretrain` section


def test_other_hypernetworks_and_part_files(tmp_path):
    model = copy.deepcopy(kds.SIMPLE_FULL)
    model["hnet"]["task_cnt"] = 10  # the part file's 4 is for four tasks
    simple = valid_config(import_config(write(tmp_path, kds.G3 | {"model": model})))
    assert simple["model"]["hnet"]["type"] == "simple"
    assert simple["model"]["hnet"]["hidden"] == [512, 512, 512, 10]
    assert simple["model"]["generated"][0] == "encoder.0"  # cwl from cutoff 0
    single = kds.G3 | {"model": kds.SINGLE_LAYER_DECODER, "all_tasks": kds.FOUR}
    single = single | {"train": kds.G3["train"] | {"tasks": kds.FOUR[:3]}}
    single |= {k: {"tasks": kds.FOUR} for k in ("test", "run", "eval")}
    single["train_generalization_task"] = kds.G3["train_generalization_task"]
    section = valid_config(import_config(write(tmp_path, single)))
    assert section["model"]["hnet"]["type"] == "single_layer"
    assert section["model"]["use_eval_mode"] is True
    parts = kds.G3 | {"pretrain_one_task": kds.PRETRAIN_ONE_TASK}
    section = import_config(write(tmp_path, parts))
    assert section["pretrain_one_task"]["task"] == "UniSal"  # its first task
    assert "pretrain_one_task" not in section["skip"]


def test_no_op_choices_import_as_none_with_a_note(tmp_path, caplog):
    conf = copy.deepcopy(kds.G3)
    conf["preprocess"]["histogram_matching"]["default"] = "image-based"
    conf["postprocess"]["do_smoothing"]["default"] = "custom"
    with caplog.at_level(logging.WARNING):
        section = import_config(write(tmp_path, conf))
    assert section["preprocess"]["histogram_matching"] == "none"
    assert section["postprocess"]["do_smoothing"] == "custom"
    assert "preprocess.histogram_matching=image-based" in caplog.text


def test_skip_names_without_a_workflow_stage_are_named(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        section = import_config(write(tmp_path, kds.G3 | {"skip": ["train", "test", "tables"]}))
    assert section["skip"] == ["pretrain_weights", "pretrain_one_task", "train_catchup", "train"]
    assert "skip[test]" in caplog.text and "skip[tables]" in caplog.text


@pytest.mark.parametrize(
    "conf, grid, problem",
    [
        ({"all_tasks": ["A"]}, None, "no `model` section"),
        ({"experiment_parameters": {"models": "aim"}}, None, "single-model toolbox config"),
        ({"pretrain_one_task": kds.PRETRAIN_ONE_TASK}, None, "fragment .pretrain_one_task"),
        ({"model": kds.SIMPLE_FULL}, None, r"fragment \(model\)"),
        ({"model": {"mnet": {"encoder_type": "vgg"}}, "tasks": ["A"]}, None, "'vgg' unknown"),
        (kds.G3 | {"type": "contextmod"}, None, "type 'contextmod'"),
        ({"model": {"hnet": {"type": "hyper"}}, "tasks": ["A"]}, None, "model.hnet.type"),
        ({"model": {"mnet": {"type": "cm"}}, "tasks": ["A"]}, None, "only 'original'"),
        ({"model": {"hnet": {"task_cnt": 1}}, "tasks": ["A", "B"]}, None, "fewer than the 2"),
        ({"model": {}, "tasks": ["A"], "train": {"loss": "Focal"}}, None, "train.loss"),
        ({"model": {}, "tasks": ["A"], "skip": "train"}, None, "`skip` must be a list"),
        ({"model": {}, "tasks": ["A"]}, [["train/momentum", [0.9]]], "has no counterpart"),
        ({"model": {}, "tasks": ["A"]}, [["train/input_images_train", ["x"]]], "data folders"),
        ({"model": {}, "tasks": ["A"]}, {"train/epochs": [1]}, "expected"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, conf, grid, problem):
    path = write(tmp_path, conf)
    grid_path = write(tmp_path, grid, "gridsearch.json") if grid is not None else None
    with pytest.raises(BadInputError, match=problem):
        import_config(path, grid_path)


def test_paper_config_requires_the_imagenet_weights_by_key():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    config.update(paper)
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    files = ["config/config.yaml", "config/paper.yaml"]
    with pytest.raises(ConfigError) as error:  # the start-up check of the active studies
        startup.check(checked(config, schema, files, {}), files, {})
    [line] = [line for line in str(error.value).splitlines() if "saliency.model" in line]
    assert line.startswith("config/paper.yaml: saliency.model.weights: real data needs")


def _generalizing(stage: dict) -> dict:
    """The demo config with a train_generalization_task section `stage`."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["saliency"]["skip"] = ["pretrain_weights"]
    config["saliency"]["train_generalization_task"] = stage
    return config


def test_image_limits_smaller_than_the_batch_budget_are_a_config_error():
    stage = {"tasks": ["edge_density"], "batch_size": 4, "train_images": 6, "val_images": 4}
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    with pytest.raises(ConfigError) as error:
        checked(_generalizing(stage), schema, ["config/config.yaml"], {})
    lines = [line for line in str(error.value).splitlines() if "train_generalization_task" in line]
    assert [line.split(": ")[1] for line in lines] == [
        "saliency.train_generalization_task.batches_per_task_train",
        "saliency.train_generalization_task.batches_per_task_val",
    ]
    assert "375 batches of 4 need more than the 6 train_images" in lines[0]
    every_image = {"batches_per_task_train": None, "batches_per_task_val": None}
    checked(_generalizing(stage | every_image), schema, ["config/config.yaml"], {})
