"""CORnet-S100: parameter count, feedback shapes, original-checkpoint loading."""

import pytest
import torch

from visionflow.io import BadInputError
from visionflow.models.cornet import CORnetS100, PassBatchNorm2d, load_cornet_weights


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


def test_loads_original_dataparallel_cornet_s_checkpoint(tmp_path):
    source = CORnetS100(num_classes=1000, width=0.25)
    state = {}
    for key, value in source.state_dict().items():
        if key.startswith("V4_to_V1"):
            continue  # CORnet-S has no feedback conv
        state["module." + key.replace("Decoder.", "decoder.")] = value
    path = tmp_path / "cornet_s.pth"
    torch.save({"epoch": 43, "state_dict": state, "flags": {"lr": 0.1}}, path)

    target = CORnetS100(num_classes=100, width=0.25)
    left = load_cornet_weights(target, path)
    assert set(left) == {"V4_to_V1.weight", "Decoder.linear.weight", "Decoder.linear.bias"}
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
