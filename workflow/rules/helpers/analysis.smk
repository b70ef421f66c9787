# Inputs, params and targets of the rules in rules/analysis.smk.
import functools

from snakemake.logging import logger


wildcard_constraints:
    experiment="grasp|cornet",
    layer=r"[A-Za-z0-9_.]+",
    round=r"\d+",
    shard=r"\d+",
    model=r"cls|grasp|outer\d+",
    first=r"cls|grasp|outer\d+",
    second=r"cls|grasp|outer\d+",


def analysis_checkpoint(experiment, model):
    """The checkpoint an analysis of `model` reads (grasp: or the task's original weights)."""
    if experiment == "grasp":
        return grasp_weights(model)
    return f"results/cornet/{model}/checkpoints/best.ckpt"


def analysis_store(experiment):
    """The files of the prepared store an experiment's runs are analysed on."""
    if experiment == "grasp":
        return JACQUARD_STORE
    return prepared_miniimagenet("train.npy", "val.npy", "manifest.parquet")


def get_analysis_inputs(wildcards):
    """The checkpoint of one analysed run and the files of its prepared store."""
    experiment = wildcards.experiment
    return {
        "ckpt": analysis_checkpoint(experiment, wildcards.model),
        "store": analysis_store(experiment),
    }


def rotations_option(experiment):
    """Jacquard: whether every rotation of a view is sampled."""
    if experiment != "grasp":
        return ""
    return "--rotations" if config["analysis"]["rotations"] else "--no-rotations"


def get_sample_options(wildcards):
    """Jacquard runs: the task (original weights do not say it) and the rotations sampled."""
    if wildcards.experiment != "grasp":
        return ""
    return f"--task {wildcards.model} {rotations_option('grasp')}"


def analysed(section, experiment, runs):
    """Whether every run in `runs` is trained by this config; warns about the others, which
    are left out of the analysis rather than trained for it. Runs of an experiment the
    config leaves inactive are left out silently."""
    if not active(experiment):
        return False
    trained = {"grasp": config["grasp"]["tasks"], "cornet": get_cornet_runs()}[
        experiment
    ]
    untrained = sorted(set(runs) - set(trained))
    if untrained:
        logger.warning(
            f"analysis.{section}: {experiment} runs {untrained} are not trained by this"
            f" config (it trains {trained}); left out"
        )
    return not untrained


@functools.cache  # `all` and `analysis_all` both ask; warn once
def get_rsm_outputs():
    """Every RSM figure and table the config asks for."""
    rsm = config["analysis"]["rsm"]
    outputs = []
    for experiment, models in rsm["models"].items():
        root = f"results/{experiment}/analysis/rsm"
        pairs = rsm["compare"].get(experiment, [])
        for model in models:
            if not analysed("rsm", experiment, [model]):
                continue
            outputs += [f"{root}/{model}/intra_model.png", f"{root}/{model}/layers.png"]
        for first, second in pairs:
            if not analysed("rsm", experiment, [first, second]):
                continue
            outputs.append(f"{root}/{first}_vs_{second}.png")
    return outputs


RSM_TOP_K = "results/{experiment}/analysis/rsm/top_k/{first}_vs_{second}/{layer}"
RSM_REFERENCE = "results/{experiment}/analysis/rsm/{model}_vs_imagenet_alexnet"


@functools.cache  # `all` and `analysis_all` both ask
def get_rsm_top_k_outputs():
    """Tau of the Shapley top-k filters of each compared pair whose runs both have Shapley
    values, per valued layer (the original's compare_top_k)."""
    rsm, shapley = config["analysis"]["rsm"], config["analysis"]["shapley"]
    if not rsm["top_k"]:
        return []
    outputs = []
    for experiment, pairs in rsm["compare"].items():
        valued = shapley["models"].get(experiment, [])
        for first, second in pairs:
            if first not in valued or second not in valued:
                continue
            outputs += [
                RSM_TOP_K.format(
                    experiment=experiment, first=first, second=second, layer=layer
                )
                + ".png"
                for layer in shapley["layers"].get(experiment, [])
            ]
    return outputs


def get_rsm_top_k_inputs(wildcards):
    """Both runs' checkpoints and Shapley tables of the layer, and the prepared store."""
    first, second = wildcards.first, wildcards.second
    shapley = [
        shapley_table(wildcards.experiment, model, wildcards.layer)
        for model in (first, second)
    ]
    ckpts = [
        analysis_checkpoint(wildcards.experiment, model) for model in (first, second)
    ]
    return {
        "ckpts": ckpts,
        "shapley": shapley,
        "store": analysis_store(wildcards.experiment),
    }


def get_pair_options(wildcards):
    """Jacquard pairs: both tasks and the rotations sampled."""
    if wildcards.experiment != "grasp":
        return ""
    tasks = f"--tasks {wildcards.first} {wildcards.second}"
    return f"{tasks} {rotations_option('grasp')}"


def get_rsm_reference_outputs():
    """Every analysed Jacquard run against ImageNet AlexNet, once its weights are set."""
    reference = config["analysis"]["rsm"]["reference"]
    if not reference["alexnet"]:
        return []
    models = config["analysis"]["rsm"]["models"].get("grasp", [])
    return [
        RSM_REFERENCE.format(experiment="grasp", model=model) + ".png"
        for model in models
    ]


