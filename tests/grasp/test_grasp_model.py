"""NeuroVis AlexnetMap: layout, output ranges, frozen backbone, AlexNet weight loading."""

import pytest
import torch
import torchvision
from helpers import ALEXNETMAP_V3, original_neurovis_weights

from visionflow.io import BadInputError
from visionflow.metrics.grasp import double_log_loss
from visionflow.models.grasp import AlexnetMap, load_alexnet_features


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory):
    torch.manual_seed(1)
    state = torchvision.models.alexnet(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "alexnet.pth"
    torch.save(state, path)
    return path, state


def test_parameter_count_and_original_module_names():
    model = AlexnetMap()
    # 2 x AlexNet conv1 (3*64*121 + 64) + decoder + tanh head (16*5*121 + 5) + sigmoid head.
    decoder = (128 * 32 * 25 + 32) + (32 * 64 * 9 + 64) + 2 * (64 * 64 * 9 + 64)
    decoder += (64 * 32 * 9 + 32) + (32 * 32 * 25 + 32) + (32 * 16 * 9 + 16)
    expected = 2 * (3 * 64 * 121 + 64) + decoder + (16 * 5 * 121 + 5) + (16 * 121 + 1)
    assert sum(p.numel() for p in model.parameters()) == expected == 301_718
    keys = set(model.state_dict())
    for key in ("rgb_features.0.weight", "d_features.0.bias", "features.0.weight",
                "features.10.weight", "features.13.weight", "features.15.weight",
                "features.17.weight", "grasp.0.weight", "confidence.0.bias"):  # fmt: skip
        assert key in keys


def test_output_shape_and_ranges():
    torch.manual_seed(0)
    model = AlexnetMap().eval()
    rgb, depth = torch.randn(2, 3, 224, 224) * 3, torch.randn(2, 1, 224, 224) * 3
    with torch.no_grad():
        out = model(rgb, depth)
        stacked = model(torch.cat((rgb, depth), dim=1))
    assert out.shape == (2, 6, 224, 224)
    assert out[:, :5].min() >= -1 and out[:, :5].max() <= 1
    assert out[:, 5].min() >= 0 and out[:, 5].max() <= 1
    assert out[:, :5].std() > 0 and out[:, 5].std() > 0
    torch.testing.assert_close(out, stacked)


def test_depth_is_repeated_to_three_channels():
    model = AlexnetMap().eval()
    depth = torch.randn(1, 1, 224, 224)
    with torch.no_grad():
        got = model.d_features(depth.expand(-1, 3, -1, -1))
        ref = torch.nn.functional.conv2d(
            depth, model.d_features[0].weight.sum(1, keepdim=True), model.d_features[0].bias,
            stride=4, padding=2,
        )  # fmt: skip
    torch.testing.assert_close(got, torch.nn.functional.max_pool2d(ref.relu(), 3, 2))


def test_backbone_frozen_and_unfreezable():
    model = AlexnetMap()
    backbone = [*model.rgb_features.parameters(), *model.d_features.parameters()]
    assert backbone and all(not p.requires_grad for p in backbone)
    assert all(p.requires_grad for p in model.features.parameters())
    out = model(torch.randn(1, 3, 224, 224), torch.randn(1, 1, 224, 224))
    target = torch.zeros_like(out)
    target[:, 5, 100:120, 100:120] = 1.0
    double_log_loss(out, target).backward()
    assert all(p.grad is None for p in backbone)
    assert model.grasp[0].weight.grad is not None
    model.set_backbone_trainable(True)
    assert all(p.requires_grad for p in backbone)


def test_loads_torchvision_alexnet_into_both_branches(alexnet_file):
    path, state = alexnet_file
    model = AlexnetMap()
    assert not torch.equal(model.rgb_features[0].weight, state["features.0.weight"])
    assert load_alexnet_features(model, path) is True
    for branch in (model.rgb_features, model.d_features):
        torch.testing.assert_close(branch[0].weight, state["features.0.weight"])
        torch.testing.assert_close(branch[0].bias, state["features.0.bias"])
        assert not branch[0].weight.requires_grad
    reference = torchvision.models.alexnet(weights=None)
    reference.load_state_dict(state)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.rgb_features(x), reference.features[:3](x))


def test_missing_weights_warn_and_keep_random_init(tmp_path):
    model = AlexnetMap()
    before = model.rgb_features[0].weight.clone()
    with pytest.warns(UserWarning, match="random init"):
        assert load_alexnet_features(model, tmp_path / "absent.pth") is False
    with pytest.warns(UserWarning, match="random init"):
        assert load_alexnet_features(model, None) is False
    torch.testing.assert_close(model.rgb_features[0].weight, before)
    assert model(torch.randn(1, 4, 224, 224)).shape == (1, 6, 224, 224)


def test_bad_weights_file_names_it(tmp_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(BadInputError, match="truncated.pth"):
        load_alexnet_features(AlexnetMap(), truncated)
    foreign = tmp_path / "foreign.pth"
    torch.save({"conv.weight": torch.zeros(3)}, foreign)
    with pytest.raises(BadInputError, match="features.0.weight"):
        load_alexnet_features(AlexnetMap(), foreign)
    wrong = tmp_path / "wrong.pth"
    torch.save(
        {"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, wrong
    )
    with pytest.raises(BadInputError, match="expected shape"):
        load_alexnet_features(AlexnetMap(), wrong)


def test_unreached_last_row_and_column_have_zero_confidence():
    torch.manual_seed(0)
    with torch.no_grad():
        confidence = AlexnetMap().eval()(torch.randn(1, 4, 224, 224))[0, 5]
    assert (confidence[-1] == 0).all() and (confidence[:, -1] == 0).all()
    assert (confidence[:-1, :-1] > 0).all()


def test_original_weights_file_loads_every_tensor(tmp_path):
    from visionflow.experiments.grasp.evaluation import load

    path = original_neurovis_weights(tmp_path / "alexnetMap_grasp_top5_v3.2.2_epoch150.pth")
    if not torch.cuda.is_available():  # as the shipped files, saved from a GPU
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    stored = torch.load(path, weights_only=True, map_location="cpu")
    assert [(key, tuple(value.shape)) for key, value in stored.items()] == list(ALEXNETMAP_V3)
    module = load(path, "grasp")
    state = module.model.state_dict()
    assert list(state) == [key for key, _ in ALEXNETMAP_V3]
    assert all(torch.equal(state[key], value) for key, value in stored.items())
    assert torch.equal(state["rgb_features.0.weight"], state["d_features.0.weight"])  # shared
    assert module.hparams.task == "grasp" and not module.training
    with pytest.raises(BadInputError, match="give its task"):
        load(path)
    del stored["grasp.0.bias"]
    torch.save(stored, tmp_path / "cut.pth")
    with pytest.raises(BadInputError, match=r"missing \['grasp.0.bias'\]"):
        load(tmp_path / "cut.pth", "grasp")
    stored["grasp.0.bias"] = torch.zeros(6)
    torch.save(stored, tmp_path / "wide.pth")
    with pytest.raises(BadInputError, match=r"grasp.0.bias: expected shape \(5,\)"):
        load(tmp_path / "wide.pth", "grasp")
