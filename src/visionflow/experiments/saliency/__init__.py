"""Saliency: a hypernetwork that generates a MobileNetV2 saliency network's decoder per task,
trained stage by stage over a grid of settings (kdsalbox's hypernetwork framework)."""

# The training stages, in pipeline order (`saliency.skip` leaves some out).
STAGES = (
    "pretrain_weights",
    "pretrain_one_task",
    "train_catchup",
    "train",
    "train_generalization_task",
)
# Losses of the map stages (BCE on logits, the others on sigmoid probabilities), and those
# pretrain_weights can regress the generated weights with.
REGRESSION_LOSSES = ("l1", "mse", "huber")
LOSSES = ("bce", *REGRESSION_LOSSES)
# The choices of each step of the original's map processing (`none` leaves the map as it is).
PROCESSING = {
    "histogram_matching": ("none", "equalization", "biased"),
    "do_smoothing": ("none", "custom", "proportional"),
    "center_prior": ("none", "proportional_add", "proportional_mult"),
    "scale_output": ("none", "min-max", "normalized", "log-density"),
}
# Keys of the `saliency` config section that say how jobs run or which points exist.
JOB_KEYS = ("threads", "mem_mb", "runtime", "workers", "grid", "demo")


def task_weights_path(weights_dir: str, task: str) -> str:
    """pretrain_weights' file of `task`: `<dir>/<task>.pt`, else the original's student export
    `<dir>/<TASK>/exported/<task lower>.pth` with the folder's case ignored (the original
    looks for `<task upper>`, which misses its own `UniSal` folder on case-sensitive disks)."""
    from pathlib import Path

    folder, own = Path(weights_dir), Path(weights_dir) / f"{task}.pt"
    students = folder.iterdir() if folder.is_dir() and not own.exists() else ()
    for candidate in sorted(students):
        export = candidate / "exported" / f"{task.lower()}.pth"
        if candidate.name.lower() == task.lower() and export.is_file():
            return str(export)
    return str(own)
