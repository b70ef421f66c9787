# Inputs, params and targets of the rules in rules/cornet.smk.
from visionflow.experiments.cornet import JOB_KEYS as CORNET_JOB_KEYS


wildcard_constraints:
    run=r"outer\d+",


def get_cornet_runs():
    """Run names, one per configured outer_times value."""
    return [f"outer{k}" for k in config["cornet"]["outer_times"]]


def get_cornet_settings(wildcards):
    """JSON of everything a CORnet run computes from."""
    outer_times = int(wildcards.run.removeprefix("outer"))
    return run_settings("cornet", CORNET_JOB_KEYS, outer_times=outer_times)


def cornet_outputs():
    """Everything `cornet_all` builds."""
    names = ("top1.png", "loss.png", "summary.csv")
    return [f"results/cornet/{name}" for name in names]
