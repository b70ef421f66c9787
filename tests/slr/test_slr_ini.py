"""`visionflow slr import-config`: original SLR .ini files as `slr: runs:` config entries."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from visionflow.cli import main
from visionflow.experiments.slr.importer import import_config, parse_run_path
from visionflow.io import BadInputError

BASE = {  # S3D_004.ini without its early stopping
    "training": "batch_size = 8\nupdate_per_step = 8\nmax_epoch = 200",
    "optimizer": "eps = 1e-8\nbackbone_init_lr = 1e-5\nbackbone_weight_decay = 1e-4\n"
    "classifier_init_lr = 1e-3\nclassifier_weight_decay = 1e-4",
    "model_params": "drop_p = 0.5",
    "scheduler": "tmax = 100\neta_min = 0",  # legacy: no type
    "data": "num_frames = 32\nframe_size = 224",
}
OPTIMIZER = {"eps": 1e-8, "backbone_init_lr": 1e-5, "backbone_weight_decay": 1e-4}
OPTIMIZER |= {"classifier_init_lr": 1e-3, "classifier_weight_decay": 1e-4}
ENTRY = {
    "model": "S3D",
    "split": "asl100",
    "exp": 4,
    "training": {"batch_size": 8, "update_per_step": 8, "max_epoch": 200},
    "optimizer": OPTIMIZER,
    "model_params": {"drop_p": 0.5},
    "scheduler": {"type": "CosineAnnealingLR", "tmax": 100, "eta_min": 0.0},
    "data": {"num_frames": 32, "frame_size": 224},
    "early_stopping": None,
}
STOP = "{'metric' : ('val','loss'), 'mode': 'min', 'patience': 50, 'min_delta': 0.01}"
LEGACY = BASE["training"] + f"\nearly_stopping = {STOP}"
WARM = "\nstart_factor = 0.1\nend_factor = 1\nwarmup_epochs = 5"
WARM_ENTRY = {"start_factor": 0.1, "end_factor": 1.0, "warmup_epochs": 5}
PLATEAU = "type = 'ReduceLROnPlateau'\nmode = 'min'\nfactor = 0.1\npatience = 10\n"
PLATEAU += "threshold = 1e-4\nthreshold_mode = 'rel'\ncooldown = 0\nmin_lr = 0"
PLATEAU_ENTRY = {"type": "ReduceLROnPlateau", "mode": "min", "factor": 0.1, "patience": 10}
PLATEAU_ENTRY |= {"threshold": 1e-4, "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0}
RESTARTS = "type = 'CosineAnnealingWarmRestarts'\nt0 = {}\ntmult = {}\neta_min = 0"
RESTARTS_ENTRY = {"type": "CosineAnnealingWarmRestarts", "t0": 10, "tmult": 2, "eta_min": 0.0}
TYPES = "CosineAnnealingLR, CosineAnnealingWarmRestarts, ReduceLROnPlateau, WarmOnly"
NAMES = "one of S3D, R3D_18, R(2+1)D_18, Swin3D_T, Swin3D_S, Swin3D_B, MViTv2_S, MViTv1_B"
CANNOT = "cannot tell {} from the path (not configfiles/<split>/<MODEL>/expNNN.ini or "
CANNOT += "configfiles/<split>/<MODEL>_NNN.ini); pass {}"


def ini(tmp_path: Path, rel: str = "asl100/S3D_004.ini", **sections: str | None) -> Path:
    """BASE with `sections` replaced (None drops one), written at configfiles/<rel>."""
    path = tmp_path / "configfiles" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = {**BASE, **sections}
    path.write_text("".join(f"[{n}]\n{b}\n\n" for n, b in merged.items() if b is not None))
    return path


def check(value: Any, expected: Any) -> None:
    """Equal, with the same key order and the same int/float types throughout."""
    assert value == expected
    assert repr(value) == repr(expected)


def raised(path: Path, **kwargs: Any) -> str:
    """The problem import_config reports for `path`."""
    with pytest.raises(BadInputError) as caught:
        import_config(path, **kwargs)
    assert str(caught.value) == f"{path}: {caught.value.problem}"
    return caught.value.problem


def test_legacy_file_keeps_early_stopping_and_means_cosine(tmp_path):
    stop = {"monitor": "val/loss", "mode": "min", "patience": 50, "min_delta": 0.01}
    check(import_config(ini(tmp_path, training=LEGACY)), ENTRY | {"early_stopping": stop})


@pytest.mark.parametrize(
    ("metric", "monitor"), [("('val', 'acc')", "val/top1"), ("('train','loss')", "train/loss")]
)
def test_newer_file_with_early_stopping_section(tmp_path, metric, monitor):
    stopping = f"metric = {metric}\nmode = 'max'\npatience = 15"  # min_delta is optional
    entry = import_config(ini(tmp_path, "asl300/Swin3D_T/exp012.ini", early_stopping=stopping))
    identity = {"model": "Swin3D_T", "split": "asl300", "exp": 12}
    stop = {"monitor": monitor, "mode": "max", "patience": 15}
    check(entry, ENTRY | identity | {"early_stopping": stop})


@pytest.mark.parametrize(
    ("metric", "min_delta"), [("('val','acc')", 0.005), ("('val','loss')", 0.5)]
)
def test_accuracy_min_delta_is_converted_from_percent(tmp_path, metric, min_delta):
    stopping = f"metric = {metric}\nmode = 'max'\npatience = 15\nmin_delta = 0.5"
    entry = import_config(ini(tmp_path, early_stopping=stopping))
    check(entry["early_stopping"]["min_delta"], min_delta)  # the original compares percent


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "type = 'CosineAnnealingLR'\ntmax = 50\neta_min = 1e-6" + WARM,
            {"type": "CosineAnnealingLR", "tmax": 50, "eta_min": 1e-6} | WARM_ENTRY,
        ),
        (RESTARTS.format(10, 2), RESTARTS_ENTRY),
        (RESTARTS.format(10, 2) + WARM, RESTARTS_ENTRY | WARM_ENTRY),
        (PLATEAU + "\neps = 1e-6", PLATEAU_ENTRY | {"eps": 1e-6}),
        (PLATEAU + WARM, PLATEAU_ENTRY | WARM_ENTRY),  # eps is optional
        ("type = WarmOnly" + WARM, {"type": "WarmOnly"} | WARM_ENTRY),  # unquoted string
    ],
)
def test_scheduler_types(tmp_path, section, expected):
    check(import_config(ini(tmp_path, scheduler=section))["scheduler"], expected)


@pytest.mark.parametrize("model_params", [None, "drop_p = None", ""])
def test_no_dropout_and_no_scheduler(tmp_path, model_params):
    entry = import_config(ini(tmp_path, model_params=model_params, scheduler=None))
    check(entry, ENTRY | {"model_params": {"drop_p": None}, "scheduler": None})


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("configfiles/asl100/S3D/exp004.ini", ("S3D", "asl100", 4)),
        ("configfiles/asl2000/R(2+1)D_18_008.ini", ("R(2+1)D_18", "asl2000", 8)),
        ("configfiles/generic/hframe_hwd1.ini", (None, None, None)),
        ("configfiles/debug/S3D.ini", (None, None, None)),
    ],
)
def test_parse_run_path(rel, expected):
    assert parse_run_path(Path(rel)) == expected


def test_arguments_override_the_path(tmp_path):
    entry = import_config(ini(tmp_path), model="MViTv2_S", exp=7)
    check(entry, ENTRY | {"model": "MViTv2_S", "exp": 7})
    entry = import_config(ini(tmp_path, "generic/hframe.ini"), "R3D_18", "asl2000", 0)
    check(entry, ENTRY | {"model": "R3D_18", "split": "asl2000", "exp": 0})


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        ({"optimizer": None}, "missing section [optimizer]"),
        ({"training": "batch_size = 8"}, "missing max_epoch in [training]"),
        (
            {"data": "num_frames = '32'\nframe_size = 224"},
            "[data] num_frames must be an integer, got '32'",
        ),
        (
            {"scheduler": "type = 'StepLR'"},
            f"unknown [scheduler] type 'StepLR'; expected one of {TYPES}",
        ),
        (
            {"scheduler": RESTARTS.format(10, 1.5)},
            "[scheduler] tmult must be an integer >= 1, got 1.5",
        ),
        ({"scheduler": RESTARTS.format(0, 1)}, "[scheduler] t0 must be an integer >= 1, got 0"),
        (
            {"scheduler": "type = 'WarmOnly'"},
            "[scheduler] WarmOnly needs the warm-up keys start_factor, end_factor, warmup_epochs",
        ),
        (
            {"scheduler": BASE["scheduler"] + "\nstart_factor = 0.1"},
            "missing end_factor in [scheduler]",
        ),
        (
            {"early_stopping": "metric = ('test', 'loss')\nmode = 'min'\npatience = 1"},
            "[early_stopping] metric must be ('train'|'val', 'loss'|'acc'), got ('test', 'loss')",
        ),
        (
            {"training": LEGACY.replace(", 'patience': 50", "")},
            "missing patience in [training] early_stopping",
        ),
        (
            {"training": LEGACY, "early_stopping": "patience = 1"},
            "early stopping is set in both [early_stopping] and [training] early_stopping",
        ),
    ],
)
def test_bad_settings(tmp_path, sections, problem):
    assert raised(ini(tmp_path, **sections)) == problem


@pytest.mark.parametrize(
    ("rel", "kwargs", "problem"),
    [
        ("asl100/Resnet3D_18_001.ini", {}, f"unknown model 'Resnet3D_18'; pass --model, {NAMES}"),
        ("generic/S3D/exp003.ini", {}, "split 'generic' is not asl<N>; pass --split"),
        ("asl100/S3D_004.ini", {"split": "ASL100"}, "split 'ASL100' is not asl<N>; pass --split"),
        ("generic/hframe.ini", {}, CANNOT.format("model, split, exp", "--model, --split, --exp")),
        ("generic/hframe.ini", {"model": "S3D"}, CANNOT.format("split, exp", "--split, --exp")),
    ],
)
def test_bad_identity(tmp_path, rel, kwargs, problem):
    assert raised(ini(tmp_path, rel), **kwargs) == problem


def test_missing_or_unparseable_file(tmp_path):
    assert raised(tmp_path / "S3D_004.ini") == "no such file"
    path = ini(tmp_path)
    path.write_text("batch_size = 8\n")
    assert raised(path).startswith("not an .ini file: File contains no section headers.")


def test_unused_settings_are_reported(tmp_path, caplog):
    data = BASE["data"] + "\nspatial_aug = 'SVHN'"
    path = ini(tmp_path, scheduler=RESTARTS.format(10, 2) + "\ntmax = 9", data=data, augs="x = 1")
    check(import_config(path)["scheduler"], RESTARTS_ENTRY)
    dropped = "[augs], [scheduler] tmax, [data] spatial_aug"
    assert caplog.messages == [f"{path}: dropping {dropped} (visionflow does not use them here)"]


@pytest.mark.parametrize("scheduler", [BASE["scheduler"], PLATEAU])
def test_entry_yaml_round_trips(tmp_path, scheduler, capsys):
    path = ini(tmp_path, model_params=None, scheduler=scheduler, training=LEGACY)
    entry = import_config(path)
    assert main(["slr", "import-config", str(path), "--out", str(tmp_path / "e.yaml")]) == 0
    text = capsys.readouterr().out
    assert (tmp_path / "e.yaml").read_text() == text
    assert text.startswith(
        "- model: S3D\n  split: asl100\n  exp: 4\n  training:\n    batch_size: 8\n"
    )
    check(yaml.safe_load(text), [entry])
