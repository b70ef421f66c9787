import copy
import functools
import itertools
import json
import os
import re
import shlex

from snakemake.logging import logger

PREPARED_MINIIMAGENET = "data/prepared/miniimagenet"
# Keys of config["cornet"] that are job resources, not run settings.
CORNET_RESOURCE_KEYS = ("outer_times", "threads", "mem_mb", "runtime")


wildcard_constraints:
    run=r"outer\d+",


def get_cornet_runs():
    """Run names, one per configured outer_times value."""
    return [f"outer{k}" for k in config["cornet"]["outer_times"]]


def get_cornet_settings(wildcards):
    """JSON of everything a CORnet run computes from, so a change re-runs exactly that run."""
    settings = {
        k: v for k, v in config["cornet"].items() if k not in CORNET_RESOURCE_KEYS
    }
    settings["outer_times"] = int(wildcards.run.removeprefix("outer"))
    settings["seed"] = config["seed"]
    return json.dumps(settings, sort_keys=True)


def get_miniimagenet_root(wildcards):
    return config["miniimagenet"]["root"]


def prepared_miniimagenet(*names):
    return [os.path.join(PREPARED_MINIIMAGENET, name) for name in names]


PREPARED_JACQUARD = "data/prepared/jacquard"
JACQUARD_ARRAYS = ("rgb.npy", "depth.npy", "mask.npy", "maps.npy", "manifest.parquet")
GRASP_RESOURCE_KEYS = ("tasks", "threads", "mem_mb", "runtime", "vis_samples")


wildcard_constraints:
    task="cls|grasp",
    split="train|test",


def get_jacquard_root(wildcards):
    return config["jacquard"]["root"]


def prepared_jacquard(*names):
    return [os.path.join(PREPARED_JACQUARD, name) for name in names]


def get_grasp_settings(wildcards):
    """JSON of everything a grasp run computes from (same for both tasks but the task)."""
    settings = {
        k: v for k, v in config["grasp"].items() if k not in GRASP_RESOURCE_KEYS
    }
    settings["task"] = wildcards.task
    settings["seed"] = config["seed"]
    return json.dumps(settings, sort_keys=True)


def get_grasp_figures():
    tasks = config["grasp"]["tasks"]
    figures = ["results/grasp/accuracy.png", "results/grasp/loss.png"]
    figures += [f"results/grasp/{task}/vis/predictions.png" for task in tasks]
    if "cls" in tasks:
        figures.append("results/grasp/cls/vis/confusion.png")
    return figures


PREPARED_WLASL = "data/prepared/wlasl"
WLASL_STORE = ("clips.bin", "manifest.parquet", "info.json")
SLR_MODELS = (
    "S3D",
    "R3D_18",
    "R(2+1)D_18",
    "Swin3D_T",
    "Swin3D_S",
    "Swin3D_B",
    "MViTv2_S",
    "MViTv1_B",
)
SLR_SHARED_KEYS = (
    "pretrained",
    "save_every",
    "workers",
    "devices",
    "nodes",
    "strategy",
)


wildcard_constraints:
    wlasl_split=r"asl\d+",
    slr_model="|".join(re.escape(m) for m in SLR_MODELS),
    exp=r"\d{3}",


def get_wlasl_root(wildcards):
    return config["wlasl"]["root"]


def prepared_wlasl(split, *names):
    return [os.path.join(PREPARED_WLASL, split, name) for name in names]


def slr_run_dir(run):
    return f"results/slr/{run['split']}/{run['model']}_{run['exp']:03d}"


def get_slr_run_dirs():
    """One directory per entry of the run queue, config["slr"]["runs"]."""
    return [slr_run_dir(run) for run in config["slr"]["runs"]]


def get_slr_settings(wildcards):
    """JSON of everything one SLR run computes from, so editing its entry re-runs only it."""
    [run] = [
        r
        for r in config["slr"]["runs"]
        if (r["split"], r["model"], r["exp"])
        == (wildcards.wlasl_split, wildcards.slr_model, int(wildcards.exp))
    ]
    shared = {k: config["slr"][k] for k in SLR_SHARED_KEYS}
    return json.dumps(run | shared | {"seed": config["seed"]}, sort_keys=True)


def get_slr_figures():
    if not config["slr"]["runs"]:
        return []
    names = ("summary.csv", "top1.png", "loss.png", "shuffled.png")
    return [f"results/slr/{name}" for name in names]


wildcard_constraints:
    experiment="grasp|cornet",
    layer=r"[A-Za-z0-9_.]+",
    round=r"\d+",
    shard=r"\d+",
    model=r"cls|grasp|outer\d+",
    first=r"cls|grasp|outer\d+",
    second=r"cls|grasp|outer\d+",


