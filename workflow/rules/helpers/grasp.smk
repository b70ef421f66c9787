# Inputs, params and targets of the rules in rules/grasp.smk.
from visionflow.experiments.grasp import JOB_KEYS as GRASP_JOB_KEYS
from visionflow.experiments.grasp import TASKS as GRASP_TASKS


wildcard_constraints:
    task="|".join(GRASP_TASKS),
    split="train|test",


def get_grasp_settings(wildcards):
    """JSON of everything a grasp run computes from (same for both tasks but the task)."""
    return run_settings("grasp", GRASP_JOB_KEYS, task=wildcards.task)


def grasp_outputs():
    """Everything `grasp_all` builds."""
    tasks = config["grasp"]["tasks"]
    outputs = ["results/grasp/summary.csv", "results/grasp/accuracy.png"]
    outputs += ["results/grasp/loss.png"]
    outputs += [f"results/grasp/{task}/vis/predictions.png" for task in tasks]
    if "cls" in tasks:
        outputs.append("results/grasp/cls/vis/confusion.png")
    return outputs
