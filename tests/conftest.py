"""Session fixtures: small generated datasets and their prepared stores, a trained CORnet."""

from pathlib import Path

import pytest
from helpers import snakemake, tiny_settings, tiny_workflow

from visionflow.data.miniimagenet import prepare
from visionflow.demo.miniimagenet import generate


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """3 classes, 16 train and 4 val images each, stored at short side 40."""
    root = tmp_path_factory.mktemp("raw") / "miniimagenet"
    generate(root, n_classes=3, train_per_class=16, val_per_class=4, seed=0)
    out = tmp_path_factory.mktemp("prepared")
    prepare(root, out, short_side=40)
    return out


@pytest.fixture(scope="session")
def cornet_checkpoint(tiny_store, tmp_path_factory) -> Path:
    """best.ckpt of a one-epoch tiny CORnet run (outer_times 2) on `tiny_store`."""
    from visionflow.experiments.cornet.training import train

    run_dir = tmp_path_factory.mktemp("cornet") / "outer2"
    train(tiny_store, run_dir, tiny_settings(epochs=1))
    return run_dir / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="session")
def wlasl_raw(tmp_path_factory) -> Path:
    """4 demo glosses, 4 train, 2 val and 2 test videos each (with the demo's broken ones)."""
    from visionflow.demo.wlasl import generate

    root = tmp_path_factory.mktemp("raw") / "wlasl"
    generate(root, 4, {"train": 4, "val": 2, "test": 2}, seed=0)
    return root


@pytest.fixture(scope="session")
def wlasl_store(wlasl_raw, tmp_path_factory) -> Path:
    """`wlasl_raw` prepared as split asl4 at 32 x 32 pixels."""
    from visionflow.data.wlasl import prepare

    out = tmp_path_factory.mktemp("prepared") / "asl4"
    prepare(wlasl_raw / "WLASL_v0.3.json", wlasl_raw / "videos", out, "asl4", 32)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny workflow with every target built once (`snakemake all`, about 15 minutes on
    2 cores). Tests that change anything work on a copy (`helpers.copy_run`)."""
    workdir = tiny_workflow(tmp_path_factory.mktemp("tiny-run"))
    snakemake(workdir, "all")
    return workdir


@pytest.fixture(scope="session")
def jacquard_store(tmp_path_factory) -> Path:
    """Five classes, two train and one test object of one view each, stored at 224."""
    from visionflow.data.jacquard.prepare import prepare
    from visionflow.demo.jacquard import generate

    raw = tmp_path_factory.mktemp("raw") / "jacquard"
    generate(raw, objects_per_class=3, views_per_object=1, size=96, seed=0)
    out = tmp_path_factory.mktemp("prepared") / "jacquard"
    prepare(raw, out, size=224)
    return out


@pytest.fixture(scope="session")
def original_weights(tmp_path_factory) -> Path:
    """A NeuroVis CLS weights file laid out as the original's shipped .pth."""
    from helpers import original_neurovis_weights

    folder = tmp_path_factory.mktemp("trained-models")
    return original_neurovis_weights(folder / "alexnetMap_cls_top5_v3.2.2_epoch150.pth")
