"""Feature export (the original run.py `test`) on a plain folder of JPEGs, and its class map."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torchvision import transforms

from visionflow.cli import main
from visionflow.engine.classifier import ImageClassifier
from visionflow.experiments.cornet.evaluation import load
from visionflow.experiments.cornet.features import extract, read_class_map
from visionflow.io import BadInputError


@pytest.fixture
def jpeg_folder(tmp_path):
    """Three `.JPEG` images of different sizes and a `.jpg` that run.py's glob leaves out."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("b.JPEG", (40, 30)), ("a.JPEG", (50, 50)), ("c.JPEG", (33, 61)),
                       ("d.jpg", (20, 20))):  # fmt: skip
        pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, format="JPEG")
    return folder


def squashed(folder, names, size):
    """The images as run.py test feeds them: RGB, then torchvision's Resize((size, size))."""
    resize = transforms.Resize((size, size))
    arrays = [np.asarray(resize(Image.open(folder / n).convert("RGB"))) for n in names]
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())


def test_exports_the_readout_of_a_jpeg_folder(cornet_checkpoint, jpeg_folder, tmp_path, caplog):
    out = tmp_path / "features"
    argv = ["cornet", "test", "--ckpt", str(cornet_checkpoint), "--images", str(jpeg_folder),
            "--out", str(out), "--imsize", "32"]  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert main(argv) == 0
    assert "d.jpg" in caplog.text  # left out, and said so
    features = np.load(out / "CORnet-S100_Decoder_output_feats.npy")
    model, _ = load(cornet_checkpoint)
    with torch.no_grad():
        images = squashed(jpeg_folder, ["a.JPEG", "b.JPEG", "c.JPEG"], 32)
        logits = model(ImageClassifier(model, {}).normalise(images))
    assert features.shape == (3, 3) and features.dtype == np.float32
    np.testing.assert_allclose(features, logits.numpy(), rtol=1e-5, atol=1e-6)
    predictions = pd.read_csv(out / "predictions.csv")
    assert [p.rsplit("/", 1)[-1] for p in predictions["file"]] == ["a.JPEG", "b.JPEG", "c.JPEG"]
    assert predictions["index"].tolist() == logits.argmax(1).tolist()


def test_time_step_picks_one_call_of_the_sublayer(cornet_checkpoint, jpeg_folder):
    """S100 with 2 passes: V4.output runs 4 inner steps per pass, 8 calls; 32 px images give
    2x2 maps on the first pass and 4x4 on the feedback pass (the 1x1 conv pads by 1)."""
    model, _ = load(cornet_checkpoint)
    files = sorted(jpeg_folder.glob("*.JPEG"))
    first, _ = extract(model, files, "V4", "output", 0, 32)
    last, _ = extract(model, files, "V4", "output", -1, 32)
    eighth, _ = extract(model, files, "V4", "output", 7, 32)
    channels = model.V4.conv3.out_channels
    assert first.shape == (3, channels * 2 * 2) and last.shape == (3, channels * 4 * 4)
    np.testing.assert_array_equal(last, eighth)
    conv1, _ = extract(model, files, "V1", "conv1", 1, 32)  # the feedback pass's strided conv
    assert conv1.shape == (3, model.V1.conv1.out_channels * 4 * 4)
    with pytest.raises(BadInputError, match="runs 8 times a pass; no step 8"):
        extract(model, files, "V4", "output", 8, 32)
    with pytest.raises(BadInputError, match="V4 has no 'outputs'"):
        extract(model, files, "V4", "outputs", 0, 32)


def test_class_map_is_read_as_run_py_and_must_number_the_trained_classes(
    cornet_checkpoint, jpeg_folder, tmp_path
):
    ilsvrc = tmp_path / "map_clsloc.txt"
    ilsvrc.write_text("n02119789 1 kit_fox\nn02100735 2 English_setter\n"
                      "n02110185 3 Siberian_husky\nn02096294 4 Australian_terrier\n")  # fmt: skip
    table = read_class_map(ilsvrc)
    assert table.loc[0].tolist() == [0, "n02119789", "kit_fox"]
    out = tmp_path / "features"
    argv = ["cornet", "test", "--ckpt", str(cornet_checkpoint), "--images", str(jpeg_folder),
            "--out", str(out), "--imsize", "32", "--classes", str(ilsvrc)]  # fmt: skip
    assert main(argv) == 2  # 4 classes named, the model was trained on 3
    assert not out.exists()
    ilsvrc.write_text(ilsvrc.read_text().rsplit("n02096294", 1)[0])
    assert main(argv) == 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions.columns) == {"file", "index", "wnid", "name"}
    assert predictions["name"].tolist() == [table["name"][i] for i in predictions["index"]]
    ilsvrc.write_text("n02119789 1 kit_fox\nn02100735 1 English_setter\n")
    with pytest.raises(BadInputError, match="class number 1 appears twice"):
        read_class_map(ilsvrc)
