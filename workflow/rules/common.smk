import json
import os
import shlex

from visionflow.config import ConfigError, one_line_errors, source_of

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


def shared_settings():
    """The top-level keys every run computes from: the seed and the precision."""
    return {"seed": config["seed"], "precision": config["precision"]}


def run_settings(section, excluded, **extra):
    """JSON of config[section] without the `excluded` keys, plus `extra` and the
    shared settings: what a run computes from, so a change re-runs exactly its runs."""
    settings = {k: v for k, v in config[section].items() if k not in excluded}
    return json.dumps(settings | extra | shared_settings(), sort_keys=True)


def weights_file(key, path):
    """[path] of the weights file config key `key` (dotted) names: nothing when unset (or
    `true`, a download cache); a path that does not exist stops the workflow naming the
    key and the file it was set in."""
    if not isinstance(path, str):
        return []
    if not os.path.exists(path):
        keys = [int(k) if k.isdigit() else k for k in key.split(".")]
        where = source_of(keys, CONFIG_FILES, CONFIG_OVERRIDES)
        with one_line_errors():  # a WorkflowError here would come with a traceback
            raise ConfigError(f"{where}: {key}: {path} does not exist")
    return [path]


def config_weights(key):
    """An input function: weights_file of the config value at dotted `key`."""

    def inputs(wildcards):
        value = config
        for name in key.split("."):
            value = value[name]
        return weights_file(key, value)

    return inputs


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
