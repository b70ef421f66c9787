"""N-frame sampling as SLR does it, shuffled frames, and the video models and schedulers."""

import logging

import numpy as np
import pytest
import torch

from visionflow.experiments.slr.clips import ClipSource, frame_indices
from visionflow.experiments.slr.module import scheduler_config
from visionflow.io import BadInputError
from visionflow.models import video


@pytest.mark.parametrize(
    ("length", "n", "expected"),
    [
        (3, 5, [0, 1, 2]),  # shorter: every frame, padded later
        (5, 5, [0, 1, 2, 3, 4]),
        (7, 4, [0, 1, 2, 3]),  # N < T < 2N: stride 1, the first N frames
        (100, 32, list(range(0, 96, 3))),
    ],
)
def test_frame_indices(length, n, expected):
    assert frame_indices(length, n).tolist() == expected


class FakeClips:
    """Two clips whose frames are filled with their frame number plus one."""

    labels = np.array([0, 1])
    frames = np.array([3, 6])

    def __len__(self):
        return 2

    def clip(self, index, frame_indices):
        values = torch.as_tensor(frame_indices, dtype=torch.uint8) + 1
        return values.view(-1, 1, 1, 1).expand(-1, 3, 2, 2).clone()


def test_short_clips_are_padded_with_black_frames_and_shuffling_reorders():
    firsts = lambda clip: clip[:, 0, 0, 0].tolist()  # noqa: E731
    assert firsts(ClipSource(FakeClips(), 5).image(0)) == [1, 2, 3, 0, 0]
    assert firsts(ClipSource(FakeClips(), 3).image(1)) == [1, 3, 5]
    assert firsts(ClipSource(FakeClips(), 3, [2, 0, 1]).image(1)) == [5, 1, 3]
    with pytest.raises(ValueError, match="must reorder 3 frames"):
        ClipSource(FakeClips(), 3, [0, 1])


@pytest.mark.parametrize("name", list(video.ARCHS))
def test_every_model_gets_a_dropout_head_of_the_split_size(name):
    model = video.build(name, 7, drop_p=0.3)
    head = video.head_of(model, name)
    assert isinstance(head[0], torch.nn.Dropout) and head[0].p == 0.3
    frames, size = (16, 224) if name.startswith(("S3D", "MViT")) else (4, 32)
    with torch.device("meta"):
        assert model.to("meta")(torch.empty(2, 3, frames, size, size)).shape == (2, 7)


def test_mvit_heads_start_truncated_normal_others_default():
    torch.manual_seed(0)
    kinetics_head = torch.nn.Sequential(torch.nn.Dropout(), torch.nn.Linear(768, 400))
    for name in ("MViTv2_S", "MViTv1_B"):
        mvit = video.classifier(name, kinetics_head, 100)
        assert 0.019 < float(mvit.weight.std()) < 0.021  # trunc_normal_(std=0.02)
        assert float(mvit.weight.abs().max()) > 768**-0.5  # beyond the default uniform bound
        assert not mvit.bias.any()
    swin = video.classifier("Swin3D_T", kinetics_head, 100)
    assert float(swin.weight.abs().max()) <= 768**-0.5 and swin.bias.any()  # PyTorch's default
    s3d = video.classifier("S3D", torch.nn.Sequential(torch.nn.Conv3d(1024, 400, 1)), 100)
    assert s3d.weight.shape == (100, 1024, 1, 1, 1)


def test_input_size_is_checked_before_training():
    video.check_input("R3D_18", 4, 32)
    with pytest.raises(ValueError, match="MViTv2_S cannot take clips of 8 frames of 112x112"):
        video.check_input("MViTv2_S", 8, 112)


def test_kinetics_weights_from_a_path_or_random_init_with_a_warning(tmp_path, caplog):
    source = video.ARCHS["R3D_18"].builder()
    torch.save(source.state_dict(), tmp_path / "r3d.pth")
    model = video.build("R3D_18", 5, pretrained=str(tmp_path / "r3d.pth"))
    torch.testing.assert_close(model.stem[0].weight, source.stem[0].weight)
    with caplog.at_level(logging.WARNING):
        video.build("R3D_18", 5, pretrained=str(tmp_path / "absent.pth"))
    assert "using random initialisation" in caplog.text
    torch.save({"fc.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(BadInputError, match="not R3D_18 Kinetics-400 weights"):
        video.build("R3D_18", 5, pretrained=str(tmp_path / "other.pth"))


def lr_per_epoch(scheduler: dict, epochs: int, val_losses=None) -> list[float]:
    """Learning rates of the first param group over `epochs`, stepped as Lightning does."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    configs = scheduler_config(optimizer, scheduler)
    rates = []
    for epoch in range(epochs):
        rates.append(round(optimizer.param_groups[0]["lr"], 6))
        optimizer.step()
        for config in configs:
            if "monitor" in config:
                config["scheduler"].step(val_losses[epoch])
            else:
                config["scheduler"].step()
    return rates


def test_schedulers_follow_the_original_definitions():
    cosine = {"type": "CosineAnnealingLR", "tmax": 2, "eta_min": 0.0}
    assert lr_per_epoch(cosine, 3) == [1.0, 0.5, 0.0]
    warm = cosine | {"start_factor": 0.1, "end_factor": 1.0, "warmup_epochs": 2}
    assert lr_per_epoch(warm, 5) == [0.1, 0.55, 1.0, 0.5, 0.0]
    assert lr_per_epoch({"type": "WarmOnly", "start_factor": 0.5, "end_factor": 1.0,
                         "warmup_epochs": 1}, 3) == [0.5, 1.0, 1.0]  # fmt: skip
    plateau = {"type": "ReduceLROnPlateau", "mode": "min", "factor": 0.1, "patience": 1,
               "threshold": 0.0, "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0}  # fmt: skip
    assert lr_per_epoch(plateau, 5, [1.0, 1.0, 1.0, 0.5, 0.5]) == [1.0, 1.0, 1.0, 0.1, 0.1]
    restarts = {"type": "CosineAnnealingWarmRestarts", "t0": 2, "tmult": 1, "eta_min": 0.0}
    assert lr_per_epoch(restarts, 4) == [1.0, 0.5, 1.0, 0.5]
    assert scheduler_config(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1), None) == []


def test_each_family_is_normalised_with_its_pretraining_statistics():
    kinetics = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
    assert video.normalisation("S3D") == kinetics  # std is not the mean (an original bug)
    assert video.normalisation("R(2+1)D_18") == kinetics
    assert video.normalisation("Swin3D_B") == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert video.normalisation("MViTv1_B") == ((0.45,) * 3, (0.225,) * 3)
