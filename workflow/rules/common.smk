import json
import os
import shlex

# Helpers shared by several rule files. Each rule file owns its own `get_*` functions.


def folder(key=0, of="input"):
    """A params function: the folder of the job's input (or output) file `key`."""

    def params(wildcards, input, output):
        files = {"input": input, "output": output}[of]
        chosen = files[key] if isinstance(key, int) else getattr(files, key)
        first = chosen[0] if isinstance(chosen, list) else chosen
        return os.path.dirname(first)

    return params


def folders(key):
    """A params function: the folders of the job's input files `key` (run directories)."""

    def params(wildcards, input):
        return [os.path.dirname(path) for path in input[key]]

    return params


def optional(option, key):
    """A params function: `option` and the job's input `key` (quoted), or nothing when the
    job has no such input."""

    def params(wildcards, input):
        if key not in input.keys():
            return ""
        paths = input[key] if isinstance(input[key], list) else [input[key]]
        return " ".join([option, *(shlex.quote(p) for p in paths)])

    return params


def run_settings(section, excluded, **extra):
    """JSON of config[section] without the `excluded` keys, plus `extra` and the seed: what a
    run computes from, so a change re-runs exactly the runs it affects."""
    settings = {k: v for k, v in config[section].items() if k not in excluded}
    return json.dumps(settings | extra | {"seed": config["seed"]}, sort_keys=True)


def active(study):
    """Whether the config's `experiments` list has `study`."""
    return study in config["experiments"]


def active_outputs():
    """What `all` builds: the outputs of every active study, in the config's order."""
    outputs = {
        "cornet": cornet_outputs,
        "grasp": grasp_outputs,
        "slr": slr_outputs,
        "detection": detection_outputs,
        "saliency": saliency_outputs,
        "analysis": analysis_outputs,
    }
    return [path for study in config["experiments"] for path in outputs[study]()]
