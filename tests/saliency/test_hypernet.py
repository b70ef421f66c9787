"""Saliency main network and the hypernetworks: shapes, chunking, tasks, gradients, freezing,
activations, BatchNorm modes, the original students' names."""

import logging
import math

import pytest
import torch
import torchvision
from torch.func import functional_call

from visionflow.io import BadInputError
from visionflow.models.hypernet import ChunkedHyperNetwork as HyperNetwork
from visionflow.models.hypernet import SimpleHyperNetwork, SingleLayerHyperNetwork
from visionflow.models.normalisation import IMAGENET_MEAN, IMAGENET_STD
from visionflow.models.saliency_net import (
    ORIGINAL_DECODER,
    SaliencyNet,
    from_student,
    load_imagenet_encoder,
)

TINY = {"task_embedding": 8, "chunk_size": 1000, "chunk_embedding": 4, "hidden": (16, 16)}


@pytest.fixture(scope="module")
def mobilenet_file(tmp_path_factory):
    torch.manual_seed(3)
    state = torchvision.models.mobilenet_v2().state_dict()
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.pth"
    torch.save(state, path)
    return path, state


def tiny_net(cutoff: int | None = 3, channels=(8, 4)) -> SaliencyNet:
    torch.manual_seed(0)
    return SaliencyNet(encoder_cutoff=cutoff, decoder_channels=channels)


def count(shapes) -> int:
    return sum(math.prod(s) for s in shapes)


@pytest.mark.parametrize(
    ("cutoff", "upsamplings"), [(0, 1), (1, 1), (3, 2), (6, 3), (13, 4), (None, 5)]
)
def test_output_matches_input_size_for_each_cutoff(cutoff, upsamplings):
    net = tiny_net(cutoff, channels=(8, 8, 8, 8, 8, 4)).eval()
    ups = [m for m in net.decoder.modules() if isinstance(m, torch.nn.Upsample)]
    assert len(ups) == upsamplings
    for size in ((32, 32), (40, 56)):
        with torch.no_grad():
            out = net(torch.rand(2, 3, *size))
        assert out.shape == (2, 1, *size)
        assert out.dtype == torch.float32


def test_original_decoder_layout():
    net = SaliencyNet()
    shapes = [p.shape for p in net.decoder.parameters()]
    chans = [1280, 512, 256, 256, 128, 128, 64, 64]
    expected = sum(a * b * 9 + b + 2 * b for a, b in zip(chans[:-1], chans[1:], strict=True))
    assert count(shapes) == expected + 64 + 1 == 8_224_961
    assert len(shapes) == 30  # conv/bn weight+bias x 7 stages and the output conv, as the original
    assert net.encoder[-1].out_channels == 1280 and len(net.encoder) == 19


def test_uint8_and_unit_float_inputs_agree_and_are_imagenet_normalised():
    net = tiny_net().eval()
    image = torch.randint(0, 256, (2, 3, 24, 24), dtype=torch.uint8)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD)
    with torch.no_grad():
        assert torch.allclose(net(image), net(image.float() / 255), atol=1e-6)
        by_hand = net.decoder(net.encoder((image / 255 - mean) / std.view(1, 3, 1, 1)))
        by_hand = torch.nn.functional.interpolate(by_hand, size=(24, 24), mode="bilinear")
        assert torch.allclose(net(image), by_hand, atol=1e-5)  # deviation 3: not /255 only
        assert not torch.allclose(net(image), net.decoder(net.encoder(image / 255)), atol=1e-3)


def test_bad_cutoff_is_refused():
    with pytest.raises(ValueError, match="encoder_cutoff"):
        SaliencyNet(encoder_cutoff=19)


def test_generated_count_and_chunk_padding():
    net = tiny_net()
    n = sum(p.numel() for name, p in net.named_parameters() if name.startswith("decoder."))
    hnet = HyperNetwork(net, ["decoder"], tasks=3, **TINY)
    assert hnet.num_outputs == n == count(hnet.generated_shapes.values())
    assert set(hnet.generated_shapes) == {k for k, _ in net.named_parameters() if "decoder." in k}
    assert hnet.num_chunks == math.ceil(n / 1000) and hnet.chunk_embeddings.shape == (
        hnet.num_chunks,
        4,
    )
    assert hnet.mlp[-1].out_features == 1000 and hnet.mlp[0].in_features == 4 + 8
    # The MLP emits num_chunks * chunk_size values; the surplus of the last chunk is dropped.
    inputs = torch.cat(
        (hnet.chunk_embeddings, hnet.task_embeddings[0].expand(hnet.num_chunks, -1)), 1
    )
    raw = hnet.mlp(inputs).reshape(-1)
    assert raw.numel() == math.ceil(n / 1000) * 1000 > n
    assert torch.equal(hnet.flat_weights(0), raw[:n])
    weights = hnet.weights_for(0)
    assert {k: v.shape for k, v in weights.items()} == hnet.generated_shapes


