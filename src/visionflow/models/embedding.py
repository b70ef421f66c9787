"""Frame embeddings for feature-space splits: ImageNet ResNet-18 features, 512 per image."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision

from visionflow.io import BadInputError, safe_torch_load

log = logging.getLogger(__name__)


def resnet18_embedder(weights: str | Path | None) -> torch.nn.Module:
    """ResNet-18 without its classifier: ImageNet weights from `weights`, else seeded random."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.resnet18(weights=None)
    if weights is None:
        log.warning("no ResNet-18 weights given; embedding frames with a random-init backbone")
    else:
        state = safe_torch_load(weights)
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise BadInputError(weights, f"not a torchvision ResNet-18 state dict ({exc})") from exc
    model.fc = torch.nn.Identity()
    return model.eval()
