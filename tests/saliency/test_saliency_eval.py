"""Test, run and evaluation-set stages of an export: task subsets, per-image rows, processing,
the original's CC/KL files and LaTeX tables."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from visionflow.cli import main
from visionflow.data.saliency import prepare
from visionflow.demo.saliency import generate
from visionflow.experiments.saliency.evaluation import evaluate, read_images, run_maps
from visionflow.experiments.saliency.tables import table_order
from visionflow.experiments.saliency.training import build_model, load, save_export
from visionflow.io import BadInputError
from visionflow.metrics.saliency import cc, kl

TASKS = ["centre_bias", "edge_density"]
MODEL = {"encoder_cutoff": 1, "decoder_channels": [8], "generated": ["decoder"],
         "weights": None, "decoder_activation": "relu6", "use_eval_mode": True,
         "hnet": {"type": "simple", "task_embedding": 4, "hidden": [8]}}  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An untrained export of two tasks, its demo raw data and the store prepared from it."""
    root = tmp_path_factory.mktemp("eval")
    generate(root / "raw", images=12, size=32, seed=0)
    prepare(root / "raw", root / "store", size=(32, 32), splits=(0.5, 0.25, 0.25), seed=0)
    torch.manual_seed(0)
    export = root / "export.pt"
    save_export(export, build_model(MODEL, len(TASKS)), {"tasks": TASKS, "model": MODEL})
    return root, export


def test_task_subsets_per_image_rows_and_post_processing(setup):
    root, export = setup
    table, images = evaluate(export, root / "store", "test", 2, ["edge_density"])
    assert table["task"].tolist() == ["edge_density"] and set(images["task"]) == {"edge_density"}
    assert images["image"].is_unique and len(images) == table["images"].item()
    scaled = {"postprocess": {"histogram_matching": "none", "do_smoothing": "none",
                              "center_prior": "none", "scale_output": "normalized"}}  # fmt: skip
    after, rows = evaluate(export, root / "store", "test", 2, ["edge_density"], scaled)
    # CC is invariant to standardising the prediction, KL is not; BCE uses the raw maps.
    assert after["cc"].item() == pytest.approx(table["cc"].item())
    assert after["bce"].item() == pytest.approx(table["bce"].item())
    assert after["kl"].item() != pytest.approx(table["kl"].item())
    with pytest.raises(BadInputError, match="are not tasks of the export"):
        evaluate(export, root / "store", "test", 2, ["bright_spots"])
    names, pictures = read_images(root / "raw" / "images", (32, 32))
    maps = run_maps(export, pictures[:2], ["centre_bias"])
    assert list(maps) == ["centre_bias"] and maps["centre_bias"].shape == (2, 32, 32)


def test_eval_sets_write_cc_kl_tables(setup, tmp_path):
    root, export = setup
    sets = []
    for name, group, keep in (("SALICON", "natural", 6), ("Pattern", "CAT2000", 4)):
        folder = tmp_path / name
        shutil.copytree(root / "raw", folder)
        for path in sorted((folder / "images").iterdir())[keep:]:
            path.unlink()
        sets.append({"name": name, "group": group, "root": str(folder)})
    settings = {"sets": sets, "tasks": None, "table1": []}
    out = tmp_path / "eval"
    main(["saliency", "eval", "--export", str(export), "--settings", json.dumps(settings),
          "--out", str(out)])  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [
        "Pattern.csv", "SALICON.csv", "table1.tex", "table2.tex"
    ]  # fmt: skip
    salicon = pd.read_csv(out / "SALICON.csv")
    assert list(salicon.columns) == ["Model", "CC_mean", "CC_std", "KL_mean", "KL_std", "images"]
    assert salicon["Model"].tolist() == TASKS
    # By hand: every image with the task's map at its own size, population std.
    model, _ = load(export)
    model.eval()
    values = {"cc": [], "kl": []}
    for image_path in sorted((tmp_path / "SALICON" / "images").iterdir()):
        map_path = tmp_path / "SALICON" / "saliencies" / "centre_bias" / f"{image_path.stem}.png"
        if map_path.exists():
            image = torch.from_numpy(np.asarray(Image.open(image_path).convert("RGB")))
            target = torch.from_numpy(np.asarray(Image.open(map_path)))[None] / 255
            with torch.no_grad():
                pred = torch.sigmoid(model(0, image.permute(2, 0, 1)[None]))[:, 0]
            values["cc"].append(float(cc(pred, target)[0]))
            values["kl"].append(float(kl(pred, target)[0]))
    assert salicon.loc[0, "images"] == len(values["cc"]) > 0
    assert salicon.loc[0, "CC_mean"] == pytest.approx(np.mean(values["cc"]))
    assert salicon.loc[0, "CC_std"] == pytest.approx(np.std(values["cc"]))  # ddof 0
    assert salicon.loc[0, "KL_mean"] == pytest.approx(np.mean(values["kl"]))
    table1 = (out / "table1.tex").read_text()
    assert "\\multicolumn{2}{c}{SALICON} & \\multicolumn{2}{c}{Pattern}" in table1
    row = salicon.set_index("Model").loc["centre_bias"]
    cell = f"\\makebox{{{row['CC_mean']:.2f} $\\pm$ {row['CC_std']:.2f}}}"
    assert any(line.strip().startswith("centre_bias & " + cell) for line in table1.splitlines())
    table2 = (out / "table2.tex").read_text()
    assert "Dataset & Metric & centre_bias & edge_density \\\\" in table2
    assert table2.index("natural \\\\") < table2.index("CAT2000 \\\\")
    assert "\\multirow{2}{*}{Pattern} & CC $\\uparrow$" in table2


def test_tables_follow_the_original_teacher_order():
    assert table_order(["SAM", "AIM", "mine", "UniSal"]) == ["AIM", "UniSal", "SAM", "mine"]
