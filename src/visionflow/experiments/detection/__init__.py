"""obdb: Faster R-CNN detectors trained on CVAT-annotated frames, their optimiser settings
searched with Optuna, scored by P/R/F1 and COCO mAP, and turned back into CVAT annotations."""

# Keys of the `detection` config section every variant's runs compute or execute with.
RUN_KEYS = (
    "image_size",
    "max_image_size",
    "photometric_distort",
    "trainable_layers",
    "batch_size",
    "val_batch_size",
    "max_plateau_count",
    "workers",
    "devices",
    "nodes",
    "strategy",
)
# The searched optimiser settings: name -> ("int" or "float", drawn on a log scale), as the
# original searched them.
SEARCH_SPACE = {
    "lr": ("float", True),
    "weight_decay": ("float", True),
    "momentum": ("float", True),
    "step_size": ("int", False),
    "gamma": ("float", True),
}
