"""Checks before cluster hours: what the workflow checks at start-up (`startup`, no torch) and
what `visionflow preflight` adds (weights loaded, models stepped, memory, disk and GPU hours)."""

from visionflow.experiments import EXPERIMENTS

STUDIES = (*EXPERIMENTS, "analysis")  # what the config's `experiments` chooses from
# The raw dataset each experiment reads (the analyses read the grasp and CORnet stores).
DATASETS = {
    "cornet": "miniimagenet",
    "grasp": "jacquard",
    "slr": "wlasl",
    "detection": "cvat",
    "saliency": "saliency",
}