def test_tasks_differ_and_same_task_repeats():
    hnet = HyperNetwork(tiny_net(), ["decoder"], tasks=3, **TINY).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        a, b, a2 = hnet(0, x), hnet(1, x), hnet(torch.tensor([0, 0]), x)
    assert a.shape == (2, 1, 32, 32)
    assert torch.equal(a, a2)
    assert (a - b).abs().max() > 1e-4


def test_mixed_or_unknown_task_ids_are_refused():
    hnet = HyperNetwork(tiny_net(), ["decoder"], tasks=3, **TINY)
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"single task, found task ids \[0, 2\]"):
        hnet(torch.tensor([0, 2]), x)
    with pytest.raises(IndexError, match="task id 3"):
        hnet(3, x)


def test_unknown_prefix_is_refused():
    with pytest.raises(ValueError, match="'head'"):
        HyperNetwork(tiny_net(), ["decoder", "head"], tasks=2, **TINY)


def test_gradients_reach_hnet_and_shared_but_generated_are_not_parameters():
    hnet = HyperNetwork(tiny_net(), ["decoder", "encoder.3"], tasks=3, **TINY)
    own = dict(hnet.model.named_parameters())
    assert not set(own) & set(hnet.generated_shapes)
    assert any(k.startswith("encoder.3.") for k in hnet.generated_shapes)
    assert "encoder.3.conv.0.1.running_mean" in dict(hnet.model.named_buffers())
    assert not any(k.startswith("model.decoder.") for k, _ in hnet.named_parameters())
    hnet(torch.tensor([1, 1]), torch.rand(2, 3, 32, 32)).pow(2).mean().backward()
    grads = hnet.task_embeddings.grad
    assert grads[1].abs().sum() > 0 and grads[0].abs().sum() == grads[2].abs().sum() == 0
    for p in (hnet.chunk_embeddings, *hnet.mlp.parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert own["encoder.0.0.weight"].grad.abs().sum() > 0


def test_batchnorm_statistics_are_shared_buffers():
    hnet = HyperNetwork(tiny_net(), ["decoder"], tasks=2, **TINY).train()
    stats = hnet.model.decoder[0][1].running_mean
    before = stats.clone()
    hnet(0, torch.rand(2, 3, 32, 32))
    after_task0 = stats.clone()
    hnet(1, torch.rand(2, 3, 32, 32))
    assert not torch.equal(before, after_task0) and not torch.equal(after_task0, stats)
    assert hnet.model.decoder[0][1].num_batches_tracked == 2


def test_weights_for_round_trip():
    hnet = HyperNetwork(tiny_net(), ["decoder"], tasks=3, **TINY).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        direct = functional_call(hnet.model, hnet.weights_for(2), (x,))
        assert torch.equal(direct, hnet(2, x))
        assert not torch.equal(direct, functional_call(hnet.model, hnet.weights_for(0), (x,)))


def test_weights_regression_moves_outputs_to_targets():
    hnet = HyperNetwork(tiny_net(), ["decoder"], tasks=2, **TINY)
    target = {k: torch.full(s, 0.5) for k, s in hnet.generated_shapes.items()}

    def loss() -> torch.Tensor:
        out = hnet.weights_for(1)
        return sum(((out[k] - target[k]) ** 2).sum() for k in target) / hnet.num_outputs

    start = loss().item()
    optimizer = torch.optim.Adam(hnet.hnet_parameters(), lr=1e-2)
    for _ in range(30):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().item() < 0.1 * start


def trainable(hnet: HyperNetwork) -> set[str]:
    return {n for n, p in hnet.named_parameters() if p.requires_grad}


def test_freezing_helpers():
    hnet = HyperNetwork(tiny_net(), ["decoder.1"], tasks=2, **TINY)
    everything = {n for n, _ in hnet.named_parameters()}
    encoder = {n for n in everything if n.startswith("model.encoder.")}
    assert encoder and "model.decoder.0.0.weight" in everything
    assert "model.decoder.1.0.weight" not in everything
    assert len(hnet.hnet_parameters()) == 2 + 2 * 3
    assert hnet.hnet_shared_parameters()[0] is hnet.chunk_embeddings
    assert hnet.task_parameters() == [hnet.task_embeddings]
    assert len(hnet.shared_parameters()) == len(everything) - len(hnet.hnet_parameters())

    hnet.freeze_shared("encoder")
    assert trainable(hnet) == everything - encoder
    hnet.freeze_shared("encoder", frozen=False)
    assert trainable(hnet) == everything

    hnet.freeze_for_catchup()
    assert trainable(hnet) == {"task_embeddings"}
    hnet.freeze_for_catchup(frozen=False)
    assert trainable(hnet) == everything
    with pytest.raises(ValueError, match="'decoder.1'"):
        hnet.freeze_shared("decoder.1")


def test_imagenet_weights_load_from_local_file(mobilenet_file):
    path, state = mobilenet_file
    net = SaliencyNet(encoder_cutoff=3, decoder_channels=(4,))
    load_imagenet_encoder(net.encoder, path)
    assert len(net.encoder) == 4
    assert torch.equal(net.encoder[0][0].weight, state["features.0.0.weight"])
    loaded = net.encoder[3].conv[1][1].running_var
    assert torch.equal(loaded, state["features.3.conv.1.1.running_var"])


def test_wrong_weight_files_are_bad_input(tmp_path, mobilenet_file):
    _, state = mobilenet_file
    shrunk = dict(state, **{"features.2.conv.0.0.weight": torch.zeros(3)})
    for name, payload in (("other.pth", {"conv.weight": torch.zeros(1)}), ("shrunk.pth", shrunk)):
        torch.save(payload, tmp_path / name)
        with pytest.raises(BadInputError, match=r"features\.\S+ should be a tensor of shape"):
            load_imagenet_encoder(SaliencyNet(encoder_cutoff=3).encoder, tmp_path / name)
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BadInputError, match="broken.pth"):
        load_imagenet_encoder(SaliencyNet(encoder_cutoff=3).encoder, tmp_path / "broken.pth")
    with pytest.raises(BadInputError, match="does not exist"):
        load_imagenet_encoder(SaliencyNet(encoder_cutoff=3).encoder, tmp_path / "missing.pth")


