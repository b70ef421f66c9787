"""The import of every generation of the original obdb settings JSON: each key at every
level imported or named in a warning; HPO result files refused as settings, read as such."""

import copy
import json
import logging

import pytest
import yaml
from helpers import REPO
from snakemake.utils import validate

from visionflow.cli import main
from visionflow.experiments.detection.importer import import_config, read_settings
from visionflow.io import BadInputError

FALSE_SETTINGS = dict.fromkeys(("gamma", "lr", "momentum", "step_size", "weight_decay"), False)
README_OPTIMAL = {"gamma": 0.9, "lr": 0.01, "momentum": 0.1, "step_size": 5,
                  "weight_decay": 0.0007004410071105531}  # fmt: skip
RESNET50_OPTIMAL = {"gamma": 0.01, "lr": 0.000199607945, "momentum": 0.9, "step_size": 1,
                    "weight_decay": 1e-05}  # fmt: skip
RANGES = {"lr": [1e-07, 0.01], "weight_decay": [1e-05, 0.9], "momentum": [0.1, 0.9],
          "step_size": [1, 5], "gamma": [0.01, 0.9]}  # fmt: skip
SEG_TASKS = ["Seg FieldData 20200520145736 3R GH070072", "Seg FieldData 20200520145736 1L GH020068"]
GT_TASKS = ["gt_train_FieldData_20200508122912_3R_GH060070",
            "gt_val_FieldData_20200515101008_1L_GH060067"]  # fmt: skip
CLASSES = ["Black bindweed", "Cleavers", "Unknown weed"]


def seed_file():
    """3d08cf3 code/settings_file_gt_train_val.json, what the seed runner read (lists cut)."""
    return {
        "full_hd": 1, "variants": ["resnet18"],
        "retina_net": {"run_hpo": 1, "optimal_hpo_settings": dict(FALSE_SETTINGS)},
        "resnet18": {"run_hpo": 0, "optimal_hpo_settings": dict(README_OPTIMAL)},
        "resnet34": {"run_hpo": 1},
        "resnet50": {"run_hpo": 1, "optimal_hpo_settings": dict(RESNET50_OPTIMAL)},
        "resnet101": {"run_hpo": 1},
        "max_train_epochs": 10000, "max_plateau_count": 1000, "search_epochs": 30,
        "num_initial_data_points": "infer", "max_num_trials": 32,
        "annotations_list": list(SEG_TASKS), "annotations_list_gt": list(GT_TASKS),
        "first_year_tasks": ["FieldData_20190604131554_1L_GH040045"],
        "save_dir": "/train/pickled_weed", "writer_dir": "/train/runs", "dataset_dir": "/weed_data",
        "sherpa_parameters": copy.deepcopy(RANGES),
    }  # fmt: skip


def generations():
    """Every generation of the file, named by the commit that made it (see the audit)."""
    files = {"3d08cf3 settings_file_gt_train_val": seed_file()}
    readme = seed_file()
    for key in ("annotations_list_gt", "first_year_tasks"):
        del readme[key]
    files["3d08cf3 settings_file"] = readme
    local = {k: v for k, v in seed_file().items() if k not in ("full_hd", "max_train_epochs",
             "annotations_list_gt", "first_year_tasks", "retina_net", "resnet101")}  # fmt: skip
    local |= {"variants": ["resnet18", "resnet34"], "num_initial_data_points": 5,
              "resnet50": {"run_hpo": 1}}  # fmt: skip
    files["3d08cf3 settings_file_local"] = local
    g = seed_file() | {"fake_dataset_len": 4}
    files["a45265b"] = copy.deepcopy(g)
    for name, flag in (("retina_net", 0), ("resnet18", 1), ("resnet34", 0), ("resnet50", 0),
                       ("resnet101", 0)):  # fmt: skip
        g[name]["use_settings_file"] = flag
    g["default_class_map"] = list(CLASSES)
    files["cf5529c"] = copy.deepcopy(g)
    g |= {"metrics_confidence_range": [0.5, 0.6, 0.7, 0.8, 0.9],
          "metrics_iou_range": [0.5, 0.6, 0.7, 0.8, 0.9], "metrics_confidence_range_small": [0.7],
          "metrics_iou_range_small": [0.5], "confidence_threshold_save_img": 0.7}  # fmt: skip
    files["06cb9a2"] = copy.deepcopy(g)
    g["auto_annotation_class_map"] = list(CLASSES)
    files["de37a38"] = copy.deepcopy(g)
    g |= {"full_hd": 0, "annotations_list": [t.replace(" ", "_") for t in SEG_TASKS],
          "default_class_map": ["Background", *CLASSES],
          "auto_annotation_class_map": ["Background", *CLASSES],
          "excluded_frames": ["FieldData_20200520145736_3R/GH070072/frame_000120.png"]}  # fmt: skip
    files["f335d57"] = copy.deepcopy(g)
    g |= {"first_year_class_map": ["Black bindweed", "Charlock"],
          "wasp_seg_class_map": ["crop", "soil", "thistle"]}  # fmt: skip
    files["03a77e7"] = copy.deepcopy(g)
    g["hpo_parameters"] = g.pop("sherpa_parameters")
    g |= {"full_hd": 1, "fake_dataset_len": 10, "hpo_timeout": 6000}
    files["b9e6ebe"] = copy.deepcopy(g)
    g["annotations_list_4k"] = g.pop("annotations_list")
    g["annotations_list_full_hd"] = g.pop("annotations_list_gt")
    g["fake_dataset_len"] = 640
    files["5cdc4fd settings_file_train_val"] = copy.deepcopy(g)
    g |= {"start_on_checkpoint": 0, "variants": ["resnet18_weeds_pretrained"],
          "first_year_class_map": ["Background", "Black bindweed", "Charlock"],
          "excluded_frames": []}  # fmt: skip
    g["resnet18_weeds_pretrained"] = {
        "run_hpo": 0, "use_settings_file": 1, "optimal_hpo_settings": dict(README_OPTIMAL),
        "pretrained_model_path": "/train/models/resnet18_weeds_pretrained_model.pth"}  # fmt: skip
    files["358c2f1 settings_file_train_val"] = g
    return files


