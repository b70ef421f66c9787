import json
import os

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
