"""The original run.py's own checkpoint files (`epoch_XX.pth.tar`) through the CLI."""

import json
import logging

import numpy as np
import pytest
import torch

from visionflow.cli import main
from visionflow.data.miniimagenet import PackedImages
from visionflow.engine.classifier import ImageClassifier
from visionflow.experiments.cornet.evaluation import flags_settings, load
from visionflow.experiments.cornet.training import eval_transform
from visionflow.io import BadInputError
from visionflow.models.cornet_zoo import build


def run_py_flags(model: str, outer_times: int = 1, times: int = 5) -> dict:
    """`FLAGS.__dict__` of run.py for the README's training command."""
    return {"data_path": "/data/MiniImageNet", "output_path": "/out", "model": model,
            "times": times, "outer_times": outer_times, "ngpus": 1, "workers": 6, "epochs": 43,
            "batch_size": 16, "lr": 0.1, "step_size": 20, "momentum": 0.9,
            "weight_decay": 1e-4, "ckpt_path": "map_clsloc.txt",
            "classes_path": "map_clsloc.txt"}  # fmt: skip


def write_run_py_checkpoint(path, model: torch.nn.Module, flags: dict, epoch: int) -> None:
    """What run.py:train saves: flags, epoch, the DataParallel state dict (`module.` keys)
    and the state of its SGD (momentum 0.9, weight decay 1e-4, StepLR's initial_lr) after
    one step."""
    wrapped = torch.nn.DataParallel(model)
    optimizer = torch.optim.SGD(wrapped.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    torch.optim.lr_scheduler.StepLR(optimizer, step_size=20)
    wrapped(torch.randn(2, 3, 64, 64)).sum().backward()
    optimizer.step()
    data = {"flags": flags, "epoch": epoch, "state_dict": wrapped.state_dict(),
            "optimizer": optimizer.state_dict()}  # fmt: skip
    torch.save(data, path)


@pytest.fixture
def original_cornet_s(tmp_path):
    """(file, model) of a CORnet-S epoch_03.pth.tar at width 0.125 (names do not depend on it)."""
    torch.manual_seed(3)
    model = build("S", 3, width=0.125)
    path = tmp_path / "epoch_03.pth.tar"
    write_run_py_checkpoint(path, model, run_py_flags("S"), 3)
    return path, model.eval()


def test_fixture_is_laid_out_as_run_py_writes(original_cornet_s):
    data = torch.load(original_cornet_s[0], weights_only=True)
    assert sorted(data) == ["epoch", "flags", "optimizer", "state_dict"]
    keys = list(data["state_dict"])
    assert len(keys) == 164 and all(k.startswith("module.") for k in keys)
    assert {"module.V1.conv1.weight", "module.V2.norm1_0.running_mean",
            "module.decoder.linear.bias"} <= set(keys)  # fmt: skip
    assert data["state_dict"]["module.decoder.linear.weight"].shape == (1000, 64)
    assert len(data["optimizer"]["state"]) == len(data["optimizer"]["param_groups"][0]["params"])


def test_cli_scores_an_original_cornet_s_checkpoint(
    original_cornet_s, tiny_store, tmp_path, caplog
):
    path, model = original_cornet_s
    out = tmp_path / "test.json"
    argv = ["cornet", "test", "--ckpt", str(path), "--outer-times", "1", "--width", "0.125",
            "--data", str(tiny_store), "--out", str(out), "--batch-size", "4"]  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert main(argv) == 0
    assert "epoch, optimizer not used" in caplog.text  # every tensor is, the rest is named
    assert "tensors of the file are not used" not in caplog.text
    scored = json.loads(out.read_text())
    images = PackedImages(tiny_store, "val")
    crop = eval_transform(256, 224)  # run.py val's Resize(256) + CenterCrop(224)
    batch = torch.stack([crop(images.image(i)) for i in range(len(images))])
    with torch.no_grad():
        logits = model(ImageClassifier(model, {}).normalise(batch))
    hits = (logits.argmax(1).numpy() == images.labels).mean()
    assert scored["top1"] == pytest.approx(hits) and scored["samples"] == len(images)
    assert scored["selected_on"] is None
    argv[argv.index("--outer-times") + 1] = "2"  # CORnet-S has no feedback passes
    assert main(argv) == 2


def test_cli_exports_features_of_an_original_s100_checkpoint(tmp_path):
    torch.manual_seed(4)
    model = build("S100", 100, width=0.25, outer_times=2)
    path = tmp_path / "epoch_42.pth.tar"
    write_run_py_checkpoint(path, model, run_py_flags("S100", outer_times=2), 42)
    images = tmp_path / "images"
    images.mkdir()
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    from PIL import Image

    Image.fromarray(image).save(images / "n01.JPEG")
    argv = ["cornet", "test", "--ckpt", str(path), "--width", "0.25", "--images", str(images),
            "--out", str(tmp_path / "out"), "--layer", "IT", "--sublayer", "output",
            "--time-step", "-1", "--imsize", "64"]  # fmt: skip
    assert main(argv) == 0
    features = np.load(tmp_path / "out" / "CORnet-S100_IT_output_feats.npy")
    # outer_times 2 from the flags: V4 ends at 6x6 (4x4 + the feedback conv's padding), IT at 3x3
    assert features.shape == (1, 128 * 3 * 3)


def test_original_flags_choose_the_model_as_run_py_did():
    assert flags_settings("f", run_py_flags("S100", outer_times=3)) == {
        "model": "S100", "outer_times": 3}  # fmt: skip
    assert flags_settings("f", run_py_flags("R", times=2)) == {"model": "R", "times": 2}
    # run.py:get_model passes --times to R only: RT always ran 5 steps
    assert flags_settings("f", run_py_flags("RT", times=2)) == {"model": "RT", "times": 5}
    with pytest.raises(BadInputError, match="flags: model 'Q'"):
        flags_settings("f", run_py_flags("Q"))


def test_a_file_with_tensors_the_model_lacks_is_refused_as_run_py_refuses_it(
    original_cornet_s, tiny_store, tmp_path
):
    """run.py's strict load_state_dict fails on a tensor without a place; so does scoring."""
    path, _ = original_cornet_s
    data = torch.load(path, weights_only=True)
    data["state_dict"]["module.V4_to_V1.weight"] = torch.zeros(3, 64, 1, 1)
    torch.save(data, path)
    with pytest.raises(BadInputError, match=r"0 of the model missing .* 1 \(first: module.V4_to"):
        load(path, width=0.125)
    argv = ["cornet", "test", "--ckpt", str(path), "--width", "0.125", "--data",
            str(tiny_store), "--out", str(tmp_path / "test.json")]  # fmt: skip
    assert main(argv) == 2 and not (tmp_path / "test.json").exists()
