"""kdsalbox config.json files of every generation, key for key as the original's repository
holds them (ardkastrati/kdsalbox, PR #2 history), for the importer's tests."""

from __future__ import annotations

import copy
from typing import Any

DATA = "./dataset/dummy_images/"
SALIENCY = "./dataset/dummy_saliency/"
TEN = ["UniSal", "SAM", "DGII", "AIM", "SUN", "IKN", "GBVS", "BMS", "IMSIG", "RARE2012"]
SEVEN = ["BMS", "AIM", "IKN", "GBVS", "IMSIG", "RARE2012", "SUN"]
FOUR = ["AIM", "SUN", "IKN", "GBVS"]
WATCH = {"watch": {"log": None, "log_freq": 100}}
WANDB = {"save_checkpoints_to_wandb": False, **WATCH}

# backend/image_processing.py's parameters, each {default, description, valid_values}.
PROCESSING = {
    "histogram_matching": ("none", ["equalization", "image-based", "biased", "none"]),
    "histogram_matching_bias_path": ("./dataset/mean.jpg", "A directory to the image"),
    "histogram_matching_image_path": ("../dataset/DATASET/", "A directory to all images"),
    "do_smoothing": ("none", ["default", "none", "custom", "proportional"]),
    "smooth_size": (9.0, "Integer greater than 0"),
    "smooth_std": (3.0, "Number greater than 0"),
    "smooth_prop": (0.05, "Number between 0 and 1"),
    "scale_output": ("none", ["log-density", "min-max", "none", "normalized"]),
    "scale_min": (0.0, "Any number less than scale_max"),
    "scale_max": (1.0, "Any number greater than scale_min"),
    "center_prior": ("none", ["default", "none", "proportional_add", "proportional_mult"]),
    "center_prior_prop": (0.2, "Number between 0 and 1"),
    "center_prior_weight": (0.5, "Number greater than 0"),
    "center_prior_scale_first": (True, [True, False]),
}


def processing(post: bool) -> dict[str, Any]:
    """The `preprocess` (14 parameters) or `postprocess` (13, no image path) section."""
    section = {}
    for name, (default, valid) in PROCESSING.items():
        if post and name == "histogram_matching_image_path":
            continue
        if post and name == "histogram_matching":
            valid = ["equalization", "biased", "none"]
        section[name] = {"default": default, "description": f"{name}.", "valid_values": valid}
    return section


def _stage(**keys: Any) -> dict[str, Any]:
    """A training stage of the wandb era, data paths first as in the files."""
    return {"input_saliencies": SALIENCY, "input_images_train": DATA + "train/"} | keys


# G1 multimodel, flat model keys (93151c3, backend/multimodel/hnet_full_chunked/config.json).
G1_FLAT = {
    "type": "full_chunked",
    "gpu": 0,
    "model": {"task_cnt": 7, "hnet_hidden_layers": [128, 128, 64], "hnet_embedding_size": 16,
              "hnet_chunk_size": 524288, "hnet_chunk_emb_per_task": True,
              "hnet_chunk_emb_size": 8},
    "experiment": {"skip": [], "name": "NA", "description": "Chunked hypernetwork",
                   "logging_dir": "logs/experiment_logs/", "verbose": True},
    "train": {"tasks": SEVEN, "input_images_train": DATA + "train/", "imgs_per_task_train": 1500,
              "input_images_val": DATA + "val/", "imgs_per_task_val": 750,
              "input_saliencies": SALIENCY, "recursive": False, "batch_size": 4, "epochs": 40,
              "lr": 0.01, "lr_decay": 0.1, "freeze_encoder_steps": 5, "export_path": "exported/",
              "logging_dir": "./logs/train_logs/", "verbose": True},
    "test": {"tasks": SEVEN, "input_images_test": DATA + "train/", "imgs_per_task_test": 750,
             "input_saliencies": SALIENCY, "recursive": False, "model_path": "models/example.pth",
             "batch_size": 1, "per_image_statistics": True, "logging_dir": "./logs/test_logs/",
             "verbose": True},
    "run": {"tasks": SEVEN, "input_images_run": DATA + "train/", "recursive": False,
            "overwrite": False, "model_path": "models/example.pth",
            "logging_dir": "./logs/run_logs/", "verbose": True},
    "preprocess": processing(False),
    "postprocess": processing(True),
}  # fmt: skip

