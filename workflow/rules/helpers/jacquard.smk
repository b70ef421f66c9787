# Inputs, params and targets of the rules in rules/jacquard.smk.
from visionflow.data.jacquard import ARRAYS as JACQUARD_ARRAYS

PREPARED_JACQUARD = "data/prepared/jacquard"
JACQUARD_STORE = [f"{PREPARED_JACQUARD}/{a}.npy" for a in JACQUARD_ARRAYS] + [
    f"{PREPARED_JACQUARD}/manifest.parquet"
]


def get_jacquard_root(wildcards):
    return config["jacquard"]["root"]


def get_jacquard_relabel(wildcards):
    """The edited relabel CSV the conversion applies, if configured."""
    relabel = config["jacquard"]["relabel"]
    return {"relabel": relabel} if relabel else {}
