# Inputs, params and targets of the rules in rules/wlasl.smk.
PREPARED_WLASL = "data/prepared/wlasl"
WLASL_STORE = ("clips.bin", "manifest.parquet", "info.json")


wildcard_constraints:
    wlasl_split=r"asl\d+",


def get_wlasl_root(wildcards):
    return config["wlasl"]["root"]


def prepared_wlasl(split, *names):
    return [os.path.join(PREPARED_WLASL, split, name) for name in names]
