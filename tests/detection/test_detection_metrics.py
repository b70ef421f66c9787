"""Detection metrics: P/R/F1 over score x IoU thresholds, COCO mAP, their figures."""

import time

import numpy as np
import pandas as pd
import pytest
from helpers import prediction_table

from visionflow.metrics.detection import (
    GRID_COLUMNS,
    coco_map,
    match_detections,
    prf_grid,
    prf_per_class,
)

LABELS = ["thistle", "dock"]


def truth_table(rows):
    """Annotation-table rows from (task, frame, label, box or None)."""
    records = [
        {"task": task, "frame": frame, "label": label,
         **dict(zip(["xmin", "ymin", "xmax", "ymax"], box or [np.nan] * 4, strict=True))}
        for task, frame, label, box in rows
    ]  # fmt: skip
    return pd.DataFrame(records).astype({"frame": "int64"})


A = [0.0, 0.0, 10.0, 10.0]
B = [20.0, 20.0, 40.0, 30.0]
TRUTH = truth_table([("t", 0, "thistle", A), ("t", 0, "dock", B), ("t", 1, "thistle", A)])


def cell(grid, score, iou):
    row = grid[(grid["score_threshold"] == score) & (grid["iou_threshold"] == iou)]
    assert len(row) == 1
    return row.iloc[0]


def counts(grid, score=0.0, iou=0.5):
    row = cell(grid, score, iou)
    return int(row["tp"]), int(row["fp"]), int(row["fn"])


def test_perfect_predictions_score_one_everywhere():
    predictions = prediction_table(
        [("t", 0, "thistle", 0.9, A), ("t", 0, "dock", 0.8, B), ("t", 1, "thistle", 0.7, A)]
    )
    grid = prf_grid(predictions, TRUTH, [0.0, 0.5], [0.5, 0.9])
    assert list(grid.columns) == GRID_COLUMNS
    assert len(grid) == 4
    assert (grid[["precision", "recall", "f1"]] == 1.0).all().all()
    assert (grid["tp"] == 3).all() and (grid[["fp", "fn"]] == 0).all().all()


def test_duplicate_detection_is_one_false_positive():
    predictions = prediction_table(
        [("t", 1, "thistle", 0.9, A), ("t", 1, "thistle", 0.8, [0.0, 0.0, 10.0, 9.0])]
    )
    assert counts(prf_grid(predictions, TRUTH, [0.0], [0.5])) == (1, 1, 2)
    # the higher score takes the box even when the duplicate overlaps it better
    hits = match_detections(
        prediction_table([("t", 1, "thistle", 0.6, A), ("t", 1, "thistle", 0.9, [0, 0, 10, 9.0])]),
        TRUTH,
        [0.5],
    )
    assert hits[:, 0].tolist() == [False, True]


def test_wrong_class_is_a_false_positive_and_a_miss():
    predictions = prediction_table([("t", 1, "dock", 0.9, A)])
    grid = prf_grid(predictions, truth_table([("t", 1, "thistle", A)]), [0.0], [0.5])
    assert counts(grid) == (0, 1, 1)
    assert cell(grid, 0.0, 0.5)["f1"] == 0.0


def test_iou_threshold_is_inclusive():
    # [0,0,10,10] vs [0,0,10,5]: intersection 50, union 100 -> IoU exactly 0.5
    predictions = prediction_table([("t", 1, "thistle", 0.9, [0.0, 0.0, 10.0, 5.0])])
    grid = prf_grid(predictions, truth_table([("t", 1, "thistle", A)]), [0.0], [0.5, 0.51])
    assert counts(grid, iou=0.5) == (1, 0, 0)
    assert counts(grid, iou=0.51) == (0, 1, 1)


def test_detections_on_background_frames_are_false_positives():
    truth = truth_table([("t", 0, "thistle", A), ("t", 5, None, None)])
    predictions = prediction_table([("t", 0, "thistle", 0.9, A), ("t", 5, "dock", 0.9, B)])
    grid = prf_grid(predictions, truth, [0.0], [0.5])
    assert counts(grid) == (1, 1, 0)
    assert cell(grid, 0.0, 0.5)["precision"] == 0.5
    assert cell(grid, 0.0, 0.5)["recall"] == 1.0
    assert cell(grid, 0.0, 0.5)["f1"] == pytest.approx(2 / 3)


