"""The `precision` setting: fp32 unless a run asks for bf16 on a GPU that has it."""

from pathlib import Path

import pytest
import torch
import yaml
from helpers import REPO

from visionflow.engine import recipe
from visionflow.engine.trainer import lightning_precision
from visionflow.io import BadInputError


def test_paper_config_computes_in_fp32_as_the_originals():
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert paper["precision"] == "32-true" == lightning_precision(paper["precision"])
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    assert lightning_precision("bf16-mixed") == ("bf16-mixed" if bf16 else "32-true")
    with pytest.raises(BadInputError, match="precision: '16-mixed' is not one of"):
        lightning_precision("16-mixed")


@pytest.mark.parametrize(
    ("settings", "expected"), [({}, "32-true"), ({"precision": "bf16-mixed"}, "bf16-mixed")]
)
def test_precision_setting_reaches_the_trainer_and_the_checkpoint(
    settings, expected, tmp_path, monkeypatch
):
    """Every experiment trains through the recipe: the setting is a hyperparameter (a change
    starts the run afresh, and evaluation reads it back) and goes to `fit`."""
    given = {}
    monkeypatch.setattr(recipe, "fit", lambda *args, **kwargs: given.update(kwargs) or Path())

    def build(hparams):
        given["hparams"] = hparams
        return recipe.Training(None, None, 1, ("loss",), None)

    recipe.train(tmp_path, tmp_path, {"seed": 0, "lr": 0.1} | settings, build)
    assert given["precision"] == expected == given["hparams"]["precision"]
