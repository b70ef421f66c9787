"""Saliency metrics against pysaliency and hand computations; the per-task metrics figure."""

import math

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import assert_suptitle_clear, assert_texts_inside, texts

from visionflow.experiments.saliency.figures import plot_saliency_metrics, plot_saliency_summary
from visionflow.metrics.saliency import METRICS, all_metrics, bce, cc, kl, nss, sim


@pytest.fixture(scope="module")
def pysal():
    import pysaliency.metrics

    return pysaliency.metrics


def random_maps(batch=4, size=(6, 5), seed=0):
    """Smooth-ish random maps in [0, 1], a few exact zeros in each target."""
    generator = torch.Generator().manual_seed(seed)
    pred = torch.rand(batch, 1, *size, generator=generator, dtype=torch.float64)
    target = torch.rand(batch, 1, *size, generator=generator, dtype=torch.float64) ** 2
    target[:, :, 0, :2] = 0
    return pred, target


def test_cc_matches_pysaliency(pysal):
    pred, target = random_maps()
    expected = [pysal.CC(p[0].numpy(), t[0].numpy()) for p, t in zip(pred, target, strict=True)]
    np.testing.assert_allclose(cc(pred, target).numpy(), expected, atol=1e-12)
    assert cc(target, target).tolist() == pytest.approx([1.0] * 4)
    assert cc(1 - target, target).tolist() == pytest.approx([-1.0] * 4)
    constant = torch.full_like(pred, 0.1)
    assert cc(constant, target).tolist() == [0.0] * 4
    assert pysal.CC(constant[0, 0].numpy(), target[0, 0].numpy()) == 0.0


def test_kl_matches_pysaliency_including_zeros_and_empty_maps(pysal):
    pred, target = random_maps(seed=1)
    pred[0, 0, 2, 2] = 0  # a zero prediction where the target has mass
    target[1] = 0  # an empty target: uniform density
    expected = [
        pysal.image_based_kl_divergence(p[0].numpy(), t[0].numpy())
        for p, t in zip(pred, target, strict=True)
    ]
    values = kl(pred, target)
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-10)
    assert values[0] > values[2]  # the zero costs about t * log(t / 1e-20)
    assert kl(target, target).tolist() == pytest.approx([0.0] * 4, abs=1e-12)
    assert kl(torch.full_like(pred, 0.3), torch.zeros_like(target)).tolist() == pytest.approx(
        [0.0] * 4, abs=1e-12
    )


def test_kl_of_float32_maps_with_zeros_is_finite():
    pred = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]], dtype=torch.float32)
    target = torch.tensor([[[0.5, 0.0], [0.0, 0.5]]], dtype=torch.float32)
    # t = (0.5, 0.5) on pixels where p = 1e-20 / (1 + 3e-20): KL = log(1e20 (1 + 3e-20) / 2)
    assert kl(pred, target).item() == pytest.approx(20 * math.log(10) - math.log(2), rel=1e-12)


def test_nss_matches_hand_computation_and_pysaliency(pysal):
    pred = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]])
    # mean 1/4, std sqrt(3)/4: z = sqrt(3) at (0, 0) and -1/sqrt(3) elsewhere.
    target = torch.tensor([[[0.9, 0.2], [0.5, 0.1]], [[0.9, 0.6], [0.0, 0.0]]])
    # Image 0: only (0, 0) is above 0.5 (0.5 is not); image 1: (0, 0) and (0, 1).
    values = nss(pred, target).tolist()
    assert values == pytest.approx([math.sqrt(3), (math.sqrt(3) - 1 / math.sqrt(3)) / 2])
    ys, xs = np.nonzero(target[1].numpy() > 0.5)
    assert values[1] == pytest.approx(pysal.NSS(pred[1].numpy(), xs, ys).mean())


def test_nss_of_constant_prediction_is_zero_and_of_empty_target_nan():
    target = torch.tensor([[[0.9, 0.2, 0.0]], [[0.0, 0.0, 0.3]]], dtype=torch.float64)
    constant = torch.full((2, 1, 3), 0.1, dtype=torch.float64)
    assert constant[0].std(correction=0).item() > 0  # rounding: float std is not exactly 0
    values = nss(constant, target)
    assert values[0].item() == 0.0
    assert math.isnan(values[1].item())  # no pixel above 0.5: no fixation to score