ANALYSIS_CHECKPOINTS = {
    "grasp": "results/grasp/{model}/checkpoints/final.ckpt",
    "cornet": "results/cornet/{model}/checkpoints/best.ckpt",
}


def get_analysis_inputs(wildcards):
    """The trained checkpoint of one analysed run and the files of its prepared store."""
    experiment = wildcards.experiment
    store = {
        "grasp": prepared_jacquard(*JACQUARD_ARRAYS),
        "cornet": prepared_miniimagenet("train.npy", "val.npy", "manifest.parquet"),
    }[experiment]
    return {
        "ckpt": ANALYSIS_CHECKPOINTS[experiment].format(model=wildcards.model),
        "store": store,
    }


def analysed(section, experiment, runs):
    """Whether every run in `runs` is trained by this config; warns about the others, which
    are left out of the analysis rather than trained for it."""
    trained = {"grasp": config["grasp"]["tasks"], "cornet": get_cornet_runs()}[
        experiment
    ]
    untrained = sorted(set(runs) - set(trained))
    if untrained:
        logger.warning(
            f"analysis.{section}: {experiment} runs {untrained} are not trained by this"
            f" config (it trains {trained}); left out"
        )
    return not untrained


@functools.cache  # `all` and `analysis_all` both ask; warn once
def get_rsm_outputs():
    """Every RSM figure and table the config asks for."""
    rsm = config["analysis"]["rsm"]
    outputs = []
    for experiment, models in rsm["models"].items():
        root = f"results/{experiment}/analysis/rsm"
        pairs = rsm["compare"].get(experiment, [])
        for model in models:
            if not analysed("rsm", experiment, [model]):
                continue
            outputs += [f"{root}/{model}/intra_model.png", f"{root}/{model}/layers.png"]
        for first, second in pairs:
            if not analysed("rsm", experiment, [first, second]):
                continue
            outputs.append(f"{root}/{first}_vs_{second}.png")
    return outputs


SHAPLEY_DIR = "results/{experiment}/analysis/shapley/{model}/{layer}"


def _shapley_dir(wildcards):
    return SHAPLEY_DIR.format(
        experiment=wildcards.experiment, model=wildcards.model, layer=wildcards.layer
    )


def get_shapley_shard_inputs(wildcards):
    """The run's checkpoint and store, and the previous round's summary (filters still open)."""
    inputs = get_analysis_inputs(wildcards)
    if int(wildcards.round) > 0:
        previous = int(wildcards.round) - 1
        inputs["previous"] = f"{_shapley_dir(wildcards)}/round{previous}/summary.csv"
    return inputs


def _shards_until(wildcards, last_round):
    shards = config["analysis"]["shapley"]["shards"]
    root = _shapley_dir(wildcards)
    rounds = range(last_round + 1)
    return [f"{root}/round{r}/shard{s}.npz" for r in rounds for s in range(shards)]


def get_shapley_shards(wildcards):
    """Every shard of the rounds up to this one, in order."""
    return _shards_until(wildcards, int(wildcards.round))


def get_all_shapley_shards(wildcards):
    """Every shard of every round, in order."""
    return _shards_until(wildcards, config["analysis"]["shapley"]["rounds"] - 1)


@functools.cache  # `all` and `analysis_all` both ask; warn once
def get_shapley_outputs():
    """values.png and bounds.png of every configured run and layer."""
    shapley = config["analysis"]["shapley"]
    outputs = []
    for experiment, models in shapley["models"].items():
        for model in models:
            if not analysed("shapley", experiment, [model]):
                continue
            for layer in shapley["layers"][experiment]:
                root = SHAPLEY_DIR.format(
                    experiment=experiment, model=model, layer=layer
                )
                outputs += [f"{root}/values.png", f"{root}/bounds.png"]
    return outputs


@functools.cache  # `all` and `analysis_all` both ask; warn once
def get_attribution_outputs():
    """Guided-backprop and activation-maximisation figures of every configured run and layer."""
    attribution = config["analysis"]["attribution"]
    outputs = []
    for experiment, models in attribution["models"].items():
        for model in models:
            if not analysed("attribution", experiment, [model]):
                continue
            for layer in attribution["layers"][experiment]:
                root = f"results/{experiment}/analysis/attribution/{model}/{layer}"
                outputs += [
                    f"{root}/guided_backprop.png",
                    f"{root}/activation_maximisation.png",
                ]
    return outputs


CLIP_DIR = "results/grasp/analysis/clip"


