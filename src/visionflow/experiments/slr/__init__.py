"""SLR: torchvision video classifiers trained on WLASL splits, tested with frames in order and
shuffled. Runs are the entries of the `slr.runs` queue."""

# Keys of the `slr` config section every run of the queue computes with.
RUN_KEYS = ("pretrained", "save_every", "workers", "devices", "nodes", "strategy")
