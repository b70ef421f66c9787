"""The demo config's saliency model learns maps that follow each image, not one map for all."""

import numpy as np
import pytest
import torch
from helpers import validated

from visionflow.data.saliency import PackedSaliency, prepare
from visionflow.demo.saliency import generate
from visionflow.experiments.saliency.training import load, train
from visionflow.metrics.saliency import cc

TASK = "bright_spots"  # the most image-specific task: a few small dots anywhere


@pytest.fixture
def one_thread():
    """Torch on one thread (seconds on a shared 2-core machine, where two thrash)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_demo_model_maps_match_their_own_image_not_others(tmp_path, one_thread):
    demo = validated()["saliency"]
    generate(tmp_path / "raw", images=24, size=demo["demo"]["size"], seed=0)
    prepare(tmp_path / "raw", tmp_path / "store", demo["size"], (0.7, 0.3, 0.0), seed=0)
    stage = demo["train"] | {"epochs": 18, "batches_per_task_train": None, "decay_epochs": []}
    settings = {"tasks": [TASK], "model": demo["model"], "seed": 0, "train": stage}
    model, _ = load(train(tmp_path / "store", tmp_path / "run", settings, "train"))
    model.eval()
    store = PackedSaliency(tmp_path / "store", "val", [TASK])
    images = torch.stack([store[i][0] for i in range(len(store))])
    targets = torch.stack([store[i][1][TASK] for i in range(len(store))]) / 255
    with torch.no_grad():
        maps = torch.sigmoid(model(0, images))[:, 0]
    # CC of every held-out prediction (rows) with every held-out image's map (columns).
    scores = np.array([[float(cc(p[None], t[None])) for t in targets] for p in maps])
    own, other = np.diag(scores), scores[~np.eye(len(scores), dtype=bool)]
    assert len(own) >= 5
    assert own.mean() > 0.6, own
    assert own.mean() - other.mean() > 0.5, (own.mean(), other.mean())