GENERATIONS = generations()
SHERPA_RESULT = {"Trial-ID": 2, "Iteration": 1.0, "gamma": 0.18572298418774705,
                 "lr": 0.00031633897571227697, "momentum": 0.3200412859942594,
                 "step_size": 2.0, "weight_decay": 0.014100877078769468,
                 "Objective": 0.42846822450237887}  # fmt: skip
OPTUNA_RESULT = {"best_value": 0.5994721546769142, "gamma": 0.22991684840056392,
                 "lr": 0.004542282373521734, "momentum": 0.15865578116277368, "step_size": 5,
                 "weight_decay": 0.0002979956658867173}  # fmt: skip


def key_paths(value, prefix=""):
    paths = set()
    for key, child in value.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        if isinstance(child, dict):
            paths |= key_paths(child, path)
    return paths


def write(tmp_path, settings, name="settings.json"):
    path = tmp_path / name
    path.write_text(json.dumps(settings, indent=1))
    return path


@pytest.mark.parametrize("generation", list(GENERATIONS))
def test_every_key_of_every_generation_is_imported_or_named(tmp_path, generation, caplog):
    settings = GENERATIONS[generation]
    path = write(tmp_path, settings)
    with caplog.at_level(logging.WARNING):
        sections, ledger = read_settings(path)
    assert set(ledger.imported) | set(ledger.dropped) == key_paths(settings)
    assert not set(ledger.imported) & set(ledger.dropped)
    unknown = [k for k, why in ledger.dropped.items() if why.startswith("not a key of any")]
    assert unknown == []
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name, values in sections.items():
        config[name].update(values)
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        import_config(path)
    named = {key for m in caplog.messages if "; not imported: " in m
             for key in m.split("; not imported: ")[1].split(", ")}  # fmt: skip
    for key in ledger.dropped:  # every key not imported is named, or the object holding it
        assert any(key == n or key.startswith(f"{n}.") for n in named), key


def test_the_task_list_is_the_one_the_original_trained_on(tmp_path):
    seed = read_settings(write(tmp_path, GENERATIONS["3d08cf3 settings_file_gt_train_val"]))
    assert seed[0]["cvat"]["annotations_list"] == GT_TASKS  # not the README's Seg tasks
    assert "another task list" in seed[1].dropped["annotations_list"]
    newest = write(tmp_path, GENERATIONS["358c2f1 settings_file_train_val"])
    assert read_settings(newest)[0]["cvat"]["annotations_list"] == GT_TASKS
    four_k = read_settings(newest, task_list="annotations_list_4k")[0]["cvat"]
    assert four_k["annotations_list"] == [t.replace(" ", "_") for t in SEG_TASKS]
    with pytest.raises(BadInputError, match="no task list 'annotations_list_gt'"):
        read_settings(newest, task_list="annotations_list_gt")
    readme = read_settings(write(tmp_path, GENERATIONS["3d08cf3 settings_file"]))[0]
    assert readme["cvat"]["annotations_list"] == SEG_TASKS


def test_newest_file_becomes_labels_thresholds_crop_and_search(tmp_path):
    newest = write(tmp_path, GENERATIONS["358c2f1 settings_file_train_val"])
    sections, ledger = read_settings(newest)
    cvat, detection = sections["cvat"], sections["detection"]
    assert cvat == {"annotations_list": GT_TASKS, "root": "/weed_data", "labels": CLASSES,
                    "crop_4k": True}  # fmt: skip
    assert detection["score_thresholds"] == detection["iou_thresholds"] == [0.5, 0.6, 0.7, 0.8, 0.9]
    assert detection["hpo"] == {"search_epochs": 30, "max_num_trials": 32,
                                "num_initial_data_points": 6, "parameters": RANGES}  # fmt: skip
    [variant] = detection["variants"]
    assert variant["backbone"] == "resnet18" and variant["optimal_hpo_settings"]["lr"] == 0.01
    assert "HPO result" in ledger.dropped["resnet18_weeds_pretrained.use_settings_file"]
    for unlisted in ("retina_net", "resnet18", "resnet34", "resnet50", "resnet101"):
        assert "not in `variants`" in ledger.dropped[unlisted]


