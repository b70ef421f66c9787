# Inputs, params and targets of the rules in rules/wlasl.smk.
from visionflow.data.clip_codec import CODEC

PREPARED_WLASL = "data/prepared/wlasl"
WLASL_STORE = ("clips.bin", "manifest.parquet", "info.json")


wildcard_constraints:
    wlasl_split=r"asl\d+",


def get_wlasl_root(wildcards):
    return config["wlasl"]["root"]


def get_wlasl_split_file(wildcards):
    """The I3D split file of the split (`{n}`: its gloss count), if configured."""
    pattern = config["wlasl"]["split_file"]
    if pattern is None:
        return {}
    name = pattern.replace("{n}", wildcards.wlasl_split.removeprefix("asl"))
    return {"split_file": os.path.join(config["wlasl"]["root"], name)}


def prepared_wlasl(split, *names):
    return [os.path.join(PREPARED_WLASL, split, name) for name in names]