# G1 multimodel, nested model keys (0edc07f); its gridsearch.json uses the flat key.
G1 = {
    "type": "full_chunked",
    "gpu": 0,
    "model": {"hnet": {"task_cnt": 4, "hidden_layers": [512, 512, 512, 512],
                       "embedding_size": 256, "chunk_size": 65536, "chunk_emb_per_task": False,
                       "chunk_emb_size": 16},
              "mnet": {"decoder_non_linearity": "ReLU6", "mobilenet_cutoff": 19}},
    "experiment": {"skip": [], "name": "Full Chunked - Only one", "description": "Goal",
                   "logging_dir": "logs/experiment_logs/", "verbose": True},
    "pretrain": {"tasks": FOUR, "target_model_weights": "./models/", "loss": "MSELoss",
                 "batch_size": 4, "epochs": 1000, "lr": 0.001, "lr_decay": 0.1,
                 "decay_epochs": [], "export_path": "exported/pretrained/",
                 "auto_checkpoint_steps": 25, "logging_dir": "./logs/pretrain_logs/",
                 "verbose": True, "wandb": WATCH},
    "train": {"tasks": FOUR, "input_images_train": DATA + "train/", "imgs_per_task_train": 2500,
              "input_images_val": DATA + "val/", "imgs_per_task_val": 1250,
              "input_images_run": DATA + "run/", "input_saliencies": SALIENCY,
              "recursive": False, "loss": "BCELoss", "batch_size": 4,
              "consecutive_batches_per_task": 8, "epochs": 10, "lr": 0.001, "lr_decay": 0.1,
              "freeze_encoder_steps": 3, "decay_epochs": [],
              "pretrained_model_path": "exported/pretrained/", "export_path": "exported/",
              "auto_checkpoint_steps": 7, "logging_dir": "./logs/train_logs/", "verbose": True,
              "wandb": WATCH},
    "test": copy.deepcopy(G1_FLAT["test"]) | {"tasks": FOUR, "imgs_per_task_test": 1250},
    "run": copy.deepcopy(G1_FLAT["run"]) | {"tasks": FOUR},
    "preprocess": processing(False),
    "postprocess": processing(True),
}  # fmt: skip
G1_GRID = [["model/hnet_hidden_layers", [[128, 128, 128], [512, 512, 512, 512]]]]

# G2 top-level `tasks` (10995b2, backend/multitask/hnet/configs/config.json).
G2 = {
    "wandb_entity": "ba-yanickz", "wandb_project": "kdsalbox-generalization", "gpu": 0,
    "tasks": FOUR, "skip": [], "name": "Full - One hot to full", "description": "Goal",
    "verbose": True,
    "model": {"use_eval_mode": False,
              "hnet": {"type": "chunked", "task_cnt": 4, "hidden_layers": [512, 512, 512, 512],
                       "embedding_size": 256, "chunk_size": 65536, "chunk_emb_per_task": False,
                       "chunk_emb_size": 16},
              "mnet": {"encoder_type": "mv2", "decoder_type": "full",
                       "decoder_non_linearity": "ReLU6"}},
    "train": _stage(imgs_per_task_train=2500, input_images_val=DATA + "val/",
                    imgs_per_task_val=1250, input_images_run=DATA + "run/", loss="BCELoss",
                    batch_size=4, consecutive_batches_per_task=8, epochs=2, lr=0.001,
                    lr_decay=0.1, freeze_encoder_steps=3, decay_epochs=[],
                    auto_checkpoint_steps=7, max_checkpoint_freq=3, batch_log_freq=100,
                    wandb=WANDB),
    "test": {"input_images_test": DATA + "train/", "imgs_per_task_test": 1,
             "input_saliencies": SALIENCY, "per_image_statistics": True},
    "run": {"input_images_run": DATA + "train/", "overwrite": False},
    "preprocess": processing(False),
    "postprocess": processing(True),
}  # fmt: skip