def test_score_threshold_filters_detections():
    predictions = prediction_table(
        [("t", 0, "thistle", 0.9, A), ("t", 0, "dock", 0.4, B), ("t", 1, "thistle", 0.2, B)]
    )
    grid = prf_grid(predictions, TRUTH, [0.0, 0.4, 0.5, 0.95], [0.5])
    assert counts(grid, score=0.0) == (2, 1, 1)
    assert counts(grid, score=0.4) == (2, 0, 1)  # a score equal to the threshold is kept
    assert counts(grid, score=0.5) == (1, 0, 2)
    assert counts(grid, score=0.95) == (0, 0, 3)
    nothing = cell(grid, 0.95, 0.5)
    assert (nothing["precision"], nothing["recall"], nothing["f1"]) == (0.0, 0.0, 0.0)
    assert cell(grid, 0.5, 0.5)["precision"] == 1.0
    assert cell(grid, 0.5, 0.5)["recall"] == pytest.approx(1 / 3)


def test_frames_are_told_apart_by_task():
    truth = truth_table([("a", 0, "thistle", A), ("b", 0, None, None)])
    predictions = prediction_table([("b", 0, "thistle", 0.9, A)])
    assert counts(prf_grid(predictions, truth, [0.0], [0.5])) == (0, 1, 1)


def test_detection_on_an_unknown_frame_is_an_error():
    predictions = prediction_table([("t", 7, "thistle", 0.9, A)])
    with pytest.raises(ValueError, match="task 't' frame 7"):
        prf_grid(predictions, TRUTH, [0.0], [0.5])
    with pytest.raises(ValueError, match=r"IoU thresholds must be in \(0, 1\]"):
        prf_grid(predictions.iloc[:0], TRUTH, [0.0], [0.0])


def reference_counts(predictions, truth, score, iou):
    """Plain-loop greedy matching (per frame and class, best free IoU) for cross-checking."""
    tp = fp = 0
    kept = predictions[predictions["score"] >= score].sort_values("score", ascending=False)
    gt = truth[truth["label"].notna()]
    taken = set()
    for det in kept.itertuples():
        best, best_iou = None, -1.0
        for box in gt.itertuples():
            if (box.task, box.frame, box.label) != (det.task, det.frame, det.label):
                continue
            overlap = box_iou_by_hand([det.xmin, det.ymin, det.xmax, det.ymax],
                                [box.xmin, box.ymin, box.xmax, box.ymax])  # fmt: skip
            if box.Index not in taken and overlap > best_iou:
                best, best_iou = box.Index, overlap
        if best is not None and best_iou >= iou:
            taken.add(best)
            tp += 1
        else:
            fp += 1
    return tp, fp, len(gt) - tp


