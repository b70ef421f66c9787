"""Top-k with ties and absent classes, confusion-derived scores, permutation entropy."""

import numpy as np
import pytest
import torch

from visionflow.experiments.slr.clips import shuffle_permutation
from visionflow.metrics.classification import (
    confusion_counts,
    precision_recall_f1,
    target_rank,
    topk_accuracy,
)
from visionflow.metrics.entropy import shannon_entropy

# 4 classes; class 3 never occurs as a target.
LOGITS = torch.tensor(
    [
        [0.9, 0.1, 0.0, 0.0],  # target 0: rank 0
        [0.5, 0.5, 0.0, 0.0],  # target 1: tie with class 0, which wins -> rank 1
        [0.2, 0.3, 0.1, 0.4],  # target 2: rank 3
        [0.0, 0.0, 0.0, 0.0],  # target 2: all tied, classes 0, 1 ahead -> rank 2
        [0.1, 0.6, 0.2, 0.1],  # target 1: rank 0
    ]
)
TARGET = torch.tensor([0, 1, 2, 2, 1])


def test_rank_breaks_ties_towards_the_lower_class():
    assert target_rank(LOGITS, TARGET).tolist() == [0, 1, 3, 2, 0]


def test_topk_accuracy_by_hand():
    per_instance, per_class = topk_accuracy(LOGITS, TARGET, 4, ks=(1, 2, 3))
    assert per_instance == pytest.approx({"top1": 2 / 5, "top2": 3 / 5, "top3": 4 / 5})
    # class rates: 0 -> 1/1, 1 -> 1/2 (top1), 2 -> 0/2; class 3 absent, not averaged.
    assert per_class["top1"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert per_class["top2"] == pytest.approx((1 + 1 + 0) / 3)
    assert per_class["top3"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_confusion_and_precision_recall_f1():
    matrix = confusion_counts(LOGITS.argmax(dim=1), TARGET, 4)
    assert matrix.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]]
    scores = precision_recall_f1(matrix)
    np.testing.assert_allclose(scores[0], [1 / 3, 1.0, 0.5])
    np.testing.assert_allclose(scores[1], [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(scores[2:], 0.0)  # never right / never predicted


def test_entropy_matches_the_published_permutations():
    # The permutation SLR reports for 16 frames, and its entropy in the original results.
    published = [6, 3, 0, 7, 10, 15, 2, 12, 14, 9, 8, 5, 4, 13, 11, 1]
    assert shuffle_permutation(16, 42) == published
    assert shannon_entropy(published) == pytest.approx(3.3278, abs=1e-4)
    assert shannon_entropy(shuffle_permutation(32, 42)) == pytest.approx(4.2889, abs=1e-4)


def test_entropy_by_hand():
    assert shannon_entropy(range(8)) == 0.0
    assert shannon_entropy([7, 6, 5, 4, 3, 2, 1, 0]) == 0.0  # every step is -1 mod 8
    # steps of [0, 2, 1, 3]: 2, 3, 2, 1 (wrapping 3 -> 0) -> {2: 1/2, 3: 1/4, 1: 1/4}
    assert shannon_entropy([0, 2, 1, 3]) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="permutation of 0..n-1"):
        shannon_entropy([0, 0, 1])
