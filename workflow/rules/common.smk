import json
import os
import re

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


def get_rsm_outputs():
    """Every RSM figure and table the config asks for; only runs the config trains."""
    rsm = config["analysis"]["rsm"]
    trained = {"grasp": config["grasp"]["tasks"], "cornet": get_cornet_runs()}
    outputs = []
    for experiment, models in rsm["models"].items():
        root = f"results/{experiment}/analysis/rsm"
        pairs = rsm["compare"].get(experiment, [])
        unknown = sorted(set(models + sum(pairs, [])) - set(trained[experiment]))
        if unknown:
            raise ValueError(
                f"analysis.rsm: {experiment} runs {unknown} are not trained by this config"
                f" (it trains {trained[experiment]})"
            )
        for model in models:
            outputs += [f"{root}/{model}/intra_model.png", f"{root}/{model}/layers.png"]
        for first, second in pairs:
            outputs.append(f"{root}/{first}_vs_{second}.png")
    return outputs