def test_sim_matches_hand_computation():
    pred = torch.tensor([[[0.0, 0.25], [0.75, 1.0]], [[0.0, 0.5], [0.5, 1.0]]])
    target = torch.tensor([[[0.2, 0.6], [0.2, 1.0]], [[0.4, 0.4], [0.4, 0.4]]])
    # Image 0: pred -> (0, 1/8, 3/8, 1/2), target -> (0, 1/3, 0, 2/3): 1/8 + 1/2.
    # Image 1: pred -> (0, 1/4, 1/4, 1/2), constant target -> uniform 1/4: 3 / 4.
    assert sim(pred, target).tolist() == pytest.approx([0.625, 0.75])
    assert sim(target, target).tolist() == pytest.approx([1.0, 1.0])
    disjoint = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]), torch.tensor([[[0.0, 0.0], [0.0, 1.0]]])
    assert sim(*disjoint).tolist() == [0.0]


def test_sim_ignores_offset_and_scale_of_either_map():
    pred, target = random_maps(seed=2)
    np.testing.assert_allclose(sim(0.2 + 0.5 * pred, target), sim(pred, target), atol=1e-12)


def test_bce_matches_torch_and_trains():
    pred, target = random_maps(seed=3)
    pred, target = pred.float(), target.float()
    expected = torch.nn.BCELoss()(pred, target)  # the original's batch loss
    assert bce(pred, target).mean().item() == pytest.approx(expected.item(), rel=1e-6)
    per_image = [torch.nn.BCELoss()(p, t).item() for p, t in zip(pred, target, strict=True)]
    assert bce(pred, target).tolist() == pytest.approx(per_image, rel=1e-6)

    logits = torch.zeros(2, 1, 3, 3, requires_grad=True)
    loss = bce(torch.sigmoid(logits), torch.ones(2, 1, 3, 3))
    assert loss.tolist() == pytest.approx([math.log(2)] * 2)
    loss.sum().backward()
    # d/dz -log(sigmoid(z)) = sigmoid(z) - 1 = -1/2, averaged over 9 pixels.
    assert torch.allclose(logits.grad, torch.full_like(logits, -0.5 / 9))


def test_bce_of_saturated_predictions_is_clamped_not_infinite():
    pred = torch.tensor([[[0.0, 1.0]]])
    target = torch.tensor([[[1.0, 1.0]]])
    assert bce(pred, target).item() == pytest.approx(50.0)  # (100 + 0) / 2


def test_gradients_flow_through_every_metric():
    pred, target = random_maps(seed=4)
    pred.requires_grad_(True)
    for name, value in all_metrics(pred, target).items():
        (grad,) = torch.autograd.grad(value.sum(), pred)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_batch_shapes_and_all_metrics():
    pred, target = random_maps(batch=3)
    values = all_metrics(pred, target)
    assert tuple(values) == METRICS
    assert all(v.shape == (3,) for v in values.values())
    squeezed = all_metrics(pred[:, 0], target)
    for name in METRICS:
        assert torch.equal(values[name], squeezed[name]), name
    assert torch.equal(values["kl"], kl(pred, target))
    assert values["bce"].dtype == torch.float32 and values["cc"].dtype == torch.float64


@pytest.mark.parametrize(
    ("pred_shape", "target_shape"),
    [
        ((2, 4, 4), (2, 4, 5)),
        ((2, 3, 4, 4), (2, 3, 4, 4)),
        ((4, 4), (4, 4)),
        ((2, 4, 4), (3, 4, 4)),
    ],
)
def test_bad_shapes_are_rejected(pred_shape, target_shape):
    with pytest.raises(ValueError, match="pred|target"):
        all_metrics(torch.rand(pred_shape), torch.rand(target_shape))


def test_constant_and_empty_maps_give_defined_values():
    constant = torch.full((2, 1, 4, 4), 0.5)
    empty = torch.zeros(2, 1, 4, 4)
    values = all_metrics(constant, empty)
    assert values["cc"].tolist() == [0.0, 0.0]
    assert values["sim"].tolist() == pytest.approx([1.0, 1.0])  # both uniform
    assert values["kl"].tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    assert values["bce"].tolist() == pytest.approx([math.log(2)] * 2)
    assert torch.isnan(values["nss"]).all()


