# Inputs, params and targets of the rules in rules/saliency.smk.
import copy
import itertools

from visionflow.experiments.saliency import STAGES as SALIENCY_STAGES

PREPARED_SALIENCY = "data/prepared/saliency"
SALIENCY_STORE = [
    f"{PREPARED_SALIENCY}/{name}" for name in ("images.npy", "manifest.parquet")
]


wildcard_constraints:
    point=r"gp\d+",
    saliency_stage="|".join(SALIENCY_STAGES),


def saliency_grid():
    """The grid points: one {"section/key": value} per combination of `saliency.grid`."""
    grid = config["saliency"]["grid"]
    paths = [path for path, _ in grid]
    return [
        dict(zip(paths, values)) for values in itertools.product(*(v for _, v in grid))
    ]


def get_saliency_points():
    return [f"gp{i}" for i in range(len(saliency_grid()))]


def saliency_config(point):
    """The saliency section with one grid point's overrides applied."""
    section = copy.deepcopy(config["saliency"])
    for path, value in saliency_grid()[int(point.removeprefix("gp"))].items():
        *parents, key = path.split("/")
        target = section
        for name in parents:
            target = target[name]
        target[key] = value
    return section


def saliency_stages():
    """The training stages `saliency.skip` leaves, in pipeline order."""
    return [s for s in SALIENCY_STAGES if s not in config["saliency"]["skip"]]


def saliency_export(point, stage):
    return f"results/saliency/{point}/{stage}/export.pt"


def get_saliency_stage_inputs(wildcards):
    """The store; the previous kept stage's export, or for the first the ImageNet encoder
    weights (when set); for pretrain_weights, the per-task weights."""
    inputs = {"store": SALIENCY_STORE}
    stages = saliency_stages()
    position = stages.index(wildcards.saliency_stage)
    if position:
        inputs["previous"] = saliency_export(wildcards.point, stages[position - 1])
    else:
        encoder = saliency_config(wildcards.point)["model"]["weights"]
        inputs["encoder"] = weights_file("saliency.model.weights", encoder)
    if wildcards.saliency_stage == "pretrain_weights":
        weights = config["saliency"]["weights_dir"]
        inputs["weights"] = [
            path
            for task in config["saliency"]["tasks"]
            for path in weights_file("saliency.weights_dir", f"{weights}/{task}.pt")
        ]
    return inputs


def get_saliency_final(wildcards):
    """The export of the point's last kept training stage."""
    return saliency_export(wildcards.point, saliency_stages()[-1])


def get_saliency_settings(wildcards):
    """JSON of everything one stage of one grid point computes from."""
    section = saliency_config(wildcards.point)
    stage = wildcards.saliency_stage
    settings = {key: section[key] for key in ("tasks", "model", "workers", "wandb")}
    settings |= {stage: section[stage], "seed": config["seed"]}
    return json.dumps(settings, sort_keys=True)


def get_saliency_run_input(wildcards):
    """What `run` depends on: `saliency.run.images`, or the raw dataset by default."""
    return config["saliency"]["run"]["images"] or config["saliency"]["root"]


def saliency_run_images():
    """The folder `run` maps: `saliency.run.images`, or the raw images by default."""
    return config["saliency"]["run"]["images"] or f"{config['saliency']['root']}/images"


def saliency_outputs():
    """Everything `saliency_all` builds."""
    outputs = ["results/saliency/summary.csv", "results/saliency/summary.png"]
    for point in get_saliency_points():
        outputs += [f"results/saliency/{point}/test/metrics.png"]
        outputs += [f"results/saliency/{point}/run.png"]
    return outputs
