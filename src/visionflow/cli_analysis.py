"""`visionflow analysis <verb>`: what trained models learned (RSM, Shapley, attributions, CLIP)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from visionflow.cli_util import add_verb as _add
from visionflow.io import BadInputError, atomic_path, write_json, write_table, write_text


def _rsm_activations(args: argparse.Namespace) -> None:
    from visionflow.analysis.activations import spatial_max_activations

    probe = _probe(args)
    batches = ((chunk,) for chunk in probe.inputs.split(args.batch_size))
    layers = spatial_max_activations(probe.model, batches, probe.layers)
    arrays = {f"layer/{name}": values for name, values in layers.items()}
    with atomic_path(args.out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, labels=probe.labels, classes=np.array(probe.classes),
                 layers=np.array(probe.layers), **arrays)  # fmt: skip


def _load_activations(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """(layer -> activations, labels, class names) from an activations.npz."""
    with np.load(path) as stored:
        layers = {str(name): stored[f"layer/{name}"] for name in stored["layers"]}
        return layers, stored["labels"], [str(c) for c in stored["classes"]]


def _rsm_model(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.analysis.rsm import layer_similarities, tau_table

    activations, labels, classes = _load_activations(args.activations)
    matrices = layer_similarities(activations)
    table = tau_table(matrices, matrices)
    write_table(args.out_dir / "intra_model.csv", table.reset_index())
    title = f"{args.name}: RSMs, layer vs layer"
    plots.plot_tau_matrix(table, args.out_dir / "intra_model.png", title, "layer", "layer")
    plots.plot_similarity_matrices(matrices, labels, classes, args.out_dir / "layers.png")


def _rsm_compare(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.analysis.rsm import layer_similarities, tau_table

    (first, labels, _), (second, other, _) = map(_load_activations, args.activations)
    if not np.array_equal(labels, other):
        raise BadInputError(args.activations[1], "sampled images differ from the first model's")
    table = tau_table(layer_similarities(first), layer_similarities(second))
    write_table(args.out.with_suffix(".csv"), table.reset_index())
    a, b = args.names
    plots.plot_tau_matrix(table, args.out, f"RSMs, {a} vs {b}", b, a)


def _probe(args: argparse.Namespace):
    """The analysed run's model and a seeded sample of its data (PROBES)."""
    from visionflow.train.probes import PROBES

    try:
        return PROBES[args.experiment](args.ckpt, args.data, args.split, args.per_class, args.seed)
    except ValueError as exc:  # a class with fewer than --per-class images
        raise BadInputError(args.data, f"split {args.split}: {exc}") from exc


def _shapley_shard(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from visionflow.analysis.shapley import Truncation, model_value, run_shard

    probe = _probe(args)
    try:
        value, filters = model_value(probe.model, args.layer, probe.inputs, probe.accuracy,
                                     args.batch_size)  # fmt: skip
    except KeyError as exc:
        raise BadInputError(args.ckpt, exc.args[0]) from exc
    if args.chosen_from:
        chosen = pd.read_csv(args.chosen_from)["chosen"].to_numpy(bool)
    else:
        chosen = np.ones(filters, dtype=bool)
    iterations = args.iterations if chosen.sum() > 1 else 0  # top k already identified
    state = args.out.with_name(args.out.stem + ".state.npz")
    stop = Truncation(args.truncation_value, args.truncation_patience)
    seed = (args.seed, args.round, args.shard)
    bar = partial(tqdm, desc="TMC iterations", unit="perm")
    marginals = run_shard(state, value, filters, chosen, iterations, seed, stop, progress=bar)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, marginals=marginals)
    state.unlink(missing_ok=True)


def _stacked_marginals(paths: Sequence[Path]) -> np.ndarray:
    return np.vstack([np.load(path)["marginals"] for path in paths])


def _shapley_round(args: argparse.Namespace) -> None:
    from visionflow.analysis.shapley import summarize

    marginals = _stacked_marginals(args.shards)
    write_table(args.out, summarize(marginals, args.r, args.delta, args.top_k))