# G2, one-hot single-layer hnet generating the whole CWL encoder (c525d4f, hnet/full/).
G2_FULL = {
    "type": "full", "gpu": 0, "tasks": ["AIM", "SUN"],
    "skip": ["pretrain_weights", "pretrain_one_task"], "name": "Full - One hot to full",
    "description": "Goal", "verbose": True,
    "model": {"hnet": {"task_cnt": 2},
              "mnet": {"decoder_non_linearity": "ReLU6", "mobilenet_cutoff": 0}},
    "pretrain_weights": {"target_model_weights": "./models/", "input_images_run": DATA + "run/",
                         "loss": "MSELoss", "batch_size": 4, "epochs": 1, "lr": 0.001,
                         "lr_decay": 0.1, "decay_epochs": [], "auto_checkpoint_steps": 250,
                         "log_freq": 100, "wandb": WANDB},
    "pretrain_one_task": _stage(input_images_val=DATA + "val/", input_images_run=DATA + "run/",
                                loss="BCELoss", batch_size=4, epochs=15, lr=0.001,
                                lr_decay=0.1, freeze_encoder_steps=0, decay_epochs=[],
                                auto_checkpoint_steps=7, batch_log_freq=100, wandb=WANDB),
    "train": _stage(imgs_per_task_train=10000, input_images_val=DATA + "val/",
                    imgs_per_task_val=5000, input_images_run=DATA + "run/", loss="BCELoss",
                    batch_size=4, consecutive_batches_per_task=1, epochs=60, lr=0.001,
                    lr_decay=0.1, freeze_encoder_steps=0, decay_epochs=[],
                    auto_checkpoint_steps=15, batch_log_freq=100, wandb=WANDB),
    "test": copy.deepcopy(G2["test"]),
    "run": copy.deepcopy(G2["run"]),
    "preprocess": processing(False),
    "postprocess": processing(True),
}  # fmt: skip

# G3, PR #2 head (4dc32f4, hnet/configs/config.json): nine tasks trained, IKN generalized.
G3 = {
    "wandb_entity": "ba-yanickz", "wandb_project": "kdsalbox-generalization", "gpu": 0,
    "all_tasks": TEN, "skip": [], "name": "Generalization 9 - IKN",
    "description": "Learn 9 models and learn 10th model with only very little data",
    "verbose": True,
    "model": {"use_eval_mode": False,
              "hnet": {"type": "chunked", "task_cnt": 11, "hidden_layers": [512, 512, 512, 512],
                       "embedding_size": 256, "chunk_size": 65536, "chunk_emb_per_task": False,
                       "chunk_emb_size": 16},
              "mnet": {"type": "original", "encoder_type": "mv2", "mobilenet_cutoff": 0,
                       "decoder_type": "full", "decoder_non_linearity": "ReLU6"}},
    "load_model": {"run_path": "ba-yanickz/kdsalbox-generalization/mivytnuy",
                   "file_name": "11 - 0/train/best.pth"},
    "train": {"tasks": [t for t in TEN if t != "IKN"]}
    | _stage(imgs_per_task_train=1000, input_images_val=DATA + "val/", imgs_per_task_val=500,
             input_images_run=DATA + "run/", loss="BCELoss", batch_size=4,
             consecutive_batches_per_task=8, epochs=26, lr=0.001, lr_decay=0.1,
             freeze_encoder_steps=3, decay_epochs=[], auto_checkpoint_steps=5,
             max_checkpoint_freq=3, batch_log_freq=100, wandb=WANDB),
    "train_generalization_task": {"tasks": ["IKN"]}
    | _stage(train_img_cnt=10, input_images_val=DATA + "val/", val_img_cnt=250,
             input_images_run=DATA + "run/", loss="BCELoss", batch_size=4, epochs=2000,
             lr=0.001, lr_decay=0.1, decay_epochs=[], freeze_encoder_steps=100,
             freeze_hnet_shared_steps=5, auto_checkpoint_steps=100, max_checkpoint_freq=3,
             batch_log_freq=100, wandb=WANDB),
    "test": {"tasks": TEN, "input_images_test": DATA + "train/", "imgs_per_task_test": 750,
             "input_saliencies": SALIENCY, "per_image_statistics": False},
    "run": {"tasks": TEN, "input_images_run": DATA + "train/", "overwrite": False,
            "save_to_wandb": True, "save_to_disk": True},
    "eval": {"tasks": TEN},
    "preprocess": processing(False),
    "postprocess": processing(True),
}  # fmt: skip

