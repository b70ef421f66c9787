"""CLIP zero-shot labelling offline (a random tiny open_clip model) and the relabel loop."""

import json

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
from helpers import TINY_CLIP, tiny_clip_weights
from PIL import Image

from visionflow.analysis.clip import load_clip, zero_shot_probabilities
from visionflow.data.jacquard.prepare import apply_relabel
from visionflow.io import BadInputError


def test_zero_shot_probabilities_offline(tmp_path):
    model, preprocess, tokenizer = load_clip("tiny-clip", tiny_clip_weights(tmp_path / "w.pt"),
                                             TINY_CLIP)  # fmt: skip
    images = np.random.default_rng(0).integers(0, 255, (5, 40, 40, 3), dtype=np.uint8)
    probs = zero_shot_probabilities(model, preprocess, tokenizer, images, ["a", "b", "c"], 2)
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"visual.proj": torch.zeros(2, 2)}, path)  # wrong shape
    with pytest.raises(BadInputError, match="not tiny-clip weights"):
        load_clip("tiny-clip", path, TINY_CLIP)
    torch.save({"visual.proj": torch.zeros(32, 32)}, path)  # far too few tensors
    with pytest.raises(BadInputError, match="not tiny-clip weights"):
        load_clip("tiny-clip", path, TINY_CLIP)


def test_missing_weights_name_the_config_key(tmp_path, capsys):
    from visionflow.cli import main

    code = main(["analysis", "clip", "--data", str(tmp_path), "--out-dir", str(tmp_path)])
    assert code == 2
    assert "analysis.clip.weights" in capsys.readouterr().err


MANIFEST = pd.DataFrame({"id": ["a/0", "a/1", "b/0"], "class": ["Chair", "Chair", "Lamp"],
                         "label": [0, 0, 1]})  # fmt: skip


def test_relabel_changes_only_the_edited_views(tmp_path):
    edits = tmp_path / "relabel.csv"
    edits.write_text("id,class,predicted,new_class\na/0,Chair,Lamp,\na/1,Chair,Lamp,Lamp\n")
    fixed = apply_relabel(MANIFEST, edits, ["Chair", "Lamp"])
    assert fixed["class"].tolist() == ["Chair", "Lamp", "Lamp"]
    assert fixed["label"].tolist() == [0, 1, 1]
    assert MANIFEST["class"].tolist() == ["Chair", "Chair", "Lamp"]  # input untouched


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("id,new_class\nzz,Lamp\n", "line 2: id 'zz' is not in the store"),
        ("id,new_class\na/0,Sofa\n", "line 2: class 'Sofa' is not one of"),
        ("view,new_class\na/0,Lamp\n", r"missing columns \['id'\]"),
    ],
)
def test_bad_relabel_files_name_file_and_line(tmp_path, text, problem):
    edits = tmp_path / "relabel.csv"
    edits.write_text(text)
    with pytest.raises(BadInputError, match=problem) as caught:
        apply_relabel(MANIFEST, edits, ["Chair", "Lamp"])
    assert str(edits) in str(caught.value)


def test_openai_weights_need_quickgelu(tmp_path):
    """One state dict, two activations: OpenAI's CLIP (QuickGELU) is not the GELU model."""
    config = json.loads(TINY_CLIP.read_text()) | {"quick_gelu": True}
    quick = tmp_path / "tiny-clip-quickgelu.json"
    quick.write_text(json.dumps(config))
    weights = tiny_clip_weights(tmp_path / "w.pt")
    images = np.random.default_rng(1).integers(0, 255, (3, 40, 40, 3), dtype=np.uint8)
    embeddings = []
    for arch, path in (("tiny-clip", TINY_CLIP), ("tiny-clip-quickgelu", quick)):
        model, preprocess, _ = load_clip(arch, weights, path)
        batch = torch.stack([preprocess(Image.fromarray(image)) for image in images])
        with torch.no_grad():
            embeddings.append(model.encode_image(batch))
    assert not torch.allclose(embeddings[0], embeddings[1], atol=1e-4)
    assert "ViT-L-14-quickgelu" in open_clip.list_models()  # the default analysis.clip.arch
