# Inputs, params and targets of the rules in rules/detection.smk.
import re

from visionflow.experiments.detection import RUN_KEYS as DETECTION_RUN_KEYS

DETECTION_VARIANTS = {entry["name"]: entry for entry in config["detection"]["variants"]}
DETECTION_RUN = "results/detection/{variant}"


wildcard_constraints:
    variant="|".join(re.escape(v) for v in DETECTION_VARIANTS),
    job=r"\d+",


def _detection_base(variant):
    entry = DETECTION_VARIANTS[variant]
    settings = {k: config["detection"][k] for k in DETECTION_RUN_KEYS}
    settings |= {
        "variant": variant,
        "backbone": entry.get("backbone", variant),
        "weights": entry.get("weights"),
    }
    settings |= shared_settings()
    return settings


def get_detection_settings(wildcards):
    """JSON of everything a variant's final training computes from (the searched or given
    optimiser settings come from optimal_hpo_settings.json or the config)."""
    entry = DETECTION_VARIANTS[wildcards.variant]
    settings = _detection_base(wildcards.variant)
    settings["epochs"] = config["detection"]["max_train_epochs"]
    if not entry.get("run_hpo"):
        settings |= entry["optimal_hpo_settings"]
    return json.dumps(settings, sort_keys=True)


def get_detection_search_settings(wildcards):
    """JSON of everything a variant's search computes from (not how many jobs run it)."""
    settings = _detection_base(wildcards.variant)
    hpo = {k: v for k, v in config["detection"]["hpo"].items() if k != "jobs"}
    return json.dumps(settings | {"hpo": hpo}, sort_keys=True)


def get_detection_weights(wildcards):
    """The variant's backbone weights file, when it names one."""
    index = list(DETECTION_VARIANTS).index(wildcards.variant)
    key = f"detection.variants.{index}.weights"
    return weights_file(key, DETECTION_VARIANTS[wildcards.variant].get("weights"))


def get_detection_train_inputs(wildcards):
    """The prepared store, plus the search's result when the variant runs one."""
    inputs = {"store": CVAT_STORE}
    if DETECTION_VARIANTS[wildcards.variant].get("run_hpo"):
        inputs["optimal"] = (
            f"results/detection/{wildcards.variant}/hpo/optimal_hpo_settings.json"
        )
    return inputs


def get_detection_search_jobs(wildcards):
    jobs = config["detection"]["hpo"]["jobs"]
    root = f"results/detection/{wildcards.variant}/hpo"
    return [f"{root}/worker{job}.json" for job in range(jobs)]


def detection_outputs():
    """Everything `detection_all` builds."""
    outputs = ["results/detection/comparison.png", "results/detection/summary.csv"]
    outputs.append("results/detection/loss.png")
    if config["cvat"]["split"]["method"] == "feature_space":
        outputs.append(f"{PREPARED_CVAT}/split/tsne.png")
    for variant in DETECTION_VARIANTS:
        root = f"results/detection/{variant}"
        outputs += [f"{root}/eval/prf.png", f"{root}/auto_annotation"]
        if DETECTION_VARIANTS[variant].get("run_hpo"):
            outputs.append(f"{root}/hpo/history.png")
    return outputs