def _shapley_plot(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.analysis.shapley import summarize

    marginals = _stacked_marginals(args.shards)
    summary = summarize(marginals, args.r, args.delta, args.top_k)
    write_table(args.table, summary)
    plots.plot_shapley_values(summary, args.top_k, args.values, args.title)
    top = summary.sort_values("value", ascending=False)["filter"].head(5).tolist()
    steps = range(2, len(marginals) + 1)
    bounds = pd.DataFrame(
        [summarize(marginals[:n], args.r, args.delta, args.top_k)["bound"][top] for n in steps],
        index=pd.Index(steps, name="iterations"),
    )
    plots.plot_shapley_bounds(bounds, args.bounds, f"{args.title}: bounds of the top 5")


def _attribution(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.analysis import attribution

    probe = _probe(args)
    name = f"{args.experiment}/{args.ckpt.parent.parent.name}"
    try:
        explained = attribution.LayerFilters(probe.model, args.layer)
        excited = attribution.LayerFilters(probe.model, args.am_layer)
    except KeyError as exc:
        raise BadInputError(args.ckpt, exc.args[0]) from exc
    chosen = attribution.strongest_filters(explained, probe.inputs, args.filters)
    gradients = {i: attribution.guided_backprop(explained, probe.inputs, i) for i in chosen}
    maps = {i: attribution.saliency_gray(grad) for i, grad in gradients.items()}
    title = f"{name}: guided backprop, strongest filters of {args.layer}"
    plots.plot_guided_backprop(probe.inputs.numpy(), maps, args.guided_backprop, title)
    count = min(args.am_filters, excited.layer.out_channels)
    shape = (probe.inputs.shape[1], args.am_size, args.am_size)
    images = attribution.maximise_activation(
        excited, range(count), shape, args.am_steps, args.am_lr, args.am_momentum,
        args.am_tv, args.am_l2, args.seed,
    )  # fmt: skip
    title = f"{name}: inputs maximising {args.am_layer} filters"
    plots.plot_activation_maximisation(images.numpy(), list(range(count)), args.maximisation, title)


def _clip_label(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from visionflow import plots
    from visionflow.analysis.clip import load_clip, zero_shot_probabilities
    from visionflow.data.jacquard import PackedJacquard
    from visionflow.metrics.classification import confusion_counts, topk_correct

    if args.weights is None or not args.weights.is_file():
        raise BadInputError(args.weights or "analysis.clip.weights",
                            "CLIP weights not found; set analysis.clip.weights to a local"
                            f" {args.arch} checkpoint (open_clip state dict)")  # fmt: skip
    model, preprocess, tokenizer = load_clip(args.arch, args.weights, args.arch_config)
    frames, images = [], []
    for split in args.splits:
        views = PackedJacquard(args.data, split)
        frames.append(views.rows[["id", "split", "class", "label"]])
        images += [views[i]["rgb"] for i in range(len(views))]
    table = pd.concat(frames, ignore_index=True)
    classes = [views.classes[label] for label in sorted(views.classes)]
    prompts = [args.template.format(args.vocabulary.get(name, name)) for name in classes]
    bar = partial(tqdm, desc="CLIP", unit="img", total=len(images))
    probs = zero_shot_probabilities(model, preprocess, tokenizer, images, prompts,
                                    args.batch_size, bar)  # fmt: skip
    predicted = probs.argmax(axis=1)
    table = table.assign(predicted=[classes[p] for p in predicted],
                         confidence=probs.max(axis=1))  # fmt: skip
    out = args.out_dir
    write_table(out / "predictions.csv", table.join(pd.DataFrame(probs, columns=prompts)))
    labels = torch.tensor(table["label"].to_numpy())
    top1, top5 = topk_correct(torch.from_numpy(probs), labels, (1, 5)).tolist()
    counts = confusion_counts(torch.from_numpy(predicted), labels, len(classes))
    per_class = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
    write_json(out / "metrics.json", {
        "images": len(table), "top1": top1 / len(table), "top5": top5 / len(table),
        "prompts": dict(zip(classes, prompts, strict=True)),
        "per_class_top1": dict(zip(classes, per_class.tolist(), strict=True)),
    })  # fmt: skip
    plots.plot_confusion_matrix(counts, classes, out / "confusion.png", "CLIP zero-shot")
    relabel = table[["id", "split", "class", "predicted", "confidence"]].assign(new_class="")
    write_table(out / "relabel.csv", relabel)
    _contact_sheets(table, images, classes, out / "contact_sheets", args.sheet_size)


def _contact_sheets(
    table: pd.DataFrame, images: list, classes: list[str], folder: Path, size: int
) -> None:
    """Per predicted class a PNG of its least confident `size` images; index.html links them."""
    from html import escape

    from visionflow import plots

    links = []
    for number, name in enumerate(classes):
        rows = table[table["predicted"] == name].sort_values("confidence").head(size)
        png = f"{number:02d}.png"
        plots.plot_contact_sheet(
            [images[i] for i in rows.index],
            [f"{Path(i).name[:14]} ({c})" for i, c in zip(rows["id"], rows["class"], strict=True)],
            list(rows["class"] != name), folder / png,
            f"predicted {name}: {len(rows)} least confident (red: labelled otherwise)",
        )  # fmt: skip
        outliers = int((table.loc[table["predicted"] == name, "class"] != name).sum())
        links.append(f'<li><a href="{png}">{escape(name)}</a>: '
                     f"{int((table['predicted'] == name).sum())} images, {outliers} labelled"
                     f" otherwise</li>")  # fmt: skip
    write_text(folder / "index.html",
               "<!doctype html><title>CLIP contact sheets</title><h1>CLIP contact sheets</h1>"
               f"<ul>{''.join(links)}</ul>\n")  # fmt: skip


def _mapping(text: str) -> dict[str, str]:
    """A JSON object argument."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _add_probe_options(parser: argparse.ArgumentParser) -> None:
    """Which trained run to analyse and the seeded sample of its data."""
    parser.add_argument("--experiment", choices=["grasp", "cornet"], required=True)
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="prepared store")
    parser.add_argument("--split", default="train")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)


def add_analysis_area(areas: argparse._SubParsersAction) -> None:
    """`visionflow analysis ...`: RSM, neuron Shapley, attributions, CLIP."""
    analysis = areas.add_parser("analysis", help="what trained models learned")
    analysis_verbs = analysis.add_subparsers(dest="verb", required=True)
    p = _add(analysis_verbs, "activations", _rsm_activations,
             "spatial-max layer activations of a seeded per-class sample")  # fmt: skip
    _add_probe_options(p)
    p.add_argument("--out", type=Path, required=True, help="activations .npz")
    p = _add(analysis_verbs, "rsm-model", _rsm_model, "per-layer RSMs and layer-vs-layer tau")
    p.add_argument("activations", type=Path)
    p.add_argument("--name", required=True, help="model name for titles")
    p.add_argument("--out-dir", type=Path, required=True)
    p = _add(analysis_verbs, "rsm-compare", _rsm_compare, "layer-by-layer tau of two models")
    p.add_argument("activations", type=Path, nargs=2)
    p.add_argument("--names", nargs=2, required=True)
    p.add_argument("--out", type=Path, required=True, help="figure; the CSV goes beside it")

    p = _add(analysis_verbs, "shapley-shard", _shapley_shard,
             "TMC Shapley iterations over one conv layer's filters (resumable)")  # fmt: skip
    _add_probe_options(p)
    p.add_argument("--layer", required=True, help="conv module name, e.g. features.10")
    p.add_argument("--round", type=int, default=0)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--iterations", type=int, required=True, help="permutations in this shard")
    p.add_argument("--chosen-from", type=Path, help="previous round's summary.csv")
    p.add_argument("--truncation-value", type=float, default=0.5)
    p.add_argument("--truncation-patience", type=int, default=6)
    p.add_argument("--out", type=Path, required=True, help="marginals .npz")
    for verb, handler, help_text in (
        ("shapley-round", _shapley_round, "pool shards: values, bounds, filters still chosen"),
        ("shapley-plot", _shapley_plot, "final values and bounds figures"),
    ):
        p = _add(analysis_verbs, verb, handler, help_text)
        p.add_argument("shards", type=Path, nargs="+", help="shard .npz files, in order")
        p.add_argument("--r", type=float, default=1.0, help="range of a marginal (accuracy: 1)")
        p.add_argument("--delta", type=float, default=0.2)
        p.add_argument("--top-k", type=int, default=20)
    modes = analysis_verbs.choices
    modes["shapley-round"].add_argument("--out", type=Path, required=True, help="summary.csv")
    plot = modes["shapley-plot"]
    plot.add_argument("--table", type=Path, required=True, help="final shapley.csv")
    plot.add_argument("--values", type=Path, required=True, help="values figure")
    plot.add_argument("--bounds", type=Path, required=True, help="bounds figure")
    plot.add_argument("--title", required=True)

    p = _add(analysis_verbs, "attribution", _attribution,
             "guided backprop of a layer's strongest filters; activation maximisation")  # fmt: skip
    _add_probe_options(p)
    p.add_argument("--layer", required=True, help="module explained by guided backprop")
    p.add_argument("--filters", type=int, default=4, help="strongest filters shown")
    p.add_argument("--am-layer", required=True, help="conv module for activation maximisation")
    p.add_argument("--am-filters", type=int, default=16)
    p.add_argument("--am-size", type=int, default=64, help="side of the optimised images")
    p.add_argument("--am-steps", type=int, default=100)
    p.add_argument("--am-lr", type=float, default=0.1)
    p.add_argument("--am-momentum", type=float, default=0.99)
    p.add_argument("--am-tv", type=float, default=0.1, help="total-variation weight")
    p.add_argument("--am-l2", type=float, default=0.1, help="L2 weight on the image")
    p.add_argument("--guided-backprop", type=Path, required=True, help="figure")
    p.add_argument("--maximisation", type=Path, required=True, help="figure")

    p = _add(analysis_verbs, "clip", _clip_label,
             "zero-shot labels of Jacquard RGB; accuracy, contact sheets, relabel CSV")  # fmt: skip
    p.add_argument("--data", type=Path, required=True, help="prepared Jacquard store")
    p.add_argument("--splits", nargs="+", default=["train", "test"])
    p.add_argument("--arch", default="ViT-L-14", help="open_clip architecture")
    p.add_argument("--weights", type=Path, help="local state dict of that architecture")
    p.add_argument("--arch-config", type=Path, help="open_clip config JSON of a custom arch")
    p.add_argument("--vocabulary", type=_mapping, default={},
                   help="JSON {class: word}, e.g. {\"pen+pencil\": \"Pen\"}")  # fmt: skip
    p.add_argument("--template", default="{}", help="prompt with {} for the word")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--sheet-size", type=int, default=48, help="images per contact sheet")
    p.add_argument("--out-dir", type=Path, required=True)