# G3 early (3c4756c): seven tasks trained, DGII/AIM/SUN generalized with multitask batches.
G3_EARLY = copy.deepcopy(G3)
for _key in ("load_model", "eval"):
    del G3_EARLY[_key]
G3_EARLY["model"]["hnet"]["task_cnt"] = 10
del G3_EARLY["model"]["mnet"]["type"], G3_EARLY["model"]["mnet"]["mobilenet_cutoff"]
G3_EARLY["train"] |= {
    "tasks": ["UniSal", "SAM", "IKN", "GBVS", "BMS", "IMSIG", "RARE2012"],
    "imgs_per_task_train": 1500,
    "imgs_per_task_val": 750,
    "epochs": 15,
}
G3_EARLY["train_generalization_task"] = {"tasks": ["DGII", "AIM", "SUN"]} | _stage(
    imgs_per_task_train=100, input_images_val=DATA + "val/", imgs_per_task_val=1250,
    input_images_run=DATA + "run/", loss="BCELoss", batch_size=4,
    consecutive_batches_per_task=8, epochs=15, lr=0.001, lr_decay=0.1, freeze_encoder_steps=3,
    decay_epochs=[], freeze_hnet_shared_steps=5, auto_checkpoint_steps=5,
    max_checkpoint_freq=3, batch_log_freq=100, wandb=WANDB)  # fmt: skip
G3_EARLY["test"] = copy.deepcopy(G2["test"])
G3_EARLY["run"] = copy.deepcopy(G2["run"])

# PR #2's *.part.json snippets: the other hypernetworks and the stages config.json lacks.
SIMPLE_FULL = {"use_eval_mode": True,
               "hnet": {"type": "simple", "task_cnt": 4, "hidden_layers": [512, 512, 512, 10],
                        "embedding_size": 256},
               "mnet": {"type": "original", "encoder_type": "cwl", "mobilenet_cutoff": 0,
                        "decoder_type": "full", "decoder_non_linearity": "ReLU6"}}  # fmt: skip
SINGLE_LAYER_DECODER = {"use_eval_mode": True, "hnet": {"type": "single_layer", "task_cnt": 4},
                        "mnet": {"type": "original", "encoder_type": "mv2",
                                 "decoder_type": "full",
                                 "decoder_non_linearity": "ReLU6"}}  # fmt: skip
PART_TASKS = ["UniSal", "SAM", "IKN", "GBVS", "BMS", "IMSIG", "RARE2012"]
PRETRAIN_ONE_TASK = {"tasks": PART_TASKS} | _stage(
    input_images_val=DATA + "val/", input_images_run=DATA + "run/", loss="BCELoss",
    batch_size=4, epochs=1, lr=0.001, lr_decay=0.1, freeze_encoder_steps=0, decay_epochs=[],
    auto_checkpoint_steps=7, max_checkpoint_freq=3, batch_log_freq=100, wandb=WANDB)  # fmt: skip
PRETRAIN_WEIGHTS = {"tasks": PART_TASKS,
                    "target_model_weights": "./models/", "input_images_run": DATA + "run/",
                    "loss": "MSELoss", "batch_size": 1, "epochs": 1000, "lr": 0.001,
                    "lr_decay": 0.1, "decay_epochs": [], "auto_checkpoint_steps": 250,
                    "max_checkpoint_freq": 250, "log_freq": 100, "wandb": WANDB}  # fmt: skip
