"""Feature export of a CORnet checkpoint, as the original run.py `test`: the output of one
layer's sublayer at one of its calls ("time step") for every image of a folder of JPEGs,
saved as `CORnet-<model>_<layer>_<sublayer>_feats.npy` of shape (images, features).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from visionflow.engine.classifier import ImageClassifier
from visionflow.experiments.cornet import IMAGE_PATTERN
from visionflow.io import BadInputError, atomic_path, write_table

log = logging.getLogger(__name__)


def image_files(path: Path, pattern: str = IMAGE_PATTERN) -> list[Path]:
    """`path` itself if it is a file, else its files matching `pattern` in sorted order;
    the other files of the folder are named in a warning."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BadInputError(path, "no such file or folder")
    files = sorted((p for p in path.glob(pattern) if p.is_file()), key=str)
    others = sorted(p.name for p in path.iterdir() if p.is_file() and p not in files)
    if others:
        log.warning("%s: %d files do not match %s and are left out: %s",
                    path, len(others), pattern, ", ".join(others))  # fmt: skip
    if not files:
        raise BadInputError(path, f"no files match {pattern}")
    return files


def read_class_map(path: Path) -> pd.DataFrame:
    """run.py's class map (`map_clsloc.txt`): `<wnid> <number from 1> <name>` per line, read
    as run.py does (fields split on single spaces; index = number - 1); columns index,
    wnid, name. Blank lines are skipped; a repeated number or a short line is refused."""
    rows, extra = [], 0
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.strip().split(" ")
        if not line.strip():
            continue
        if len(parts) < 3 or not parts[1].isdigit() or int(parts[1]) < 1:
            raise BadInputError(path, f"line {lineno}: expected '<wnid> <number> <name>'")
        extra += len(parts) > 3
        rows.append({"index": int(parts[1]) - 1, "wnid": parts[0], "name": parts[2]})
    table = pd.DataFrame(rows, columns=["index", "wnid", "name"])
    repeated = table["index"][table["index"].duplicated()].tolist()
    if repeated:
        raise BadInputError(path, f"class number {repeated[0] + 1} appears twice")
    if extra:
        log.warning("%s: %d lines have fields after the name; ignored, as run.py", path, extra)
    return table.sort_values("index").reset_index(drop=True)


def checked_class_map(path: Path, classes: int) -> pd.DataFrame:
    """The class map at `path`, refused unless it numbers exactly the model's `classes`
    trained classes (run.py names output i by line i+1 whatever the map holds)."""
    table = read_class_map(path)
    if table["index"].tolist() != list(range(classes)):
        raise BadInputError(
            path,
            f"numbers {len(table)} classes; the model was trained on {classes}, and its output i"
            " must be the map's class i+1 (for MiniImageNet: the sorted wnids, numbered from 1)",
        )
    return table


def load_images(files: Sequence[Path], imsize: int) -> torch.Tensor:
    """uint8 images (N, 3, imsize, imsize): RGB, squashed to imsize x imsize by PIL bilinear
    resampling, as run.py test's Resize((imsize, imsize))."""
    images = []
    for path in files:
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB").resize((imsize, imsize), Image.Resampling.BILINEAR)
        except (OSError, UnidentifiedImageError) as exc:
            raise BadInputError(path, f"unreadable image ({exc})") from exc
        images.append(torch.from_numpy(np.asarray(rgb).transpose(2, 0, 1).copy()))
    return torch.stack(images)


def readout_tap(model: nn.Module, layer: str | None, name: str | None) -> tuple[str, str]:
    """(layer, sublayer) to export: the given ones, by default the read-out (`decoder` or
    `Decoder`) and its last module (`output`; `linear` for R and RT, which have none)."""
    layers = dict(model.named_children())
    layer = layer or next(n for n in ("Decoder", "decoder") if n in layers)
    if name is None and layer in layers:
        name = list(dict(layers[layer].named_children()))[-1]
    return layer, name or ""


def sublayer(model: nn.Module, layer: str, name: str) -> nn.Module:
    """`model.<layer>.<name>`, as run.py's getattr(getattr(model, layer), sublayer)."""
    layers = dict(model.named_children())
    if layer not in layers:
        raise BadInputError("--layer", f"{layer!r} is not one of {', '.join(layers)}")
    children = dict(layers[layer].named_children())
    if name not in children:
        raise BadInputError("--sublayer", f"{layer} has no {name!r}; it has {', '.join(children)}")
    return children[name]


@torch.no_grad()
def extract(
    model: nn.Module,
    files: Sequence[Path],
    layer: str,
    name: str,
    time_step: int,
    imsize: int,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D) float32, predicted class (N,)) of `files` for `model` in eval mode.

    Features are the output of `layer.name` at its `time_step`-th call of a forward pass
    (Python indexing: -1 is the last), flattened per image and copied when the call
    returns; predictions are the argmax of the model's output.
    """
    tap = sublayer(model, layer, name)
    calls: list[torch.Tensor] = []
    handle = tap.register_forward_hook(lambda m, i, out: calls.append(out.flatten(1).clone()))
    normaliser = ImageClassifier(model, {})
    features, predictions = [], []
    try:
        for start in range(0, len(files), batch_size):
            calls.clear()
            images = load_images(files[start : start + batch_size], imsize)
            logits = model(normaliser.normalise(images))
            if not -len(calls) <= time_step < len(calls):
                problem = f"{layer}.{name} runs {len(calls)} times a pass; no step {time_step}"
                raise BadInputError("--time-step", problem)
            features.append(calls[time_step].numpy())
            predictions.append(logits.argmax(1).numpy())
    finally:
        handle.remove()
    return np.concatenate(features).astype(np.float32), np.concatenate(predictions)


def feature_file(model_name: str, layer: str, name: str) -> str:
    """run.py test's file name of an export."""
    return f"CORnet-{model_name}_{layer}_{name}_feats.npy"


def write_export(
    out_dir: Path,
    model_name: str,
    layer: str,
    name: str,
    files: Sequence[Path],
    features: np.ndarray,
    predictions: np.ndarray,
    class_map: pd.DataFrame | None,
) -> Path:
    """The features as run.py names them and predictions.csv (file, predicted index, and
    wnid and name from the class map if given) in `out_dir`; returns the features' path."""
    path = Path(out_dir) / feature_file(model_name, layer, name)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # np.save keeps a handle's name
        np.save(handle, features)
    table = pd.DataFrame({"file": [str(f) for f in files], "index": predictions})
    if class_map is not None:
        table = table.merge(class_map, on="index", how="left")
    write_table(Path(out_dir) / "predictions.csv", table)
    return path