def test_random_init_warns_once(caplog):
    with caplog.at_level(logging.WARNING, logger="visionflow.models.saliency_net"):
        load_imagenet_encoder(SaliencyNet(encoder_cutoff=1, decoder_channels=(4,)).encoder, None)
    records = [r for r in caplog.records if r.name == "visionflow.models.saliency_net"]
    assert len(records) == 1 and "random init" in records[0].getMessage()


def test_state_dict_round_trip_excludes_generated():
    hnet = HyperNetwork(tiny_net(), ["decoder"], tasks=2, **TINY).eval()
    state = hnet.state_dict()
    assert not {f"model.{k}" for k in hnet.generated_shapes} & set(state)
    assert "model.decoder.0.1.running_mean" in state
    torch.manual_seed(9)
    other = HyperNetwork(SaliencyNet(3, (8, 4)), ["decoder"], tasks=2, **TINY).eval()
    other.load_state_dict(state)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(other(1, x), hnet(1, x))


def test_chunked_parameter_count_of_the_pr_setting():
    # hypnettorch's ChunkedHMLP for the PR config: decoder generated, 4 x 512 hidden,
    # embedding 256, chunk 65536, chunk embedding 16, 10 tasks.
    hnet = HyperNetwork(SaliencyNet(), ["decoder"], tasks=10)
    chunks = math.ceil(8_224_961 / 65536)
    mlp = (16 + 256) * 512 + 512 + 3 * (512 * 512 + 512) + 512 * 65536 + 65536
    assert hnet.num_chunks == chunks == 126
    assert sum(p.numel() for p in hnet.hnet_parameters()) == 10 * 256 + 126 * 16 + mlp
    assert sum(p.numel() for p in hnet.hnet_parameters()) == 34_552_288