SHAPLEY_DIR = "results/{experiment}/analysis/shapley/{model}/{layer}"


def shapley_table(experiment, model, layer):
    """The Shapley values of one run's layer (shapley.csv)."""
    root = SHAPLEY_DIR.format(experiment=experiment, model=model, layer=layer)
    return f"{root}/shapley.csv"


def _shapley_dir(wildcards):
    return SHAPLEY_DIR.format(
        experiment=wildcards.experiment, model=wildcards.model, layer=wildcards.layer
    )


def get_shapley_shard_inputs(wildcards):
    """The run's checkpoint and store, and the previous round's summary (filters still open)."""
    inputs = get_analysis_inputs(wildcards)
    if int(wildcards.round) > 0:
        previous = int(wildcards.round) - 1
        inputs["previous"] = f"{_shapley_dir(wildcards)}/round{previous}/summary.csv"
    return inputs


def _shards_until(wildcards, last_round):
    shards = config["analysis"]["shapley"]["shards"]
    root = _shapley_dir(wildcards)
    rounds = range(last_round + 1)
    return [f"{root}/round{r}/shard{s}.npz" for r in rounds for s in range(shards)]


def get_shapley_shards(wildcards):
    """Every shard of the rounds up to this one, in order."""
    return _shards_until(wildcards, int(wildcards.round))


def get_all_shapley_shards(wildcards):
    """Every shard of every round, in order."""
    return _shards_until(wildcards, config["analysis"]["shapley"]["rounds"] - 1)


@functools.cache  # `all` and `analysis_all` both ask; warn once
def get_shapley_outputs():
    """values.png and bounds.png of every configured run and layer."""
    shapley = config["analysis"]["shapley"]
    outputs = []
    for experiment, models in shapley["models"].items():
        for model in models:
            if not analysed("shapley", experiment, [model]):
                continue
            for layer in shapley["layers"][experiment]:
                root = SHAPLEY_DIR.format(
                    experiment=experiment, model=model, layer=layer
                )
                outputs += [f"{root}/values.png", f"{root}/bounds.png"]
    return outputs


@functools.cache  # `all` and `analysis_all` both ask; warn once
def get_attribution_outputs():
    """Guided-backprop and activation-maximisation figures of every configured run and layer."""
    attribution = config["analysis"]["attribution"]
    outputs = []
    for experiment, models in attribution["models"].items():
        for model in models:
            if not analysed("attribution", experiment, [model]):
                continue
            for layer in attribution["layers"][experiment]:
                root = f"results/{experiment}/analysis/attribution/{model}/{layer}"
                outputs += [
                    f"{root}/guided_backprop.png",
                    f"{root}/activation_maximisation.png",
                ]
    return outputs


def get_attribution_inputs(wildcards):
    """The run's checkpoint and store, and its Shapley table of the layer if the explained
    filters come from it."""
    inputs = get_analysis_inputs(wildcards)
    if config["analysis"]["attribution"]["filters_from"] == "shapley":
        inputs["shapley"] = shapley_table(
            wildcards.experiment, wildcards.model, wildcards.layer
        )
    return inputs


def get_attribution_options(wildcards, input):
    """--filters-from, --mask (Jacquard), --top-fraction and --average, each when configured."""
    attribution = config["analysis"]["attribution"]
    options = (
        [f"--filters-from {shlex.quote(input.shapley)}"]
        if "shapley" in input.keys()
        else []
    )
    options += (
        ["--mask"] if attribution["mask"] and wildcards.experiment == "grasp" else []
    )
    if attribution["top_fraction"]:
        options.append(f"--top-fraction {attribution['top_fraction']}")
    options += ["--average"] if attribution["average"] else []
    return " ".join(options)


CLIP_DIR = "results/grasp/analysis/clip"


def get_clip_options(wildcards):
    """--weights, --arch-config and --vocabulary from config, each only when set."""
    clip = config["analysis"]["clip"]
    options = [f"--vocabulary {shlex.quote(json.dumps(clip['vocabulary']))}"]
    for key in ("weights", "arch_config"):
        if clip[key]:
            options.append(f"--{key.replace('_', '-')} {shlex.quote(clip[key])}")
    return " ".join(options)


def get_clip_outputs():
    """CLIP's outputs (of the grasp study's Jacquard store), once weights are configured."""
    if not config["analysis"]["clip"]["weights"] or not active("grasp"):
        return []
    return [
        f"{CLIP_DIR}/metrics.json",
        f"{CLIP_DIR}/confusion.png",
        f"{CLIP_DIR}/contact_sheets",
    ]


def analysis_outputs():
    """Everything `analysis_all` builds."""
    return (
        get_rsm_outputs()
        + get_rsm_top_k_outputs()
        + get_rsm_reference_outputs()
        + get_shapley_outputs()
        + get_attribution_outputs()
        + get_clip_outputs()
    )

# Representational similarity of trained models, results/<experiment>/analysis/rsm/.
