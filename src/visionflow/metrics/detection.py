"""Detection metrics: precision/recall/F1 over score x IoU thresholds, and COCO mAP."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torchvision.ops import box_iou

BOX = ["xmin", "ymin", "xmax", "ymax"]
FRAME = ["task", "frame"]
PREDICTION_COLUMNS = [*FRAME, "label", "score", *BOX]
TRUTH_COLUMNS = [*FRAME, "label", *BOX]
GRID_COLUMNS = [
    "score_threshold",
    "iou_threshold",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "f1",
]


def _require(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = sorted(set(columns) - set(table.columns))
    if missing:
        raise ValueError(f"{name} table lacks columns {missing}")


def _check_frames(predictions: pd.DataFrame, truth: pd.DataFrame) -> None:
    """Every detection must be on a frame the truth table lists (its frame set is the test set)."""
    known = pd.MultiIndex.from_frame(truth[FRAME].drop_duplicates())
    unknown = ~pd.MultiIndex.from_frame(predictions[FRAME]).isin(known)
    if unknown.any():
        task, frame = predictions.loc[unknown, FRAME].iloc[0]
        raise ValueError(
            f"{int(unknown.sum())} detections are on frames missing from the truth table, "
            f"e.g. task {task!r} frame {frame}"
        )


def match_detections(
    predictions: pd.DataFrame, truth: pd.DataFrame, iou_thresholds: Sequence[float]
) -> np.ndarray:
    """Per detection and IoU threshold, whether it is a true positive (bool, (N, T)).

    Per frame and class, detections in descending score take the unmatched ground-truth box of
    highest IoU, if that IoU >= the threshold; each box is matched at most once.
    """
    _require(predictions, PREDICTION_COLUMNS, "prediction")
    _require(truth, TRUTH_COLUMNS, "truth")
    _check_frames(predictions, truth)
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or not np.all((thresholds > 0) & (thresholds <= 1)):
        raise ValueError(f"IoU thresholds must be in (0, 1], got {list(iou_thresholds)}")
    boxes = truth[truth["label"].notna()]
    keys = ["task", "frame", "label"]
    # A stable sort keeps tied scores in table order, so results do not depend on the sort kind.
    order = np.argsort(-predictions["score"].to_numpy(np.float64), kind="stable")
    ranked = predictions.iloc[order]
    gt_groups = boxes.groupby(keys, sort=False).indices
    pred_boxes = torch.as_tensor(ranked[BOX].to_numpy(np.float64, copy=True))
    gt_boxes = torch.as_tensor(boxes[BOX].to_numpy(np.float64, copy=True))
    matched_ranked = np.zeros((len(ranked), len(thresholds)), dtype=bool)
    for key, rows in ranked.reset_index(drop=True).groupby(keys, sort=False).indices.items():
        gt_rows = gt_groups.get(key)
        if gt_rows is not None:
            iou = box_iou(pred_boxes[rows], gt_boxes[gt_rows]).numpy()
            matched_ranked[rows] = _greedy(iou, thresholds)
    matched = np.empty_like(matched_ranked)
    matched[order] = matched_ranked
    return matched


def _greedy(iou: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching of score-ranked rows of `iou` to columns, per threshold."""
    taken = np.zeros((len(thresholds), iou.shape[1]), dtype=bool)
    hits = np.zeros((iou.shape[0], len(thresholds)), dtype=bool)
    columns = np.arange(len(thresholds))
    for row, overlaps in enumerate(iou):
        free = np.where(taken, -1.0, overlaps)
        best = free.argmax(axis=1)
        hit = free[columns, best] >= thresholds
        taken[columns[hit], best[hit]] = True
        hits[row] = hit
    return hits


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator > 0)


def _prf_table(
    hits: np.ndarray,
    scores: np.ndarray,
    n_truth: int,
    score_thresholds: Sequence[float],
    iou_thresholds: Sequence[float],
) -> pd.DataFrame:
    """The grid of TP/FP/FN, precision, recall and F1 of detections with these hits."""
    kept = scores[None, :] >= np.asarray(score_thresholds, dtype=np.float64)[:, None]
    tp = kept.astype(np.int64) @ hits.astype(np.int64)  # (S, T)
    fp = kept.sum(axis=1, keepdims=True) - tp
    fn = n_truth - tp
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    score_grid, iou_grid = np.meshgrid(score_thresholds, iou_thresholds, indexing="ij")
    columns = [score_grid, iou_grid, tp, fp, fn, precision, recall, f1]
    return pd.DataFrame(
        {name: values.ravel() for name, values in zip(GRID_COLUMNS, columns, strict=True)}
    ).astype({"score_threshold": float, "iou_threshold": float})


def _check_grid(score_thresholds: Sequence[float], iou_thresholds: Sequence[float]) -> None:
    if len(score_thresholds) == 0 or len(iou_thresholds) == 0:
        raise ValueError("need at least one score threshold and one IoU threshold")


