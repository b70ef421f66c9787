# Inputs, params and targets of the rules in rules/grasp.smk.
from visionflow.experiments.grasp import JOB_KEYS as GRASP_JOB_KEYS
from visionflow.experiments.grasp import TASKS as GRASP_TASKS


wildcard_constraints:
    task="|".join(GRASP_TASKS),
    split="train|test",


def get_grasp_settings(wildcards):
    """JSON of everything a grasp run computes from (same for both tasks but the task)."""
    return run_settings("grasp", GRASP_JOB_KEYS, task=wildcards.task)


def grasp_weights(task):
    """What a task is scored from: its original weights file if configured, else its
    trained final.ckpt."""
    original = config["grasp"]["weights"].get(task)
    return original or f"results/grasp/{task}/checkpoints/final.ckpt"


def get_grasp_checkpoint(wildcards):
    """The checkpoint (or original weights) of the job's task."""
    return grasp_weights(wildcards.task)


def trained_grasp_tasks():
    """The configured tasks that are trained here (not scored from original weights)."""
    weights = config["grasp"]["weights"]
    return [task for task in config["grasp"]["tasks"] if not weights.get(task)]


def grasp_run_dirs(wildcards):
    """The run directory of every configured task, for the summary."""
    return [f"results/grasp/{task}" for task in config["grasp"]["tasks"]]


def grasp_outputs():
    """Everything `grasp_all` builds (curves only of the tasks trained here)."""
    tasks = config["grasp"]["tasks"]
    outputs = ["results/grasp/summary.csv"]
    if trained_grasp_tasks():
        outputs += ["results/grasp/accuracy.png", "results/grasp/loss.png"]
    outputs += [f"results/grasp/{task}/vis/predictions.png" for task in tasks]
    if "cls" in tasks:
        outputs.append("results/grasp/cls/vis/confusion.png")
    return outputs
