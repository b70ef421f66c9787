"""What a CORnet run records when: validation before training, every epoch's checkpoint,
the best checkpoint's name, the final epoch, the learning-rate steps."""

import lightning as L
import pandas as pd
import pytest
import torch
from helpers import tiny_settings

from visionflow.engine.callbacks import EpochMetricsWriter
from visionflow.experiments.cornet.evaluation import evaluate, summarize
from visionflow.experiments.cornet.training import build_model, train
from visionflow.io import safe_torch_load

EPOCHS = 2


@pytest.fixture(scope="module")
def observed_run(tiny_store, tmp_path_factory):
    """A 2-epoch run (StepLR every epoch) keeping every epoch's checkpoint, with the
    optimizer steps taken and the weights held when metrics.csv's epoch-0 row was written."""
    run_dir = tmp_path_factory.mktemp("cornet") / "outer2"
    seen = {"steps": 0}
    step, record = torch.optim.SGD.step, EpochMetricsWriter._record

    def counted_step(self, *args, **kwargs):
        seen["steps"] += 1
        return step(self, *args, **kwargs)

    def watched_record(self, trainer, epoch, splits):
        if epoch == 0:
            seen["steps_at_epoch0"] = seen["steps"]
            seen["weights_at_epoch0"] = {
                k: v.clone() for k, v in trainer.lightning_module.model.state_dict().items()
            }
        return record(self, trainer, epoch, splits)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.SGD, "step", counted_step)
        patch.setattr(EpochMetricsWriter, "_record", watched_record)
        settings = tiny_settings(epochs=EPOCHS, step_size=1, save_model_epochs=1)
        train(tiny_store, run_dir, settings)
    return run_dir, seen


def test_epoch0_is_validated_before_any_optimizer_step(observed_run, tiny_store):
    """Unlike run.py, whose first validation follows one SGD step of the first batch."""
    run_dir, seen = observed_run
    assert seen["steps_at_epoch0"] == 0 and seen["steps"] > 0
    hparams = safe_torch_load(run_dir / "checkpoints" / "last.ckpt")["hyper_parameters"]
    L.seed_everything(0, verbose=False)
    fresh = build_model(hparams).state_dict()
    assert all(torch.equal(fresh[k], v) for k, v in seen["weights_at_epoch0"].items())
    first = pd.read_csv(run_dir / "metrics.csv").iloc[0]
    assert (first["epoch"], first["split"]) == (0, "val") and pd.isna(first["lr"])


def test_every_epoch_is_kept_scored_and_named_from_one(observed_run, tiny_store):
    run_dir, _ = observed_run
    checkpoints = run_dir / "checkpoints"
    history = pd.read_csv(run_dir / "metrics.csv")
    val = history[history["split"] == "val"].set_index("epoch")
    for epoch in range(1, EPOCHS + 1):  # checkpoint_<k> holds the state after k epochs
        path = checkpoints / f"checkpoint_{epoch:03d}.ckpt"
        assert safe_torch_load(path)["epoch"] == epoch - 1
        scored = evaluate(path, tiny_store, "val", 8, 0)
        assert scored["top1"] == pytest.approx(val.loc[epoch, "top1"])
        assert scored["loss"] == pytest.approx(val.loc[epoch, "loss"], rel=1e-4)
    # The final epoch is validated and kept (run.py's loop never trains its last one through).
    assert val.index.max() == EPOCHS
    assert safe_torch_load(checkpoints / "last.ckpt")["epoch"] == EPOCHS - 1
    best = int(summarize([run_dir]).iloc[0]["best_epoch"])
    assert (checkpoints / f"top1-epoch{best:03d}.ckpt").is_file()
    assert safe_torch_load(checkpoints / "best.ckpt")["epoch"] + 1 == best
    # StepLR(step_size=1, gamma=0.1) per epoch: epoch 1 at lr, epoch 2 at lr x 0.1 (run.py
    # steps it per batch with a fractional epoch: 0.1 from the last batch of epoch 1 on)
    lrs = history.loc[history["split"] == "train", "lr"].tolist()
    assert lrs == pytest.approx([0.02, 0.002])