@pytest.mark.parametrize("result", [SHERPA_RESULT, OPTUNA_RESULT], ids=["sherpa", "optuna"])
def test_hpo_result_files_are_refused_as_settings_and_read_as_results(tmp_path, result):
    path = write(tmp_path, result, "resnet18_settings.json")
    kind = "Sherpa" if "Objective" in result else "Optuna"
    with pytest.raises(BadInputError, match=f"an HPO result \\({kind}\\), not a settings file"):
        import_config(path)
    newest = write(tmp_path, GENERATIONS["358c2f1 settings_file_train_val"])
    sections, ledger = read_settings(newest, path)
    [variant] = sections["detection"]["variants"]
    expected = {k: result[k] for k in ("gamma", "lr", "momentum", "weight_decay")}
    assert variant["optimal_hpo_settings"] == expected | {"step_size": round(result["step_size"])}
    assert "resnet18_weeds_pretrained.use_settings_file" in ledger.imported
    seed = read_settings(write(tmp_path, seed_file(), "seed.json"), path)[0]
    assert seed["detection"]["variants"][0]["optimal_hpo_settings"]["lr"] == result["lr"]


def test_seed_file_without_its_hpo_result_warns_what_the_original_trained_with(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        sections = import_config(write(tmp_path, seed_file()))
    assert "/train/resnet18_settings.json" in caplog.text
    assert sections["detection"]["variants"][0]["optimal_hpo_settings"]["lr"] == 0.01
    assert "no leading Background" not in caplog.text
    with caplog.at_level(logging.WARNING):
        import_config(write(tmp_path, GENERATIONS["cf5529c"], "cf.json"))
    assert "no leading Background" in caplog.text


def test_retina_net_imports_as_the_retinanet_detector(tmp_path):
    settings = seed_file() | {"variants": ["retina_net", "resnet18"]}
    settings["retina_net"] = {"run_hpo": 1, "optimal_hpo_settings": dict(FALSE_SETTINGS)}
    sections, ledger = read_settings(write(tmp_path, settings))
    assert sections["detection"]["variants"][0] == {"name": "retina_net", "run_hpo": True,
                                                    "backbone": "retinanet_resnet50"}  # fmt: skip
    assert "placeholders" in ledger.dropped["retina_net.optimal_hpo_settings.lr"]


@pytest.mark.parametrize(
    "settings, problem",
    [
        ({"variants": "resnet18"}, "no `variants` list"),
        ({"variants": ["resnet18"]}, "has no entry"),
        ({"variants": ["vgg16"], "vgg16": {"run_hpo": 1}}, "no backbone"),
        ({"variants": ["resnet18"], "resnet18": {"run_hpo": 0}}, "lacks some of"),
        ({"variants": ["resnet18"], "resnet18": {"run_hpo": 1},
          "sherpa_parameters": {"lr": [0.1, 1]}}, "ranges lack"),
        ({"variants": [], "annotations_list_gt": "gt_train_x"}, "must be a list of names"),
        ({"variants": [], "metrics_iou_range": [0.5, "high"]}, "metrics_iou_range must be"),
        ({"variants": ["resnet18"], "resnet18": 5}, "has no entry"),
        ({"variants": [["resnet18"]]}, "variants must be a list of names"),
        ({"variants": [], "hpo_parameters": 3}, "hpo_parameters must be an object"),
        ({"variants": ["resnet18"], "resnet18": {"run_hpo": 1, "optimal_hpo_settings": [1]}},
         "resnet18.optimal_hpo_settings must be an object"),
    ],
)  # fmt: skip
def test_bad_settings_files_name_the_file_and_problem(tmp_path, settings, problem):
    path = write(tmp_path, settings)
    with pytest.raises(BadInputError, match=problem) as error:
        import_config(path)
    assert error.value.path == str(path)


def test_import_config_command_writes_yaml_and_reports_bad_files(tmp_path, capsys):
    path = write(tmp_path, GENERATIONS["358c2f1 settings_file_train_val"], "settings_file.json")
    result = write(tmp_path, OPTUNA_RESULT, "resnet18_weeds_pretrained_settings.json")
    out = tmp_path / "d.yaml"
    args = ["detection", "import-config", str(path), "--hpo-result", str(result), "--out", str(out)]
    assert main(args) == 0
    written = yaml.safe_load(out.read_text())
    assert written == yaml.safe_load(capsys.readouterr().out) == import_config(path, result)
    assert written["detection"]["variants"][0]["optimal_hpo_settings"]["lr"] == OPTUNA_RESULT["lr"]
    path.write_text("{not json")
    assert main(["detection", "import-config", str(path)]) == 2
    assert f"{path}: not a readable settings JSON" in capsys.readouterr().err