def metrics_table(tasks):
    rows = [
        {"task": t, "bce": 0.3 + i / 10, "nss": 1.2, "cc": 0.6, "sim": 0.5, "kl": 0.8}
        for i, t in enumerate(tasks)
    ]
    return pd.DataFrame(rows)


def test_plot_saliency_metrics_draws_five_panels(tmp_path):
    few = metrics_table(["AIM", "SUN"])
    few.loc[1, "nss"] = float("nan")
    plot_saliency_metrics(few, tmp_path / "few.png", "saliency test metrics")
    many = metrics_table(["UniSal", "SAM", "DGII", "AIM", "SUN", "IKN", "GBVS", "BMS", "IMSIG"])
    plot_saliency_metrics(many, tmp_path / "many.png", "saliency test metrics")
    for name in ("few.png", "many.png"):
        height, width = mpimg.imread(tmp_path / name).shape[:2]
        assert width / height > 3  # five panels side by side
    assert sorted(p.name for p in tmp_path.iterdir()) == ["few.png", "many.png"]


def test_plot_saliency_metrics_rejects_bad_tables(tmp_path):
    with pytest.raises(ValueError, match=r"lacks columns \['kl'\]"):
        plot_saliency_metrics(metrics_table(["AIM"]).drop(columns="kl"), tmp_path / "a.png", "t")
    with pytest.raises(ValueError, match="no tasks"):
        plot_saliency_metrics(
            metrics_table([]).reindex(columns=["task", *METRICS]), tmp_path / "b.png", "t"
        )
    with pytest.raises(ValueError, match="more than once"):
        plot_saliency_metrics(metrics_table(["AIM", "AIM"]), tmp_path / "c.png", "t")
    assert not list(tmp_path.iterdir())


def test_the_original_second_kl_is_not_a_divergence():
    # hyper_tester.py / hnet/stages/tester.py (a58add7..10995b2): "KL" beside "KL custom" was
    # KLDivLoss(reduce="batchmean")(pred, y), i.e. reduction "mean" over pixels of
    # y * (log y - pred), the predicted probabilities taken as log-probabilities.
    torch.manual_seed(0)
    pred, target = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    with pytest.warns(UserWarning):
        loss = torch.nn.KLDivLoss(reduce="batchmean")
    assert loss.reduction == "mean"
    value = loss(pred, target)
    assert value == pytest.approx((target * (target.log() - pred)).mean().item(), rel=1e-5)
    assert value < 0  # a divergence cannot be negative
    same = loss(target, target)
    assert same != pytest.approx(0, abs=1e-3) and kl(target, target).abs().max() < 1e-9


def test_saliency_summary_names_each_point_by_the_settings_that_differ(tmp_path):
    grid = [{"train.lr": 0.001, "train.epochs": 5}, {"train.lr": 0.01, "train.epochs": 5}]
    table = metrics_table(["gp0", "gp1"]).rename(columns={"task": "point"})
    fig = plot_saliency_summary(table, grid, tmp_path / "summary.png")
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["gp0: train.lr=0.001", "gp1: train.lr=0.01"]  # the shared epochs left out
    assert [len(ax.patches) for ax in fig.axes] == [2] * 5  # a bar per point in each panel
    assert "Grid points: test metrics averaged over tasks" in texts(fig)
    assert_suptitle_clear(fig)
    assert_texts_inside(fig)


def test_saliency_summarize_writes_rounded_means_and_named_points(tmp_path):
    from visionflow.cli import main

    tables = []
    for point, value in enumerate((0.4, 0.6)):
        table = metrics_table(["AIM", "SUN"]).assign(images=5, cc=np.float32(value).item())
        tables.append(tmp_path / f"gp{point}.csv")
        table.to_csv(tables[-1], index=False)
    grid = '[{"train/lr": 0.001}, {"train/lr": 0.003}]'
    out, figure = tmp_path / "summary.csv", tmp_path / "summary.png"
    assert main(["saliency", "summarize", *map(str, tables), "--grid", grid,
                 "--out", str(out), "--figure", str(figure)]) == 0  # fmt: skip
    summary = out.read_text().splitlines()
    assert summary[0] == "point,train/lr,bce,nss,cc,sim,kl"
    assert summary[1:] == ["gp0,0.001,0.35,1.2,0.4,0.5,0.8", "gp1,0.003,0.35,1.2,0.6,0.5,0.8"]
