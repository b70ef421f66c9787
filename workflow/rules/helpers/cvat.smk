# Inputs, params and targets of the rules in rules/cvat.smk.
PREPARED_CVAT = "data/prepared/cvat"
CVAT_TABLE = f"{PREPARED_CVAT}/annotations/annotations.parquet"
CVAT_LABELS = f"{PREPARED_CVAT}/annotations/labels.json"
CVAT_SPLIT = f"{PREPARED_CVAT}/split/split.csv"
CVAT_STORE = [CVAT_TABLE, CVAT_LABELS, CVAT_SPLIT]


def get_cvat_root(wildcards):
    return config["cvat"]["root"]


def get_cvat_store(wildcards, input):
    """The prepared store folder (holding annotations/ and split/) of a job's `store` input."""
    return os.path.dirname(os.path.dirname(input.store[0]))


def get_cvat_split_weights(wildcards):
    """The embedding weights file, where the split method embeds the frames."""
    split = config["cvat"]["split"]
    if split["method"] != "feature_space":
        return []
    return weights_file("cvat.split.embedding_weights", split["embedding_weights"])


def get_cvat_split_options(wildcards):
    """JSON of the configured split method's options (what make_split reads)."""
    split = config["cvat"]["split"]
    options = {
        "every_nth": {"n": split["every"]},
        "list": {"path": split["list"]},
        "feature_space": {
            "clusters": split["clusters"],
            "val_fraction": split["val_fraction"],
            "perplexity": split["perplexity"],
            "weights": split["embedding_weights"],
            "seed": config["seed"],
        },
    }[split["method"]]
    return json.dumps(options, sort_keys=True)
