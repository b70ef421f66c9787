"""`visionflow analysis <verb>`: what trained models learned (RSM, Shapley, attributions, CLIP)."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from visionflow.cli import common
from visionflow.experiments.grasp import TASKS as GRASP_TASKS


def _sample(args: argparse.Namespace, seed: int | None = None):
    """The analysed run's model and a sample of its data (seeded by `seed`, else --seed)."""
    from visionflow.analysis.samples import model_sample

    return model_sample(
        args.experiment,
        args.ckpt,
        args.data,
        args.split,
        args.per_class,
        args.seed if seed is None else seed,
        args.task,
        args.rotations,
    )


def _activations(args: argparse.Namespace) -> None:
    from visionflow.analysis.rsm import save_activations

    save_activations(_sample(args), args.batch_size, args.out)


def _rsm_model(args: argparse.Namespace) -> None:
    from visionflow.analysis.figures import plot_similarity_matrices, plot_tau_matrix
    from visionflow.analysis.rsm import layer_similarities, load_activations, tau_table
    from visionflow.io import write_table

    activations, labels, classes = load_activations(args.activations)
    matrices = layer_similarities(activations)
    table = tau_table(matrices, matrices)
    write_table(args.out_dir / "intra_model.csv", table.reset_index())
    plot_tau_matrix(table, args.out_dir / "intra_model.png", f"{args.name}: RSMs, layer vs layer",
                    "layer", "layer")  # fmt: skip
    title = f"{args.name}: image-by-image similarity per layer"
    plot_similarity_matrices(matrices, labels, classes, args.out_dir / "layers.png", title)


def _rsm_compare(args: argparse.Namespace) -> None:
    import numpy as np

    from visionflow.analysis.figures import plot_tau_matrix
    from visionflow.analysis.rsm import layer_similarities, load_activations, tau_table
    from visionflow.io import BadInputError, write_table

    (first, labels, _), (second, other, _) = map(load_activations, args.activations)
    if not np.array_equal(labels, other):
        raise BadInputError(args.activations[1], "sampled images differ from the first model's")
    table = tau_table(layer_similarities(first), layer_similarities(second))
    write_table(args.out.with_suffix(".csv"), table.reset_index())
    a, b = args.names
    plot_tau_matrix(table, args.out, f"RSMs, {a} vs {b}", b, a)


def _rsm_top_k(args: argparse.Namespace) -> None:
    from visionflow.analysis.figures import plot_tau_matrix
    from visionflow.analysis.rsm import filter_similarities, tau_table
    from visionflow.analysis.samples import model_sample
    from visionflow.analysis.shapley import top_filters
    from visionflow.io import write_table

    similarities = {}
    tasks = args.tasks or [None, None]
    for name, ckpt, task, table in zip(args.names, args.ckpts, tasks, args.shapley, strict=True):
        sample = model_sample(args.experiment, ckpt, args.data, args.split, args.per_class,
                              args.seed, task, args.rotations)  # fmt: skip
        filters = top_filters(table, args.top_k)
        similarities |= filter_similarities(sample, args.layer, filters, args.batch_size, name)
    table = tau_table(similarities, similarities)
    write_table(args.out.with_suffix(".csv"), table.reset_index())
    title = f"{args.layer}: RSMs of the Shapley top {args.top_k} filters, {' vs '.join(args.names)}"
    plot_tau_matrix(table, args.out, title, "run rank: filter", "run rank: filter")


def _rsm_reference(args: argparse.Namespace) -> None:
    import pandas as pd

    from visionflow.analysis.figures import plot_tau_matrix
    from visionflow.analysis.rsm import reference_similarities, tau_table
    from visionflow.io import write_table
    from visionflow.models.grasp import load_alexnet

    alexnet = load_alexnet(args.alexnet)
    tables = []
    for repeat in range(args.repeats):  # the original's repetitions over sampled images
        seed = args.seed + repeat
        own, reference = reference_similarities(_sample(args, seed), alexnet, args.batch_size)
        tables.append(tau_table(own, reference).assign(repeat=repeat, seed=seed))
    table = pd.concat(tables)
    write_table(args.out.with_suffix(".csv"), table.reset_index())
    mean = table.drop(columns=["repeat", "seed"]).groupby("layer", sort=False).mean()
    title = f"{args.name} vs ImageNet AlexNet, mean of {args.repeats} samples"
    plot_tau_matrix(mean, args.out, title, "ImageNet AlexNet layer", f"{args.name} layer")