def box_iou_by_hand(a, b):
    """IoU of two xyxy boxes by hand."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def random_tables(frames, seed):
    """Random truth (some background frames) and jittered, duplicated and spurious detections."""
    rng = np.random.default_rng(seed)
    truth, predictions = [], []
    for frame in range(frames):
        n = int(rng.integers(0, 5))
        if n == 0:
            truth.append(("t", frame, None, None))
        for _ in range(n):
            x, y, w, h = *rng.uniform(0, 200, 2), *rng.uniform(10, 60, 2)
            label = LABELS[int(rng.integers(2))]
            truth.append(("t", frame, label, [x, y, x + w, y + h]))
            for _ in range(int(rng.integers(0, 3))):
                dx = rng.normal(0, 4, 4)
                box = [x + dx[0], y + dx[1], x + w + dx[2], y + h + dx[3]]
                predictions.append(("t", frame, label, float(rng.uniform()), box))
        for _ in range(int(rng.integers(0, 2))):
            x, y = rng.uniform(0, 200, 2)
            label = LABELS[int(rng.integers(2))]
            predictions.append(("t", frame, label, float(rng.uniform()), [x, y, x + 30, y + 30]))
    return prediction_table(predictions), truth_table(truth)


def test_grid_matches_a_plain_loop_reference():
    predictions, truth = random_tables(40, seed=1)
    grid = prf_grid(predictions, truth, [0.0, 0.3, 0.7], [0.3, 0.5, 0.8])
    for score in (0.0, 0.3, 0.7):
        for iou in (0.3, 0.5, 0.8):
            assert counts(grid, score, iou) == reference_counts(predictions, truth, score, iou)


def test_per_class_grid_counts_each_class_alone_and_sums_to_the_pooled_one():
    """As the original's DetectionMetrics: per class TP/FP/FN (here with one-to-one matching)."""
    predictions, truth = random_tables(40, seed=4)
    scores, ious = [0.0, 0.5], [0.5, 0.75]
    per_class = prf_per_class(predictions, truth, LABELS, scores, ious)
    assert list(per_class.columns) == ["label", *GRID_COLUMNS]
    assert per_class["label"].tolist() == ["thistle"] * 4 + ["dock"] * 4
    for label in LABELS:
        mine = per_class[per_class["label"] == label]
        for score in scores:
            for iou in ious:
                alone = reference_counts(predictions[predictions["label"] == label],
                                         truth[truth["label"] == label], score, iou)  # fmt: skip
                assert counts(mine, score, iou) == alone
    pooled = prf_grid(predictions, truth, scores, ious)
    summed = per_class.groupby(["score_threshold", "iou_threshold"], sort=False)[["tp", "fp", "fn"]]
    assert (summed.sum().to_numpy() == pooled[["tp", "fp", "fn"]].to_numpy()).all()


def test_grid_of_2000_frames_and_10_by_10_thresholds_is_fast():
    predictions, truth = random_tables(2000, seed=2)
    start = time.perf_counter()
    grid = prf_grid(predictions, truth, np.linspace(0, 0.9, 10), np.linspace(0.5, 0.95, 10))
    assert time.perf_counter() - start < 5.0
    assert len(grid) == 100
    assert (grid["tp"] + grid["fn"] == truth["label"].notna().sum()).all()
    # more permissive thresholds never lose true positives
    tp = grid.pivot(index="score_threshold", columns="iou_threshold", values="tp").to_numpy()
    assert (np.diff(tp, axis=0) <= 0).all() and (np.diff(tp, axis=1) <= 0).all()
    assert tp[0, 0] > 0


def test_coco_map_of_perfect_predictions_is_one():
    predictions = prediction_table(
        [("t", 0, "thistle", 0.9, A), ("t", 0, "dock", 0.8, B), ("t", 1, "thistle", 0.7, A)]
    )
    result = coco_map(predictions, TRUTH, LABELS)
    assert result["map"] == pytest.approx(1.0)
    assert result["map_50"] == pytest.approx(1.0)
    assert result["ap_per_class"] == {"thistle": pytest.approx(1.0), "dock": pytest.approx(1.0)}


def test_coco_map_of_shifted_boxes_lies_between_zero_and_one():
    shift = [2.0, 0.0, 2.0, 0.0]  # IoU 8/12 with A: counted at 0.5, missed at 0.75
    shifted = [a + s for a, s in zip(A, shift, strict=True)]
    predictions = prediction_table([("t", 1, "thistle", 0.9, shifted)])
    result = coco_map(predictions, truth_table([("t", 1, "thistle", A)]), LABELS)
    assert result["map_50"] == pytest.approx(1.0)
    assert result["map_75"] == pytest.approx(0.0)
    assert 0.0 < result["map"] < 1.0
    assert result["ap_per_class"]["dock"] is None  # no boxes of the class: undefined


def test_coco_map_counts_frames_without_detections():
    predictions = prediction_table([("t", 0, "thistle", 0.9, A), ("t", 0, "dock", 0.8, B)])
    result = coco_map(predictions, TRUTH, LABELS)  # frame 1's thistle is never detected
    assert result["ap_per_class"]["dock"] == pytest.approx(1.0)
    assert result["ap_per_class"]["thistle"] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="not among the classes"):
        coco_map(predictions, TRUTH, ["thistle"])