def get_clip_options(wildcards):
    """--weights, --arch-config and --vocabulary from config, each only when set."""
    clip = config["analysis"]["clip"]
    options = [f"--vocabulary {shlex.quote(json.dumps(clip['vocabulary']))}"]
    for key in ("weights", "arch_config"):
        if clip[key]:
            options.append(f"--{key.replace('_', '-')} {shlex.quote(clip[key])}")
    return " ".join(options)


def get_clip_outputs():
    """CLIP's outputs, in `all` only once weights are configured."""
    if not config["analysis"]["clip"]["weights"]:
        return []
    return [
        f"{CLIP_DIR}/metrics.json",
        f"{CLIP_DIR}/confusion.png",
        f"{CLIP_DIR}/contact_sheets",
    ]


def get_jacquard_relabel(wildcards):
    """The edited relabel CSV the conversion applies, if configured."""
    relabel = config["jacquard"]["relabel"]
    return {"relabel": relabel} if relabel else {}


PREPARED_CVAT = "data/prepared/cvat"
CVAT_TABLE = f"{PREPARED_CVAT}/annotations/annotations.parquet"
CVAT_LABELS = f"{PREPARED_CVAT}/annotations/labels.json"
CVAT_SPLIT = f"{PREPARED_CVAT}/split/split.csv"
DETECTION_RUN_KEYS = (
    "image_size",
    "trainable_layers",
    "batch_size",
    "val_batch_size",
    "max_plateau_count",
    "workers",
    "devices",
    "nodes",
    "strategy",
)


DETECTION_VARIANTS = {entry["name"]: entry for entry in config["detection"]["variants"]}
if len(DETECTION_VARIANTS) < len(config["detection"]["variants"]):
    raise ValueError("detection.variants: two entries have the same name")


wildcard_constraints:
    variant="|".join(re.escape(v) for v in DETECTION_VARIANTS),
    worker=r"\d+",


def get_cvat_root(wildcards):
    return config["cvat"]["root"]


def get_cvat_split_options(wildcards):
    """JSON of the configured split method's options (what make_split reads)."""
    split = config["cvat"]["split"]
    if split["method"] == "list" and not split["list"]:
        raise ValueError(
            "cvat.split: method `list` needs `list`, a CSV of validation frames"
        )
    options = {
        "every_nth": {"n": split["every"]},
        "list": {"path": split["list"]},
        "feature_space": {
            "clusters": split["clusters"],
            "val_fraction": split["val_fraction"],
            "perplexity": split["perplexity"],
            "weights": split["embedding_weights"],
            "seed": config["seed"],
        },
    }[split["method"]]
    return json.dumps(options, sort_keys=True)


def get_detection_variants():
    return list(DETECTION_VARIANTS)


def _detection_base(variant):
    entry = DETECTION_VARIANTS[variant]
    settings = {k: config["detection"][k] for k in DETECTION_RUN_KEYS}
    settings |= {
        "variant": variant,
        "backbone": entry.get("backbone", variant),
        "weights": entry.get("weights"),
        "seed": config["seed"],
    }
    return settings


def get_detection_settings(wildcards):
    """JSON of everything a variant's final training computes from (the searched or given
    optimiser settings come from optimal_hpo_settings.json or the config)."""
    entry = DETECTION_VARIANTS[wildcards.variant]
    settings = _detection_base(wildcards.variant)
    settings["epochs"] = config["detection"]["max_train_epochs"]
    if not entry.get("run_hpo"):
        if "optimal_hpo_settings" not in entry:
            raise ValueError(
                f"detection.variants.{wildcards.variant}: run_hpo is false, so"
                " optimal_hpo_settings must be given"
            )
        settings |= entry["optimal_hpo_settings"]
    return json.dumps(settings, sort_keys=True)


def get_detection_search_settings(wildcards):
    """JSON of everything a variant's search computes from (not how many jobs run it)."""
    settings = _detection_base(wildcards.variant)
    hpo = {k: v for k, v in config["detection"]["hpo"].items() if k != "jobs"}
    return json.dumps(settings | {"hpo": hpo}, sort_keys=True)


def get_detection_train_inputs(wildcards):
    """The table, split and labels, plus the search's result when the variant runs one."""
    inputs = {"table": CVAT_TABLE, "labels": CVAT_LABELS, "split": CVAT_SPLIT}
    if DETECTION_VARIANTS[wildcards.variant].get("run_hpo"):
        variant = wildcards.variant
        inputs["optimal"] = f"results/detection/{variant}/hpo/optimal_hpo_settings.json"
    return inputs