def test_simple_hnet_is_one_mlp_to_all_outputs():
    hnet = SimpleHyperNetwork(tiny_net(), ["decoder"], tasks=3, task_embedding=8, hidden=(16, 5))
    n = hnet.num_outputs
    assert [m.out_features for m in hnet.mlp if isinstance(m, torch.nn.Linear)] == [16, 5, n]
    count = 3 * 8 + (8 * 16 + 16) + (16 * 5 + 5) + (5 * n + n)
    assert sum(p.numel() for p in hnet.hnet_parameters()) == count
    assert torch.equal(hnet.flat_weights(1), hnet.mlp(hnet.task_embeddings[1]))
    assert (
        hnet.task_parameters() == [hnet.task_embeddings] and len(hnet.hnet_shared_parameters()) == 6
    )
    x = torch.rand(2, 3, 32, 32)
    assert hnet.eval()(2, x).shape == (2, 1, 32, 32)


def test_single_layer_hnet_is_a_per_task_table():
    torch.manual_seed(0)
    hnet = SingleLayerHyperNetwork(tiny_net(), ["decoder"], tasks=4)
    table = hnet.table.weight
    assert table.shape == (hnet.num_outputs, 4) and hnet.table.bias is None
    assert table.abs().max() <= 1 / math.sqrt(4)  # nn.Linear's init, as the original
    one_hot = torch.nn.functional.one_hot(torch.tensor(2), 4).float()
    assert torch.equal(hnet.flat_weights(2), hnet.table(one_hot))
    before = [hnet.flat_weights(t).detach().clone() for t in range(4)]
    with torch.no_grad():
        table[:, 1] += 1
    after = [hnet.flat_weights(t) for t in range(4)]
    assert [not torch.equal(a, b) for a, b in zip(before, after, strict=True)] == [
        False, True, False, False
    ]  # fmt: skip
    assert hnet.task_parameters() == [table] and hnet.hnet_shared_parameters() == []
    hnet.freeze_for_catchup()
    assert trainable(hnet) == {"table.weight"}


@pytest.mark.parametrize(
    "activation, kind, at_minus_ten, at_ten",
    [("relu", torch.nn.ReLU, 0.0, 10.0), ("relu6", torch.nn.ReLU6, 0.0, 6.0),
     ("leaky_relu", torch.nn.LeakyReLU, -0.1, 10.0)],
)  # fmt: skip
def test_decoder_activation_choices(activation, kind, at_minus_ten, at_ten):
    net = SaliencyNet(3, (8, 4), activation=activation)
    layers = [stage[2] for stage in net.decoder[:-1]]
    assert all(type(layer) is kind for layer in layers)
    values = layers[0](torch.tensor([-10.0, 10.0]))
    assert values.tolist() == pytest.approx([at_minus_ten, at_ten])
    with pytest.raises(ValueError, match="activation must be one of"):
        SaliencyNet(3, (8,), activation="gelu")


def test_without_eval_mode_batchnorm_uses_each_batch_and_keeps_learning_statistics():
    torch.manual_seed(0)
    images = torch.rand(4, 3, 32, 32)
    for use_eval_mode in (True, False):
        net = SaliencyNet(3, (8, 4), use_eval_mode=use_eval_mode)
        hnet = HyperNetwork(net, ["decoder"], tasks=2, **TINY).eval()
        stats = hnet.model.decoder[0][1].running_mean.clone()
        with torch.no_grad():
            alone, together = hnet(0, images[:1]), hnet(0, images)[:1]
        assert hnet.model.training is not use_eval_mode
        changed = not torch.equal(stats, hnet.model.decoder[0][1].running_mean)
        assert changed is not use_eval_mode  # updated by "evaluation" batches, as upstream
        assert torch.allclose(alone, together, atol=1e-5) is use_eval_mode
    hnet.train()
    assert hnet.model.training


def test_original_student_names_map_onto_the_decoder():
    net = SaliencyNet(3, (8,) * len(ORIGINAL_DECODER))
    names = {f"decoder.{i}.{part}": f"decoder.{kind}{layer}"
             for i, layer in enumerate(("7_3", "8_1", "8_2", "9_1", "9_2", "10_1", "10_2"))
             for part, kind in (("0", "conv"), ("1", "bn"))}  # fmt: skip
    names["decoder.7"] = "decoder.output"
    student = {}
    for key, value in net.state_dict().items():
        module, _, leaf = key.rpartition(".")
        student[f"{names.get(module, module)}.{leaf}"] = value
    assert "decoder.conv10_2.weight" in student and "decoder.bn7_3.running_var" in student
    assert "encoder.1.conv.0.0.weight" in student
    assert from_student(student).keys() == net.state_dict().keys()