def test_heatmap_cells_without_detections_stay_blank_for_precision_only(tmp_path):
    from visionflow.experiments.detection.figures import plot_prf_heatmaps

    predictions = prediction_table([("t", 0, "thistle", 0.6, A)])  # one detection, score 0.6
    grid = prf_grid(predictions, TRUTH, [0.5, 0.9], [0.5])  # none left at score 0.9
    fig = plot_prf_heatmaps(grid, tmp_path / "prf.png", "variant a")
    precision, recall, f1 = fig.axes[:3]
    shown = {ax.get_title(): {(t.get_position()[1], t.get_text()) for t in ax.texts}
             for ax in (precision, recall, f1)}  # fmt: skip
    assert shown["precision"] == {(0, "1.00")}  # row 1 (score 0.9) is blank, not 0.00
    assert precision.images[0].get_array().mask[1, 0]
    assert shown["recall"] == {(0, "0.33"), (1, "0.00")}  # 3 true boxes; none found is a real 0
    assert shown["f1"] == {(0, "0.50"), (1, "0.00")}
    assert fig._suptitle.get_text().endswith("; blank: undefined")


def test_heatmaps_and_comparison_write_pngs(tmp_path):
    import matplotlib.image as mpimg

    from visionflow.experiments.detection.figures import (
        plot_detection_comparison,
        plot_prf_heatmaps,
    )

    predictions, truth = random_tables(30, seed=3)
    grid = prf_grid(predictions, truth, [0.0, 0.5, 0.9], [0.5, 0.75])
    fig = plot_prf_heatmaps(grid, tmp_path / "prf.png", "variant a")
    height, width = mpimg.imread(tmp_path / "prf.png").shape[:2]
    assert width / height > 2.5  # three panels side by side
    assert [ax.get_title() for ax in fig.axes] == ["precision", "recall", "f1"]
    assert len(fig.axes[2].texts) == 6  # a value per score x IoU cell
    maps = {"a": coco_map(predictions, truth, LABELS)}
    plot_detection_comparison({"a": grid}, maps, tmp_path / "one.png")
    maps["b"] = maps["a"] | {"map": None}
    fig = plot_detection_comparison({"a": grid, "b": grid}, maps, tmp_path / "two.png")
    assert mpimg.imread(tmp_path / "two.png").shape[1] > mpimg.imread(tmp_path / "one.png").shape[1]
    [ax] = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert "n/a" in [t.get_text() for t in ax.texts]  # b's undefined mAP is marked
    with pytest.raises(ValueError, match="no IoU threshold 0.5"):
        plot_detection_comparison({"a": grid[grid["iou_threshold"] != 0.5]}, {"a": maps["a"]},
                                  tmp_path / "bad.png")  # fmt: skip
    assert not (tmp_path / "bad.png").exists()


def test_per_class_curves_draw_a_line_per_score_over_iou(tmp_path):
    from visionflow.experiments.detection.figures import plot_prf_curves

    predictions, truth = random_tables(30, seed=5)
    per_class = prf_per_class(predictions, truth, LABELS, [0.5, 0.7, 0.9], [0.5, 0.6, 0.7, 0.8])
    fig = plot_prf_curves(per_class, tmp_path / "curves.png", "variant a: P/R/F1 per class")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [f"{c}: {m}" for c in LABELS for m in ("precision", "recall", "f1")]
    assert fig._suptitle.get_text() == "variant a: P/R/F1 per class"
    recall = fig.axes[4]  # dock's recall
    assert [line.get_label() for line in recall.lines] == ["score 0.5", "score 0.7", "score 0.9"]
    dock = per_class[(per_class["label"] == "dock") & (per_class["score_threshold"] == 0.7)]
    assert recall.lines[1].get_xdata().tolist() == [0.5, 0.6, 0.7, 0.8]
    assert recall.lines[1].get_ydata().tolist() == dock["recall"].tolist()
    assert recall.get_xlabel() == "IoU threshold"
    assert (tmp_path / "curves.png").is_file()
    nine = [round(0.1 * k, 1) for k in range(1, 10)]  # more scores than colours
    fig = plot_prf_curves(prf_per_class(predictions, truth, LABELS, nine, [0.5, 0.7]),
                          tmp_path / "nine.png", "nine scores")  # fmt: skip
    styles = {(line.get_color(), line.get_linestyle()) for line in fig.axes[0].lines}
    assert len(styles) == 9  # every score threshold tells apart from the others