def get_detection_workers(wildcards):
    jobs = config["detection"]["hpo"]["jobs"]
    root = f"results/detection/{wildcards.variant}/hpo"
    return [f"{root}/worker{w}.json" for w in range(jobs)]


def get_detection_outputs():
    """Everything `detection_all` builds."""
    outputs = ["results/detection/comparison.png", "results/detection/summary.csv"]
    outputs.append("results/detection/loss.png")
    if config["cvat"]["split"]["method"] == "feature_space":
        outputs.append(f"{PREPARED_CVAT}/split/tsne.png")
    for variant in get_detection_variants():
        root = f"results/detection/{variant}"
        outputs += [f"{root}/eval/prf.png", f"{root}/auto_annotation"]
        if DETECTION_VARIANTS[variant].get("run_hpo"):
            outputs.append(f"{root}/hpo/history.png")
    return outputs


PREPARED_SALIENCY = "data/prepared/saliency"
SALIENCY_STORE = [
    f"{PREPARED_SALIENCY}/{name}" for name in ("images.npy", "manifest.parquet")
]
SALIENCY_TRAINING = ("pretrain_weights", "pretrain_one_task", "train_catchup", "train")
SALIENCY_EXECUTION_KEYS = ("threads", "mem_mb", "runtime", "workers", "grid", "demo")


wildcard_constraints:
    point=r"gp\d+",
    saliency_stage="|".join(SALIENCY_TRAINING),


def saliency_grid():
    """The grid points: one {"section/key": value} per combination of `saliency.grid`."""
    grid = config["saliency"]["grid"]
    paths = [path for path, _ in grid]
    return [
        dict(zip(paths, values)) for values in itertools.product(*(v for _, v in grid))
    ]


def get_saliency_points():
    return [f"gp{i}" for i in range(len(saliency_grid()))]


def saliency_config(point):
    """The saliency section with one grid point's overrides applied."""
    section = copy.deepcopy(config["saliency"])
    for path, value in saliency_grid()[int(point.removeprefix("gp"))].items():
        *parents, key = path.split("/")
        target = section
        for name in parents:
            target = target[name]
        target[key] = value
    return section


def saliency_stages():
    """The training stages `saliency.skip` leaves, in pipeline order."""
    stages = [s for s in SALIENCY_TRAINING if s not in config["saliency"]["skip"]]
    if not stages:
        raise ValueError("saliency.skip: every training stage is skipped")
    return stages


def saliency_export(point, stage):
    return f"results/saliency/{point}/{stage}/export.pt"


def get_saliency_stage_inputs(wildcards):
    """The store, the previous kept stage's export and, for pretrain_weights, the weights."""
    inputs = {"store": SALIENCY_STORE}
    stages = saliency_stages()
    position = stages.index(wildcards.saliency_stage)
    if position:
        inputs["previous"] = saliency_export(wildcards.point, stages[position - 1])
    if wildcards.saliency_stage == "pretrain_weights":
        folder = config["saliency"]["weights_dir"]
        if not folder:
            raise ValueError(
                "saliency.weights_dir: pretrain_weights needs <dir>/<task>.pt main-network"
                " weights; set it or add pretrain_weights to saliency.skip"
            )
        inputs["weights"] = [
            f"{folder}/{task}.pt" for task in config["saliency"]["tasks"]
        ]
    return inputs


def get_saliency_final(wildcards):
    """The export of the point's last kept training stage."""
    return saliency_export(wildcards.point, saliency_stages()[-1])


def get_saliency_settings(wildcards):
    """JSON of everything one stage of one grid point computes from."""
    section = saliency_config(wildcards.point)
    stage = wildcards.saliency_stage
    settings = {key: section[key] for key in ("tasks", "model", "workers", "wandb")}
    settings |= {stage: section[stage], "seed": config["seed"]}
    return json.dumps(settings, sort_keys=True)


def get_saliency_run_input(wildcards):
    """What `run` depends on: `saliency.run.images`, or the raw dataset by default."""
    return config["saliency"]["run"]["images"] or config["saliency"]["root"]


def saliency_run_images():
    """The folder `run` maps: `saliency.run.images`, or the raw images by default."""
    return config["saliency"]["run"]["images"] or f"{config['saliency']['root']}/images"


def get_saliency_outputs():
    """Everything `saliency_all` builds."""
    outputs = ["results/saliency/summary.csv", "results/saliency/summary.png"]
    for point in get_saliency_points():
        outputs += [f"results/saliency/{point}/test/metrics.png"]
        outputs += [f"results/saliency/{point}/run.png"]
    return outputs
