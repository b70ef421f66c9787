"""CORnet-S100: parameter count, feedback shapes, original-checkpoint loading."""

import logging

import pytest
import torch

from visionflow.io import BadInputError
from visionflow.models.cornet import CORnetS100, PassBatchNorm2d
from visionflow.models.cornet_zoo import build, load_cornet_weights


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_matches_original():
    assert count(CORnetS100(num_classes=100)) == 52_955_684
    # The published 1000-class CORnet-S (53,416,616) plus the 256->3 feedback conv.
    assert count(CORnetS100(num_classes=1000)) == 53_416_616 + 256 * 3


@pytest.mark.parametrize("outer_times", [1, 2, 3, 4])
def test_feedback_pass_shapes(outer_times):
    model = CORnetS100(num_classes=100, outer_times=outer_times, width=0.25).eval()
    shapes = {}
    for name in ("V1", "V2", "V4", "IT"):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.setdefault(name, []).append(tuple(o.shape))
        )
    with torch.no_grad():
        out = model(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 100)
    # First pass downsamples 224 -> 56 -> 28 -> 14; each feedback pass grows the map by
    # 2 (the 1x1 conv's padding) and keeps it at stride 1.
    expected_v4 = [14] + [14 + 2 * t for t in range(1, outer_times)]
    assert [s[-1] for s in shapes["V4"]] == expected_v4
    assert [s[-1] for s in shapes["V1"]] == [56] + expected_v4[1:]
    assert shapes["V4"][0][1] == 64 and shapes["IT"] == [
        (2, 128, (expected_v4[-1] + 1) // 2, (expected_v4[-1] + 1) // 2)
    ]


def test_feedback_changes_output_but_not_parameters():
    torch.manual_seed(0)
    one = CORnetS100(num_classes=10, outer_times=1, width=0.25).eval()
    two = CORnetS100(num_classes=10, outer_times=2, width=0.25).eval()
    two.load_state_dict(one.state_dict(), strict=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(one(x), two(x))
    assert count(one) == count(two)


def test_loads_original_dataparallel_cornet_s_checkpoint(tmp_path, caplog):
    source = CORnetS100(num_classes=1000, width=0.25)
    state = {}
    for key, value in source.state_dict().items():
        if key.startswith("V4_to_V1"):
            continue  # CORnet-S has no feedback conv
        state["module." + key.replace("Decoder.", "decoder.")] = value
    path = tmp_path / "cornet_s.pth"
    torch.save({"epoch": 43, "state_dict": state, "flags": {"lr": 0.1}}, path)

    target = CORnetS100(num_classes=100, width=0.25)
    with caplog.at_level(logging.WARNING):
        left = load_cornet_weights(target, path)
    assert set(left) == {"V4_to_V1.weight", "Decoder.linear.weight", "Decoder.linear.bias"}
    # the 1000-class head has no place in S100, and the warning says so
    unused = "2 tensors of the file are not used: module.decoder.linear.bias, module.decoder"
    assert unused in caplog.text
    assert torch.equal(target.V2.conv2.weight, source.V2.conv2.weight)


def test_refuses_pickled_code_and_garbage(tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(BadInputError, match="garbage.ckpt"):
        load_cornet_weights(CORnetS100(width=0.25), garbage)

    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Evil()}, evil)
    with pytest.raises(BadInputError, match="weights-only"):
        load_cornet_weights(CORnetS100(width=0.25), evil)


def test_each_pass_keeps_its_own_running_statistics():
    """Eval mode normalises every feedback pass with that pass's statistics, as training does.

    With momentum 1 the running statistics are those of the last batch, so eval mode should
    reproduce train mode on that batch; it does up to BatchNorm's unbiased running variance,
    which compounds over the passes. The original's single set of statistics, shared by the
    image and feedback passes, is off by orders of magnitude more.
    """
    torch.manual_seed(0)
    model = CORnetS100(num_classes=10, outer_times=3, width=0.25)
    norms = [m for m in model.modules() if isinstance(m, PassBatchNorm2d)]
    for m in norms:
        m.momentum = 1.0
    x = torch.randn(32, 3, 96, 96)
    with torch.no_grad():
        trained = model.train()(x)
        per_pass_error = (model.eval()(x) - trained).abs().max().item()
        for m in norms:
            for name, buffer in m.named_buffers():
                if "_pass" in name:
                    buffer.copy_(getattr(m, name.split("_pass")[0]))
        shared_error = (model.eval()(x) - trained).abs().max().item()
    assert shared_error > 100 * per_pass_error


def test_original_shared_statistics_fill_every_pass(tmp_path):
    source = CORnetS100(num_classes=10, outer_times=1, width=0.25)
    source.V1.norm1.running_mean.fill_(3.0)
    path = tmp_path / "s100_outer1.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in source.state_dict().items()}}, path)
    target = CORnetS100(num_classes=10, outer_times=3, width=0.25)
    assert load_cornet_weights(target, path) == []
    assert torch.equal(target.V1.norm1.running_mean_pass2, torch.full((16,), 3.0))


# Parameters and state-dict tensors of dicarlolab/CORnet d0cc17d and CORnet-100 f13ff5e.
ORIGINAL_SIZES = {
    "Z": (2_071_656, 10),
    "R": (5_208_936, 30),
    "RT": (5_208_936, 30),
    "S": (53_416_616, 164),
    "S100": (52_955_684, 165),
}


@pytest.mark.parametrize("name", sorted(ORIGINAL_SIZES))
def test_model_zoo_matches_the_originals_sizes_and_names(name):
    with torch.device("meta"):
        model = build(name, 100)
    keys = set(model.state_dict())
    shared = {k for k in keys if "_pass" not in k}  # S100's per-pass statistics are ours
    assert (count(model), len(shared)) == ORIGINAL_SIZES[name]
    readout = "Decoder" if name == "S100" else "decoder"
    assert f"{readout}.linear.weight" in keys and "V1.output" not in keys
    first = {"Z": "V1.conv.weight", "S": "V1.conv1.weight", "S100": "V4_to_V1.weight"}
    assert first.get(name, "V1.norm_input.weight") in keys
    assert model.state_dict()[f"{readout}.linear.bias"].shape == (100 if name == "S100" else 1000,)


# First four logits of two seeded images for each model built right after torch.manual_seed(0),
# as printed by the originals' own constructors (CORnet_Z(), CORnet_R(times=3),
# CORnet_RT(times=5), CORnet_S(), CORnet_S100(V4_to_V1_times=2)) in eval mode.
ORIGINAL_LOGITS = {
    ("Z", 64): [[0.30547160, 0.21276236, -0.14565943, -0.10772096],
                [0.30619371, 0.22439529, -0.15534833, -0.10757171]],
    ("R", 224): [[0.51060390, 0.03453366, -0.09085246, -0.00408330],
                 [0.48848313, 0.02824801, -0.08385538, -0.01502210]],
    ("RT", 224): [[0.38443381, 0.01632188, -0.01207772, -0.00073747],
                  [0.37674183, -0.00384760, -0.00635567, -0.02251901]],
    ("S", 64): [[4.72097969, -4.21504688, 22.45313644, -0.96396852],
                [4.81458664, -5.44140387, 22.21688652, -0.72549069]],
    ("S100", 64): [[-91.19153595, -112.77650452, 147.25506592, 114.52346802],
                   [-92.20989990, -115.05891418, 145.70959473, 112.87255859]],
}  # fmt: skip
OPTIONS = {"R": {"times": 3}, "RT": {"times": 5}, "S100": {"outer_times": 2}}


@pytest.mark.parametrize(
    ("name", "size"),
    [pytest.param(*k, marks=pytest.mark.slow) if k[0].startswith("S") else k
     for k in ORIGINAL_LOGITS],
)  # fmt: skip
def test_seeded_model_computes_the_originals_logits(name, size):
    """Same initial weights from the same seed and the same forward pass (the S models
    build 53M parameters, a few seconds: full tier)."""
    torch.manual_seed(0)
    model = build(name, 100, **OPTIONS.get(name, {})).eval()
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(images)[:, :4]
    expected = torch.tensor(ORIGINAL_LOGITS[name, size])
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


# How often each `layer.sublayer` of the originals runs in one forward pass, and the side of
# each output (0 for flat ones), measured with forward hooks on the originals: S100 with
# V4_to_V1_times=2 on a 64 px image, and R with times=3 on 224 px (RT runs the same).
S100_CALLS = {
    "V1": dict.fromkeys(["conv1", "norm1", "nonlin1"], [32, 6])
    | dict.fromkeys(["pool", "conv2", "norm2", "nonlin2", "output"], [16, 6]),
    "V2": {"conv_input": [16, 6], "skip": [8], "norm_skip": [8], "norm1_0": [16, 6],
           "norm2_0": [8, 6], "norm3_0": [8, 6], "norm1_1": [8, 6], "norm2_1": [8, 6],
           "norm3_1": [8, 6], "conv1": [16, 8, 6, 6], "nonlin1": [16, 8, 6, 6]}
    | dict.fromkeys(["conv2", "nonlin2", "conv3", "nonlin3", "output"], [8, 8, 6, 6]),
    "V4": {"conv_input": [8, 6], "skip": [4], "norm_skip": [4], "norm1_0": [8, 6],
           "conv1": [8, 4, 4, 4, 6, 6, 6, 6], "nonlin1": [8, 4, 4, 4, 6, 6, 6, 6]}
    | {f"norm{i}_{t}": [4, 6] for i in (1, 2, 3) for t in range(4) if (i, t) != (1, 0)}
    | dict.fromkeys(["conv2", "nonlin2", "conv3", "nonlin3", "output"], [4, 4, 4, 4, 6, 6, 6, 6]),
    "IT": {"conv_input": [6], "skip": [3], "norm_skip": [3], "norm1_0": [6], "conv1": [6, 3],
           "nonlin1": [6, 3]}
    | {f"norm{i}_{t}": [3] for i in (1, 2, 3) for t in range(2) if (i, t) != (1, 0)}
    | dict.fromkeys(["conv2", "nonlin2", "conv3", "nonlin3", "output"], [3, 3]),
    "Decoder": {"avgpool": [1], "flatten": [0], "linear": [0], "output": [0]},
}  # fmt: skip
R_CALLS = {
    block: {"conv_input": [side] * (3 if block == "V1" else 2)}
    | dict.fromkeys(["norm_input", "nonlin_input"], [side] * (3 if block == "V1" else 2))
    | dict.fromkeys(["conv1", "norm1", "nonlin1", "output"], [side] * 3)
    for block, side in (("V1", 56), ("V2", 28), ("V4", 14), ("IT", 7))
} | {"decoder": {"avgpool": [1], "flatten": [0], "linear": [0]}}


def hook_calls(model: torch.nn.Module, size: int) -> dict[str, dict[str, list[int]]]:
    """Every output side of every `layer.sublayer` in one eval forward pass."""
    calls = {}
    for layer, block in model.named_children():
        for name, module in block.named_children():
            sides = calls.setdefault(layer, {}).setdefault(name, [])
            module.register_forward_hook(
                lambda m, i, out, sides=sides: sides.append(out.shape[-1] if out.dim() == 4 else 0)
            )
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, size, size))
    return {layer: {k: v for k, v in subs.items() if v} for layer, subs in calls.items() if subs}


@pytest.mark.parametrize(
    ("name", "options", "size", "expected"),
    [("S100", {"outer_times": 2}, 64, S100_CALLS), ("R", {"times": 3}, 224, R_CALLS),
     ("RT", {"times": 3}, 224, R_CALLS)],
)  # fmt: skip
def test_forward_hooks_fire_where_the_originals_do(name, options, size, expected):
    """A run.py-style (layer, sublayer, time step) picks the same call as in the original:
    every submodule runs as a module (also the strided convs of the feedback passes) and a
    block's `output` once per inner time step."""
    model = build(name, 10, width=0.125, **options)
    assert hook_calls(model, size) == expected
