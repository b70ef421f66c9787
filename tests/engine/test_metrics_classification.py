import math

import pytest
import torch

from visionflow.metrics.classification import per_class_accuracy, topk_correct

# 4 samples, 3 classes. Ranking of classes per row (best first):
#   row 0: 0, 1, 2   target 0 -> top1 hit
#   row 1: 2, 0, 1   target 0 -> top2 hit
#   row 2: 1, 2, 0   target 0 -> top3 hit
#   row 3: 1, 0, 2   target 1 -> top1 hit
LOGITS = torch.tensor(
    [
        [3.0, 2.0, 1.0],
        [2.0, 1.0, 3.0],
        [1.0, 3.0, 2.0],
        [2.0, 3.0, 1.0],
    ]
)
TARGET = torch.tensor([0, 0, 0, 1])


def test_topk_correct_hand_computed():
    counts = topk_correct(LOGITS, TARGET, ks=(1, 2, 3))
    assert counts.dtype == torch.int64
    assert counts.tolist() == [2, 3, 4]


def test_topk_correct_clamps_k_to_num_classes():
    assert topk_correct(LOGITS, TARGET).tolist() == [2, 4]  # default (1, 5), 5 -> 3
    assert topk_correct(LOGITS, TARGET, ks=(10, 1)).tolist() == [4, 2]


def test_topk_correct_no_grad_and_empty_batch():
    logits = LOGITS.clone().requires_grad_(True)
    counts = topk_correct(logits, TARGET, ks=(1,))
    assert not counts.requires_grad
    empty = topk_correct(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    assert empty.tolist() == [0, 0]


def test_topk_correct_rejects_bad_input():
    with pytest.raises(ValueError):
        topk_correct(LOGITS, TARGET, ks=(0,))
    with pytest.raises(ValueError):
        topk_correct(LOGITS, TARGET[:2])


def test_per_class_accuracy_with_missing_class():
    acc = per_class_accuracy(LOGITS, TARGET, num_classes=4)
    assert acc.shape == (4,)
    # class 0: 1 of 3 correct, class 1: 1 of 1, classes 2 and 3: no samples
    assert acc[0].item() == pytest.approx(1 / 3)
    assert acc[1].item() == 1.0
    assert math.isnan(acc[2].item())
    assert math.isnan(acc[3].item())


def test_per_class_accuracy_rejects_out_of_range_labels():
    with pytest.raises(ValueError):
        per_class_accuracy(LOGITS, torch.tensor([0, 0, 0, 5]), num_classes=3)
    with pytest.raises(ValueError):
        per_class_accuracy(LOGITS, torch.tensor([0, -1, 0, 1]), num_classes=3)