def _shapley_shard(args: argparse.Namespace) -> None:
    from visionflow.analysis.shapley import Truncation, shard
    from visionflow.progress import progress_bar

    stop = Truncation(args.truncation_value, args.truncation_patience)
    bar = partial(progress_bar, desc="TMC iterations", unit="perm")
    shard(
        _sample(args),
        args.layer,
        args.batch_size,
        args.chosen_from,
        args.iterations,
        (args.seed, args.round, args.shard),
        stop,
        args.out,
        bar,
    )


def _shapley_round(args: argparse.Namespace) -> None:
    from visionflow.analysis.shapley import stacked_marginals, summarize
    from visionflow.io import write_table

    marginals = stacked_marginals(args.shards)
    write_table(args.out, summarize(marginals, args.r, args.delta, args.top_k))


def _shapley_plot(args: argparse.Namespace) -> None:
    from visionflow.analysis.figures import plot_shapley_bounds, plot_shapley_values
    from visionflow.analysis.shapley import bounds_history, stacked_marginals, summarize
    from visionflow.io import write_table

    marginals = stacked_marginals(args.shards)
    summary = summarize(marginals, args.r, args.delta, args.top_k)
    write_table(args.table, summary)
    plot_shapley_values(summary, args.top_k, args.values, args.title)
    bounds = bounds_history(marginals, args.r, args.delta, args.top_k)
    plot_shapley_bounds(bounds, args.bounds, f"{args.title}: bounds of the top 5")


def _attribution(args: argparse.Namespace) -> None:
    from visionflow.analysis.attribution import (
        guided_backprop_maps,
        masked_top_mean,
        maximised_inputs,
    )
    from visionflow.analysis.figures import plot_activation_maximisation, plot_guided_backprop
    from visionflow.analysis.shapley import top_filters
    from visionflow.io import BadInputError

    sample = _sample(args)
    if args.mask and sample.masks is None:
        raise BadInputError("--mask", f"the {args.experiment} sample has no object masks")
    name = f"{args.experiment}/{args.task or args.ckpt.parent.parent.name}"
    chosen = top_filters(args.filters_from, args.filters) if args.filters_from else args.filters
    maps = guided_backprop_maps(sample.model, sample.inputs, args.layer, chosen)
    masks = sample.masks if args.mask else None
    groups = {f"filter {k}": [m] for k, m in maps.items()}
    if args.average:
        groups = {f"mean of filters {', '.join(map(str, maps))}": list(maps.values())}
    shown = {k: masked_top_mean(group, masks, args.top_fraction) for k, group in groups.items()}
    how = "Shapley top" if args.filters_from else "strongest"
    title = f"{name}: guided backprop, {how} filters of {args.layer}"
    plot_guided_backprop(sample.inputs.numpy(), shown, args.guided_backprop, title)
    shape = (sample.inputs.shape[1], args.am_size, args.am_size)
    images, filters = maximised_inputs(
        sample.model,
        args.am_layer,
        args.am_filters,
        shape=shape,
        steps=args.am_steps,
        lr=args.am_lr,
        momentum=args.am_momentum,
        tv_weight=args.am_tv,
        l2_weight=args.am_l2,
        seed=args.seed,
        centre=args.am_objective == "centre",
        init_std=args.am_init_std,
    )
    goal = "centre unit" if args.am_objective == "centre" else "mean activation"
    title = f"{name}: inputs maximising the {goal} of {args.am_layer} filters"
    plot_activation_maximisation(images.numpy(), filters, args.maximisation, title)


def _clip(args: argparse.Namespace) -> None:
    import pandas as pd

    from visionflow.analysis.clip import label_metrics, label_views, load_clip
    from visionflow.analysis.figures import plot_contact_sheets
    from visionflow.figures import plot_confusion_matrix
    from visionflow.io import BadInputError, write_json, write_table
    from visionflow.progress import progress_bar

    if args.weights is None or not args.weights.is_file():
        raise BadInputError(
            args.weights or "analysis.clip.weights",
            "CLIP weights not found; set analysis.clip.weights to a local"
            f" {args.arch} checkpoint (open_clip state dict)",
        )
    model, preprocess, tokenizer = load_clip(args.arch, args.weights, args.arch_config)

    def prompt(name: str) -> str:
        return args.template.format(args.vocabulary.get(name, name))

    bar = partial(progress_bar, desc="CLIP", unit="img")
    table, probs, classes, images = label_views(
        model, preprocess, tokenizer, args.data, args.splits, prompt, args.batch_size, bar
    )
    prompts = [prompt(name) for name in classes]
    metrics, counts = label_metrics(table, probs, classes, prompts)
    out = args.out_dir
    write_table(out / "predictions.csv", table.join(pd.DataFrame(probs, columns=prompts)))
    write_json(out / "metrics.json", metrics)
    plot_confusion_matrix(counts, classes, out / "confusion.png", "CLIP zero-shot")
    relabel = table[["id", "split", "class", "predicted", "confidence"]].assign(new_class="")
    write_table(out / "relabel.csv", relabel)
    plot_contact_sheets(table, images, classes, out / "contact_sheets", args.sheet_size)


