# Inputs, params and targets of the rules in rules/cornet.smk.
from visionflow.experiments.cornet import JOB_KEYS as CORNET_JOB_KEYS
from visionflow.models.catalog import CORNET_FEEDBACK, CORNET_MODELS, CORNET_RECURRENT


wildcard_constraints:
    run="|".join([r"outer\d+", *(m for m in CORNET_MODELS if m != CORNET_FEEDBACK)]),


def get_cornet_runs():
    """Run names: one per outer_times value for S100 (outer{k}), else the model's name."""
    model = config["cornet"]["model"]
    if model != CORNET_FEEDBACK:
        return [model]
    return [f"outer{k}" for k in config["cornet"]["outer_times"]]


def get_cornet_settings(wildcards):
    """JSON of everything a CORnet run computes from (`times` only for R and RT)."""
    model = config["cornet"]["model"]
    excluded = [*CORNET_JOB_KEYS, *([] if model in CORNET_RECURRENT else ["times"])]
    extra = {}
    if model == CORNET_FEEDBACK:
        extra["outer_times"] = int(wildcards.run.removeprefix("outer"))
    return run_settings("cornet", excluded, **extra)


def cornet_outputs():
    """Everything `cornet_all` builds."""
    names = ("top1.png", "loss.png", "summary.csv")
    return [f"results/cornet/{name}" for name in names]