def prf_grid(
    predictions: pd.DataFrame,
    truth: pd.DataFrame,
    score_thresholds: Sequence[float],
    iou_thresholds: Sequence[float],
) -> pd.DataFrame:
    """Pooled TP/FP/FN, precision, recall and F1 for every (score, IoU) threshold pair.

    Detections with score >= the score threshold count; truth rows without a label are
    background frames (no boxes; detections there are FP). Precision is 0 when nothing is
    detected, recall 0 when there is no ground truth, F1 0 when precision + recall is 0.
    """
    _check_grid(score_thresholds, iou_thresholds)
    hits = match_detections(predictions, truth, iou_thresholds)
    scores = predictions["score"].to_numpy(np.float64)
    n_truth = int(truth["label"].notna().sum())
    return _prf_table(hits, scores, n_truth, score_thresholds, iou_thresholds)


def prf_per_class(
    predictions: pd.DataFrame,
    truth: pd.DataFrame,
    labels: Sequence[str],
    score_thresholds: Sequence[float],
    iou_thresholds: Sequence[float],
) -> pd.DataFrame:
    """The grid of `prf_grid` per class (column `label`, in `labels` order), as the
    original's per-class metrics: a class's detections against its boxes."""
    _check_grid(score_thresholds, iou_thresholds)
    hits = match_detections(predictions, truth, iou_thresholds)
    scores = predictions["score"].to_numpy(np.float64)
    detected, boxes = predictions["label"].to_numpy(), truth["label"]
    tables = []
    for label in labels:
        mine = detected == label
        n_truth = int((boxes == label).sum())
        table = _prf_table(hits[mine], scores[mine], n_truth, score_thresholds, iou_thresholds)
        tables.append(table.assign(label=label))
    per_class = pd.concat(tables, ignore_index=True)
    return per_class[["label", *GRID_COLUMNS]]


def _per_frame(
    table: pd.DataFrame, frames: pd.MultiIndex, ids: dict[str, int], scored: bool
) -> list[dict[str, torch.Tensor]]:
    """One torchmetrics dict (boxes, labels, optionally scores) per frame of `frames`, in order."""
    position = frames.get_indexer(pd.MultiIndex.from_frame(table[FRAME]))
    order = np.argsort(position, kind="stable")
    cuts = np.searchsorted(position[order], np.arange(1, len(frames))).tolist()
    boxes = torch.as_tensor(table[BOX].to_numpy(np.float32)[order])
    labels = torch.as_tensor(table["label"].map(ids).to_numpy(np.int64)[order])
    parts = {"boxes": boxes.tensor_split(cuts), "labels": labels.tensor_split(cuts)}
    if scored:
        scores = torch.as_tensor(table["score"].to_numpy(np.float32)[order])
        parts["scores"] = scores.tensor_split(cuts)
    return [dict(zip(parts, values, strict=True)) for values in zip(*parts.values(), strict=True)]


def _label_ids(tables: Sequence[pd.DataFrame], labels: Sequence[str]) -> dict[str, int]:
    """Class id (index + 1) per name; a label outside `labels` is an error."""
    ids = {name: index + 1 for index, name in enumerate(labels)}
    for table in tables:
        unknown = set(table["label"].dropna()) - set(ids)
        if unknown:
            raise ValueError(f"labels {sorted(unknown)} are not among the classes {list(labels)}")
    return ids


def _value(metric: torch.Tensor) -> float | None:
    """A torchmetrics value as a float; its -1 ('undefined', e.g. no boxes of a class) as None."""
    value = float(metric)
    return None if value == -1 else value


def coco_map(
    predictions: pd.DataFrame, truth: pd.DataFrame, labels: Sequence[str]
) -> dict[str, object]:
    """COCO mAP (IoU 0.50:0.95), mAP@50, mAP@75 and AP per class over every truth frame.

    Frames without detections still count (their boxes are all missed); undefined values are None.
    """
    from torchmetrics.detection import MeanAveragePrecision

    _require(predictions, PREDICTION_COLUMNS, "prediction")
    _require(truth, TRUTH_COLUMNS, "truth")
    _check_frames(predictions, truth)
    ids = _label_ids([predictions, truth], labels)
    frames = pd.MultiIndex.from_frame(truth[FRAME].drop_duplicates())
    metric = MeanAveragePrecision(
        box_format="xyxy", iou_type="bbox", class_metrics=True, backend="pycocotools"
    )
    metric.update(
        _per_frame(predictions, frames, ids, scored=True),
        _per_frame(truth[truth["label"].notna()], frames, ids, scored=False),
    )
    result = metric.compute()
    per_class = dict.fromkeys(labels)
    classes = result["classes"].reshape(-1).tolist()
    for class_id, ap in zip(classes, result["map_per_class"].reshape(-1), strict=True):
        per_class[labels[class_id - 1]] = _value(ap)
    summary: dict[str, object] = {key: _value(result[key]) for key in ("map", "map_50", "map_75")}
    summary["ap_per_class"] = per_class
    return summary