def _add_sample_options(parser: argparse.ArgumentParser, single: bool = True) -> None:
    """Which trained run to analyse (`single`) and the seeded sample of its data."""
    parser.add_argument(
        "--experiment", choices=["grasp", "cornet"], required=True, help="the run's experiment"
    )
    if single:
        parser.add_argument(
            "--ckpt", type=Path, required=True, help="the run's checkpoint (grasp: or a .pth)"
        )
        parser.add_argument("--task", choices=GRASP_TASKS, help="grasp: the task of a .pth")
    parser.add_argument(
        "--rotations",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="grasp: every rotation of a view, as the original, or rotation 0 (default True)",
    )
    common.add_data(parser, "prepared store of the run's dataset")
    parser.add_argument("--split", default="train", help="split sampled (default train)")
    parser.add_argument("--per-class", type=int, default=10, help="images per class (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")


def register(areas: common.Areas) -> None:
    """`visionflow analysis ...`: RSM, neuron Shapley, attributions, CLIP."""
    verbs = common.add_area(areas, "analysis", "what trained models learned")
    p = common.add_verb(
        verbs,
        "activations",
        _activations,
        "spatial-max layer activations of a seeded per-class sample",
    )
    _add_sample_options(p)
    p.add_argument("--out", type=Path, required=True, help="activations .npz")
    p = common.add_verb(verbs, "rsm-model", _rsm_model, "per-layer RSMs and layer-vs-layer tau")
    p.add_argument("activations", type=Path)
    p.add_argument("--name", required=True, help="model name for titles")
    p.add_argument("--out-dir", type=Path, required=True, help="folder for RSMs and figures")
    p = common.add_verb(verbs, "rsm-compare", _rsm_compare, "layer-by-layer tau of two models")
    p.add_argument("activations", type=Path, nargs=2)
    p.add_argument("--names", nargs=2, required=True, help="the two models' names")
    p.add_argument("--out", type=Path, required=True, help="figure; the CSV goes beside it")

    p = common.add_verb(
        verbs, "rsm-top-k", _rsm_top_k, "RSMs of each run's Shapley top-k filters of one layer"
    )
    _add_sample_options(p, single=False)
    p.add_argument("--ckpts", type=Path, nargs=2, required=True, help="the two runs' checkpoints")
    p.add_argument("--tasks", nargs=2, choices=GRASP_TASKS, help="grasp: their tasks")
    p.add_argument("--names", nargs=2, required=True, help="the two runs' names")
    p.add_argument("--shapley", type=Path, nargs=2, required=True, help="their shapley.csv")
    p.add_argument("--layer", required=True, help="the conv layer Shapley valued")
    p.add_argument("--top-k", type=int, default=5, help="filters per run (default 5)")
    p.add_argument("--out", type=Path, required=True, help="figure; the CSV goes beside it")
    p = common.add_verb(
        verbs, "rsm-reference", _rsm_reference, "layer-by-layer tau against ImageNet AlexNet"
    )
    _add_sample_options(p)
    p.add_argument("--alexnet", type=Path, required=True, help="torchvision AlexNet state dict")
    p.add_argument(
        "--repeats", type=int, default=3, help="samples drawn, seeds seed, seed+1, ... (default 3)"
    )
    p.add_argument("--name", required=True, help="model name for titles")
    p.add_argument("--out", type=Path, required=True, help="figure; the CSV goes beside it")

    p = common.add_verb(
        verbs,
        "shapley-shard",
        _shapley_shard,
        "TMC Shapley iterations over one conv layer's filters (resumable)",
    )
    _add_sample_options(p)
    p.add_argument("--layer", required=True, help="conv module name, e.g. features.10")
    p.add_argument("--round", type=int, default=0, help="round number (default 0)")
    p.add_argument("--shard", type=int, default=0, help="shard number (default 0)")
    p.add_argument("--iterations", type=int, required=True, help="permutations in this shard")
    p.add_argument("--chosen-from", type=Path, help="previous round's summary.csv")
    p.add_argument(
        "--truncation-value",
        type=float,
        default=0.5,
        help="accuracy at which an iteration may stop (default 0.5)",
    )
    p.add_argument(
        "--truncation-patience",
        type=int,
        default=6,
        help="removals at or below it before stopping (default 6)",
    )
    p.add_argument("--out", type=Path, required=True, help="marginals .npz")
    for verb, handler, help_text in (
        ("shapley-round", _shapley_round, "pool shards: values, bounds, filters still chosen"),
        ("shapley-plot", _shapley_plot, "final values and bounds figures"),
    ):
        p = common.add_verb(verbs, verb, handler, help_text)
        p.add_argument("shards", type=Path, nargs="+", help="shard .npz files, in order")
        p.add_argument(
            "--r", type=float, default=1.0, help="range of a marginal (default 1.0, accuracy's)"
        )
        p.add_argument(
            "--delta", type=float, default=0.2, help="bound failure probability (default 0.2)"
        )
        p.add_argument("--top-k", type=int, default=20, help="filters sought (default 20)")
    verbs.choices["shapley-round"].add_argument(
        "--out", type=Path, required=True, help="summary.csv"
    )
    plot = verbs.choices["shapley-plot"]
    plot.add_argument("--table", type=Path, required=True, help="final shapley.csv")
    plot.add_argument("--values", type=Path, required=True, help="values figure")
    plot.add_argument("--bounds", type=Path, required=True, help="bounds figure")
    plot.add_argument("--title", required=True, help="figure title")

    p = common.add_verb(
        verbs,
        "attribution",
        _attribution,
        "guided backprop of a layer's strongest filters; activation maximisation",
    )
    _add_sample_options(p)
    p.add_argument("--layer", required=True, help="module explained by guided backprop")
    p.add_argument("--filters", type=int, default=4, help="filters explained (default 4)")
    p.add_argument(
        "--filters-from", type=Path, help="the layer's shapley.csv: explain its top filters"
    )
    p.add_argument(
        "--mask", action="store_true", help="keep only the object (Jacquard masks), as NeuroVis"
    )
    p.add_argument(
        "--top-fraction", type=float, help="keep only this share of each map's largest pixels"
    )
    p.add_argument("--average", action="store_true", help="one map: the mean over the filters")
    p.add_argument("--am-layer", required=True, help="conv module for activation maximisation")
    p.add_argument(
        "--am-objective",
        choices=["mean", "centre"],
        default="mean",
        help="maximise each filter's mean activation or its centre unit (default mean)",
    )
    for flag, kind, default, help_text in (
        ("--am-filters", int, 16, "filters maximised"),
        ("--am-size", int, 64, "side of the optimised images"),
        ("--am-steps", int, 100, "optimisation steps"),
        ("--am-lr", float, 0.1, "learning rate"),
        ("--am-momentum", float, 0.99, "momentum"),
        ("--am-tv", float, 0.1, "total-variation weight"),
        ("--am-l2", float, 0.1, "L2 weight on the image"),
        ("--am-init-std", float, 0.1, "std of the starting noise"),
    ):
        p.add_argument(flag, type=kind, default=default, help=f"{help_text} (default {default})")
    p.add_argument("--guided-backprop", type=Path, required=True, help="figure")
    p.add_argument("--maximisation", type=Path, required=True, help="figure")

    p = common.add_verb(
        verbs,
        "clip",
        _clip,
        "zero-shot labels of Jacquard RGB; accuracy, contact sheets, relabel CSV",
    )
    common.add_data(p, "prepared Jacquard store")
    p.add_argument(
        "--splits",
        nargs="+",
        default=["train", "test"],
        help="splits labelled (default train test)",
    )
    p.add_argument(
        "--arch",
        default="ViT-L-14-quickgelu",
        help="open_clip architecture (default ViT-L-14-quickgelu, for OpenAI's weights)",
    )
    p.add_argument("--weights", type=Path, help="local state dict of that architecture")
    p.add_argument("--arch-config", type=Path, help="open_clip config JSON of a custom arch")
    p.add_argument(
        "--vocabulary",
        type=common.json_object,
        default={},
        help='JSON {class: word}, e.g. {"pen+pencil": "Pen"} (default {}, the class names)',
    )
    p.add_argument("--template", default="{}", help="prompt with {} for the word (default {})")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument(
        "--sheet-size", type=int, default=48, help="images per contact sheet (default 48)"
    )
    p.add_argument("--out-dir", type=Path, required=True, help="folder to write")
