# Inputs, params and targets of the rules in rules/slr.smk.
import re

from visionflow.experiments.slr import RUN_KEYS as SLR_RUN_KEYS
from visionflow.models.catalog import VIDEO_MODELS

SLR_RUN = "results/slr/{wlasl_split}/{slr_model}_{exp}"


wildcard_constraints:
    slr_model="|".join(re.escape(m) for m in VIDEO_MODELS),
    exp=r"\d{3}",


def slr_run_dir(run):
    return f"results/slr/{run['split']}/{run['model']}_{run['exp']:03d}"


def get_slr_run_dirs():
    """One directory per entry of the run queue, config["slr"]["runs"]."""
    return [slr_run_dir(run) for run in config["slr"]["runs"]]


def slr_run(wildcards):
    """The entry of the run queue a job runs."""
    [run] = [
        r
        for r in config["slr"]["runs"]
        if (r["split"], r["model"], r["exp"])
        == (wildcards.wlasl_split, wildcards.slr_model, int(wildcards.exp))
    ]
    return run


def get_slr_init_from(wildcards):
    """The checkpoint a run warm-starts from, if it has one (another run's, or a file)."""
    init_from = slr_run(wildcards).get("init_from")
    return {"init_from": init_from} if init_from else {}


def get_slr_settings(wildcards):
    """JSON of everything one SLR run computes from, so editing its entry re-runs only it."""
    shared = {k: config["slr"][k] for k in SLR_RUN_KEYS}
    return json.dumps(slr_run(wildcards) | shared | shared_settings(), sort_keys=True)


def slr_outputs():
    """Everything `slr_all` builds (nothing when the queue is empty)."""
    if not config["slr"]["runs"]:
        return []
    names = ("summary.csv", "top1.png", "loss.png", "shuffled.png")
    return [f"results/slr/{name}" for name in names]
