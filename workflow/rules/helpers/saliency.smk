# Inputs, params and targets of the rules in rules/saliency.smk.
import copy
import itertools

from visionflow.experiments.saliency import STAGES as SALIENCY_STAGES
from visionflow.experiments.saliency import task_weights_path

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
    """The store; the previous kept stage's export (for the first, `load_model` if given,
    else the ImageNet encoder weights when set); for pretrain_weights, each trained task's
    main-network weights."""
    inputs = {"store": SALIENCY_STORE}
    stages = saliency_stages()
    position = stages.index(wildcards.saliency_stage)
    if position:
        inputs["previous"] = saliency_export(wildcards.point, stages[position - 1])
    elif config["saliency"]["load_model"]:
        [inputs["previous"]] = weights_file(
            "saliency.load_model", config["saliency"]["load_model"]
        )
    else:
        encoder = saliency_config(wildcards.point)["model"]["weights"]
        inputs["encoder"] = weights_file("saliency.model.weights", encoder)
    if wildcards.saliency_stage == "pretrain_weights":
        section = config["saliency"]
        tasks = section["pretrain_weights"]["tasks"] or section["tasks"]
        inputs["weights"] = [
            path
            for task in tasks
            for path in weights_file(
                "saliency.weights_dir", task_weights_path(section["weights_dir"], task)
            )
        ]
    return inputs


def get_saliency_final(wildcards):
    """The export of the point's last kept training stage (`load_model` if none is kept)."""
    stages = saliency_stages()
    if not stages:
        return config["saliency"]["load_model"]
    return saliency_export(wildcards.point, stages[-1])


def get_saliency_settings(wildcards):
    """JSON of everything one stage of one grid point computes from."""
    section = saliency_config(wildcards.point)
    stage = wildcards.saliency_stage
    keys = ("tasks", "model", "preprocess", "workers", "wandb")
    settings = {key: section[key] for key in keys}
    settings |= {stage: section[stage]} | shared_settings()
    return json.dumps(settings, sort_keys=True)


def saliency_processing(point):
    """JSON of the point's pre- and post-processing options."""
    section = saliency_config(point)
    return json.dumps(
        {k: section[k] for k in ("preprocess", "postprocess")}, sort_keys=True
    )


def saliency_run_images():
    """The folder `run` maps: `saliency.run.images`, else images/run/ of split folders, else
    the raw images."""
    images = Path(config["saliency"]["root"]) / "images"
    default = images / "run" if (images / "run").is_dir() else images
    return config["saliency"]["run"]["images"] or str(default)


def get_saliency_run_input(wildcards):
    """What `run` depends on: `saliency.run.images`, or the raw dataset by default."""
    return config["saliency"]["run"]["images"] or config["saliency"]["root"]


def get_saliency_eval_inputs(wildcards):
    """The point's final export and every evaluation set's folder."""
    sets = [entry["root"] for entry in config["saliency"]["eval"]["sets"]]
    return {"export": get_saliency_final(wildcards), "sets": sets}


def saliency_eval_settings():
    """JSON of the evaluation sets (group filled in), their tasks and table1's columns."""
    section = config["saliency"]["eval"]
    sets = [{"group": "sets"} | entry for entry in section["sets"]]
    return json.dumps(
        {"sets": sets, "tasks": section["tasks"], "table1": section["table1"]}
    )


def saliency_outputs():
    """Everything `saliency_all` builds."""
    outputs = ["results/saliency/summary.csv", "results/saliency/summary.png"]
    for point in get_saliency_points():
        outputs += [f"results/saliency/{point}/test/metrics.png"]
        outputs += [f"results/saliency/{point}/run.png"]
        if config["saliency"]["eval"]["sets"]:
            outputs += [f"results/saliency/{point}/eval"]
    return outputs
