"""Saliency: a hypernetwork that generates a MobileNetV2 saliency network's decoder per task,
trained stage by stage over a grid of settings (kdsalbox's hypernetwork framework)."""

# The training stages, in pipeline order (`saliency.skip` leaves some out).
STAGES = ("pretrain_weights", "pretrain_one_task", "train_catchup", "train")
# Keys of the `saliency` config section that say how jobs run or which points exist.
JOB_KEYS = ("threads", "mem_mb", "runtime", "workers", "grid", "demo")
