"""Seeded corpora of damaged inputs: one function per format, each case damaging one file.

A case names the reader it feeds (see test_bad_inputs.READERS), a glob (relative to a valid
dataset built for that reader) choosing the file to damage, and the damage itself.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

Damage = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One damaged file: `target` globs it under the reader's valid dataset."""

    name: str
    reader: str
    target: str
    damage: Damage
    expect: str | None = None  # text the error must contain; default: the file's name
    policy: str = "error"
    # A problem the reader records in skipped.csv under every policy (WLASL's missing and
    # undecodable videos, which every release of the dataset has).
    always_skipped: bool = False

    @property
    def outcome(self) -> str:
        """What the reader must do: "error" or "skip"."""
        return "skip" if self.policy == "skip" or self.always_skipped else "error"


# ---------------------------------------------------------------- damage, shared by all formats


def truncate(fraction: float = 0.5) -> Damage:
    """Keep only the first `fraction` of the bytes."""
    return lambda p: p.write_bytes(p.read_bytes()[: int(p.stat().st_size * fraction)])


def empty(path: Path) -> None:
    """Zero bytes."""
    path.write_bytes(b"")


def delete(path: Path) -> None:
    """The file is gone."""
    path.unlink()


def garbage(seed: int, size: int = 4096) -> Damage:
    """Seeded random bytes under the right file name."""
    return lambda p: p.write_bytes(np.random.default_rng(seed).bytes(size))


def utf16(path: Path) -> None:
    """The same text re-encoded as UTF-16 (with its byte order mark)."""
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))


def bad_utf8(after: str) -> Damage:
    """Bytes that are not UTF-8 inserted right after the first `after`."""
    return replace(after, after.encode() + b"\xff\xfe\xc3\x28")


def replace(old: str, new: str | bytes, count: int = 1) -> Damage:
    """The first `count` occurrences of `old` replaced (the text must contain it)."""

    def damage(path: Path) -> None:
        data = path.read_bytes()
        assert old.encode() in data, f"{old!r} not in {path}"
        new_bytes = new if isinstance(new, bytes) else new.encode()
        path.write_bytes(data.replace(old.encode(), new_bytes, count))

    return damage


def cut_after(marker: str) -> Damage:
    """The text cut right after the first `marker`."""
    return lambda p: p.write_text(p.read_text().split(marker)[0] + marker)


def append(text: str) -> Damage:
    """`text` added at the end."""
    return lambda p: p.write_bytes(p.read_bytes() + text.encode())


def edit_json(edit: Callable[[Any], Any]) -> Damage:
    """The parsed JSON changed by `edit` (which returns the new document) and written back."""

    def damage(path: Path) -> None:
        data = edit(json.loads(path.read_text()))
        path.write_text(json.dumps(data, indent=1, allow_nan=True))

    return damage


def image(mode: str, size: tuple[int, int] | None = None, seed: int = 0) -> Damage:
    """A seeded noise image of `mode` (size: the file's own) in the format its suffix names."""

    def damage(path: Path) -> None:
        with Image.open(path) as old:
            width, height = size or old.size
        rng = np.random.default_rng(seed)
        if mode == "I;16":
            data = rng.integers(0, 1 << 16, (height, width), dtype=np.uint16)
            new = Image.fromarray(data)
        else:
            data = rng.integers(0, 256, (height, width, len(mode)), dtype=np.uint8)
            new = Image.fromarray(data.squeeze(-1) if len(mode) == 1 else data, mode)
        new.save(path, format=Image.registered_extensions()[path.suffix.lower()])

    return damage


def jpeg_size(width: int, height: int) -> Damage:
    """A JPEG whose frame header claims `width` x `height` pixels."""

    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
        path.write_bytes(bytes(data))

    return damage


def png_bad_crc(path: Path) -> None:
    """A PNG whose header chunk fails its checksum."""
    data = bytearray(path.read_bytes())
    data[29] ^= 0xFF  # first byte of the IHDR CRC
    path.write_bytes(bytes(data))


def tiff(make: Callable[[np.ndarray], np.ndarray]) -> Damage:
    """The TIFF's array replaced by `make(array)`."""
    return lambda p: tifffile.imwrite(p, make(tifffile.imread(p)), photometric="minisblack")


def with_value(value: float) -> Callable[[np.ndarray], np.ndarray]:
    """An array with a block of pixels set to `value`."""

    def make(array: np.ndarray) -> np.ndarray:
        array = array.astype(np.float32)
        array[2:6, 2:6] = value
        return array

    return make


def mp4(frames: int) -> Damage:
    """A valid H.264 video of only `frames` frames."""

    def damage(path: Path) -> None:
        from visionflow.demo.wlasl import HEIGHT, WIDTH, write_mp4

        write_mp4(path, np.full((frames, HEIGHT, WIDTH, 3), 128, np.uint8))

    return damage


def as_png(mode: str) -> Damage:
    """The image replaced by one of `mode` saved as PNG under the same stem."""

    def damage(path: Path) -> None:
        png = path.with_suffix(".png")
        path.rename(png)
        image(mode)(png)

    return damage


def copy_from(glob: str, suffix: str) -> Damage:
    """A copy of a sibling file matching `glob`, saved under this name with `suffix`."""

    def damage(path: Path) -> None:
        source = sorted(path.parent.glob(glob))[0]
        path.with_suffix(suffix).write_bytes(source.read_bytes())

    return damage


def orphan(path: Path) -> None:
    """A copy of the file under a stem no other file of the dataset has."""
    (path.parent / f"orphan{path.suffix}").write_bytes(path.read_bytes())


# ---------------------------------------------------------------- structured edits


def first_instance(change: dict[str, Any]) -> Callable[[Any], Any]:
    """WLASL index edit: the first gloss's second instance updated with `change`."""

    def edit(index: Any) -> Any:
        index[0]["instances"][1].update(change)
        return index

    return edit


def coco(edit: Callable[[dict], None]) -> Callable[[Any], Any]:
    """COCO edit applied in place."""

    def run(data: Any) -> Any:
        edit(data)
        return data

    return run


def keyed(path: tuple[Any, ...], value: Any) -> Callable[[Any], Any]:
    """A JSON edit setting data[path...] = value."""

    def edit(data: Any) -> Any:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return data

    return edit


# The original's HPO result files (/train/resnet18_settings.json), given as a settings file
SHERPA_RESULT = {
    "Trial-ID": 2,
    "Iteration": 1.0,
    "gamma": 0.186,
    "lr": 3.16e-4,
    "momentum": 0.32,
    "step_size": 2.0,
    "weight_decay": 0.0141,
    "Objective": 0.428,
}
OPTUNA_RESULT = {
    "best_value": 0.599,
    "gamma": 0.23,
    "lr": 4.54e-3,
    "momentum": 0.159,
    "step_size": 5,
    "weight_decay": 2.98e-4,
}


# ---------------------------------------------------------------- the corpus, one per format

MINI_JPEG = "train/*/*_0.JPEG"
SALIENCY_JPEG = "images/img_0000.jpg"
JACQUARD = "train/Chair/*/0_*"
RGB, MASK = f"{JACQUARD}_RGB.png", f"{JACQUARD}_mask.png"
DEPTH, GRASPS = f"{JACQUARD}_perfect_depth.tiff", f"{JACQUARD}_grasps.txt"
SALIENCY_MAP = "saliencies/centre_bias/img_0000.png"


def jpeg_cases() -> list[Case]:
    """JPEG images of MiniImageNet and of the saliency dataset."""
    mini = [
        ("truncated", truncate()),
        ("header-only", truncate(0.01)),
        ("empty", empty),
        ("garbage", garbage(1)),
        ("utf16-text", lambda p: p.write_bytes("not an image".encode("utf-16"))),
        ("huge-dimensions", jpeg_size(65000, 65000)),
    ]
    cases = [Case(name, "miniimagenet", MINI_JPEG, damage) for name, damage in mini]
    cases.append(Case("truncated-skip", "miniimagenet", MINI_JPEG, truncate(), policy="skip"))
    cases += [
        Case("saliency-truncated", "saliency", SALIENCY_JPEG, truncate()),
        Case("saliency-garbage", "saliency", SALIENCY_JPEG, garbage(2)),
        Case("saliency-empty-skip", "saliency", SALIENCY_JPEG, empty, policy="skip"),
    ]
    return cases


def png_cases() -> list[Case]:
    """PNG images: Jacquard RGB and mask views, and a MiniImageNet image stored as PNG."""
    return [
        Case("rgb-truncated", "jacquard", RGB, truncate()),
        Case("rgb-empty", "jacquard", RGB, empty),
        Case("rgb-garbage", "jacquard", RGB, garbage(3)),
        Case("rgb-bad-crc", "jacquard", RGB, png_bad_crc),
        Case("rgb-not-square", "jacquard", RGB, image("RGB", (64, 48))),
        Case("rgb-16-bit", "jacquard", RGB, image("I;16")),
        Case("rgb-missing", "jacquard", RGB, delete),
        Case("mask-wrong-size", "jacquard", MASK, image("L", (32, 32))),
        Case("mask-16-bit", "jacquard", MASK, image("I;16")),
        Case("rgb-truncated-skip", "jacquard", RGB, truncate(), policy="skip"),
        Case("miniimagenet-16-bit", "miniimagenet", "train/*/*_1.JPEG", as_png("I;16"), "_1.png"),
    ]


def tiff_cases() -> list[Case]:
    """Jacquard perfect-depth TIFFs."""
    return [
        Case("truncated", "jacquard", DEPTH, truncate()),
        Case("empty", "jacquard", DEPTH, empty),
        Case("garbage", "jacquard", DEPTH, garbage(4)),
        Case("uint16", "jacquard", DEPTH, tiff(lambda a: (a * 1000).astype(np.uint16))),
        Case("wrong-shape", "jacquard", DEPTH, tiff(lambda a: a[:-8])),
        Case("three-channels", "jacquard", DEPTH, tiff(lambda a: np.stack([a] * 3, -1))),
        Case("nan", "jacquard", DEPTH, tiff(with_value(np.nan))),
        Case("infinite", "jacquard", DEPTH, tiff(with_value(np.inf))),
        Case("nan-skip", "jacquard", DEPTH, tiff(with_value(np.nan)), policy="skip"),
    ]


def grasp_cases() -> list[Case]:
    """Jacquard grasp text files (`x;y;theta;opening;jaw` per line)."""
    damages = [
        ("empty", empty),
        ("truncated-line", lambda p: p.write_text(p.read_text()[:-9])),
        ("nan", lambda p: p.write_text("nan;10;0;5;3\n" + p.read_text())),
        ("huge", lambda p: p.write_text("1e308;10;0;5;3\n" + p.read_text())),
        ("string-number", lambda p: p.write_text("ten;10;0;5;3\n" + p.read_text())),
        ("commas", lambda p: p.write_text(p.read_text().replace(";", ","))),
        ("utf16", utf16),
        ("invalid-utf8", bad_utf8(";")),
        ("negative-opening", lambda p: p.write_text("10;10;0;-5;3\n" + p.read_text())),
        ("six-columns", lambda p: p.write_text("10;10;0;5;3;1\n" + p.read_text())),
        ("garbage", garbage(5)),
    ]
    cases = [Case(name, "jacquard", GRASPS, damage) for name, damage in damages]
    return [*cases, Case("nan-skip", "jacquard", GRASPS, damages[2][1], policy="skip")]


def wlasl_index_cases() -> list[Case]:
    """The WLASL gloss index JSON."""
    edits = [
        ("top-level-object", lambda index: {"glosses": index}),
        ("missing-gloss", _without_gloss),
        ("missing-video-id", first_instance({"video_id": None})),
        ("bbox-string", first_instance({"bbox": [0, 0, "50", 50]})),
        ("bbox-infinity", first_instance({"bbox": [0, 0, float("inf"), 50]})),
        ("frame-start-string", first_instance({"frame_start": "1"})),
        ("frame-end-null", first_instance({"frame_end": None})),
        ("instance-id-string", first_instance({"instance_id": "first"})),
        ("video-id-path-traversal", first_instance({"video_id": "../../outside"})),
        (
            "duplicate-video-id",
            lambda index: [index[0] | {"instances": index[0]["instances"] * 2}, *index[1:]],
        ),
        ("too-few-glosses", lambda index: index[:1]),
        ("nslt-file-as-index", lambda index: {"00002": {"subset": "train", "action": [0, 1, 9]}}),
    ]
    target = "WLASL_v0.3.json"
    cases = text_cases("wlasl", target, '"gloss": "')
    return cases + [Case(name, "wlasl", target, edit_json(edit)) for name, edit in edits]


def text_cases(reader: str, target: str, text: str) -> list[Case]:
    """A text file truncated, empty, in UTF-16, and with bytes that are not UTF-8 after `text`."""
    damages = [("truncated", truncate()), ("empty", empty), ("utf16", utf16),
               ("invalid-utf8", bad_utf8(text))]  # fmt: skip
    return [Case(name, reader, target, damage) for name, damage in damages]


def nslt_cases() -> list[Case]:
    """I3D split files nslt_N.json (video_id -> {subset, action}), read beside the index."""
    video = "00002"  # the first gloss's video that decodes
    edits = [
        ("index-instead", lambda nslt: [{"gloss": "book", "instances": []}]),
        ("entry-without-action", keyed((video,), {"subset": "train"})),
        ("action-two-numbers", keyed((video, "action"), [0, 1])),
        ("class-string", keyed((video, "action", 0), "0")),
        ("classes-of-a-larger-split", keyed((video, "action", 0), 2)),
        ("subset-unknown", keyed((video, "subset"), "dev")),
        ("frame-start-zero", keyed((video, "action", 1), 0)),
        ("filed-under-another-gloss", keyed((video, "action", 0), 1)),
        ("video-id-path-traversal", lambda nslt: nslt | {"../../outside": nslt[video]}),
    ]
    target = "nslt_2.json"
    repeated = replace("{", '{"00002": {"subset": "train", "action": [0, 1, -1]}, ')
    cases = text_cases("wlasl_split", target, '"subset": "')
    cases.append(Case("duplicate-video-id", "wlasl_split", target, repeated))
    cases += [Case(name, "wlasl_split", target, edit_json(edit)) for name, edit in edits]
    unindexed = edit_json(lambda nslt: nslt | {"99999": {"subset": "train", "action": [1, 1, 30]}})
    return [
        *cases,
        Case("subset-unknown-skip", "wlasl_split", target, edit_json(edits[5][1]), policy="skip"),
        Case(
            "video-not-in-index-missing",
            "wlasl_split",
            target,
            unindexed,
            "99999.mp4",
            always_skipped=True,
        ),  # fmt: skip
    ]


def _without_gloss(index: Any) -> Any:
    """WLASL index edit: the first entry loses its gloss key."""
    del index[0]["gloss"]
    return index


def video_cases() -> list[Case]:
    """WLASL mp4 videos (bad videos are always recorded in skipped.csv)."""
    target = "videos/00002.mp4"
    damages = [
        ("truncated", truncate()),
        ("header-only", truncate(0.02)),
        ("empty", empty),
        ("garbage", garbage(6, 20000)),
        ("missing", delete),
        ("three-frames", mp4(3)),
        ("png-named-mp4", lambda p: Image.new("RGB", (32, 32)).save(p, format="PNG")),
    ]
    return [Case(name, "wlasl", target, damage, always_skipped=True) for name, damage in damages]


def cvat_xml_cases() -> list[Case]:
    """CVAT for images 1.1 annotations.xml of a demo task."""
    box = '<box label="'
    damages = [
        ("truncated", truncate()),
        ("empty", empty),
        ("garbage", garbage(7)),
        ("utf16", lambda p: p.write_bytes(p.read_text().encode("utf-16"))),
        ("invalid-utf8", bad_utf8("<name>")),
        ("box-not-number", replace(' xtl="', ' xtl="left')),
        ("box-nan", replace(' xtl="', ' xtl="nan" xtl_was="')),
        ("box-huge", replace(' xbr="', ' xbr="1e308" xbr_was="')),
        ("duplicate-image-id", replace('<image id="1"', '<image id="0"')),
        ("missing-width", replace(' width="', ' breadth="')),
        ("unknown-label", replace(box, f'{box}weed" label_was="')),
        ("wrong-root", lambda p: p.write_text("<?xml version='1.0'?><tasks/>")),
    ]
    target = "*/annotations.xml"
    cases = [Case(name, "cvat", target, damage) for name, damage in damages]
    skip = Case("box-not-number-skip", "cvat", target, damages[5][1], policy="skip")
    shapes = [  # the first box turned into another CVAT shape (its box attributes ignored)
        ("mask-runs-not-summing", '<mask rle="1, 2" left="0" top="0" width="3" height="3" '),
        ("mask-runs-not-numbers", '<mask rle="1, x" left="0" top="0" width="3" height="3" '),
        ("polyline-one-point", '<polyline points="4.00,5.00" '),
        ("ellipse-without-radius", '<ellipse cx="4.00" cy="5.00" rx="3.00" '),
        ("unknown-shape", "<circle "),
    ]
    cases += [Case(name, "cvat", target, as_shape(opening)) for name, opening in shapes]
    recorded = [  # valid shapes without a box: recorded under either policy
        ("tag-recorded", "<tag "),
        ("single-point-recorded", '<points points="4.00,5.00" '),
        ("empty-mask-recorded", '<mask rle="9" left="0" top="0" width="3" height="3" '),
    ]
    cases += [Case(name, "cvat", target, as_shape(opening), always_skipped=True)
              for name, opening in recorded]  # fmt: skip
    rotation = replace(' z_order="0">', ' rotation="tilted" z_order="0">')
    return [*cases, skip, Case("rotation-not-number", "cvat", target, rotation)]


def as_shape(opening: str) -> Damage:
    """The first <box> of a CVAT XML turned into the element `opening` starts."""
    tag = opening[1:].split()[0]

    def damage(path: Path) -> None:
        replace("<box ", opening)(path)
        replace("</box>", f"</{tag}>")(path)

    return damage


def coco_cases() -> list[Case]:
    """COCO instances annotations.json of a demo task."""

    def first_annotation(change: dict[str, Any]) -> Callable[[Any], Any]:
        return coco(lambda data: data["annotations"][0].update(change))

    edits = [
        ("categories-not-list", keyed(("categories",), {"1": "circle"})),
        ("category-id-string", keyed(("categories", 0, "id"), "one")),
        ("bbox-strings", first_annotation({"bbox": ["a", "b", "c", "d"]})),
        ("bbox-nan", first_annotation({"bbox": [float("nan"), 1, 2, 3]})),
        ("bbox-huge", first_annotation({"bbox": [1, 1, 1e308, 3]})),
        ("bbox-three-numbers", first_annotation({"bbox": [1, 1, 3]})),
        ("unknown-image-id", first_annotation({"image_id": 999})),
        ("duplicate-image-id", keyed(("images", 1, "id"), 1)),
        ("width-string", keyed(("images", 0, "width"), "wide")),
        ("image-id-string", keyed(("images", 0, "id"), "one")),
        ("results-list", lambda data: data["annotations"]),
    ]
    target = "*/annotations.json"
    cases = [
        Case("truncated", "cvat", target, truncate()),
        Case("empty", "cvat", target, empty),
        Case("invalid-utf8", "cvat", target, bad_utf8('"file_name": "')),
    ]
    cases += [Case(name, "cvat", target, edit_json(edit)) for name, edit in edits]
    crowd = edit_json(first_annotation({"iscrowd": 1}))
    return [*cases, Case("crowd-region-recorded", "cvat", target, crowd, always_skipped=True)]


def saliency_map_cases() -> list[Case]:
    """Per-task saliency maps (8-bit grayscale PNGs of the image's size)."""
    damages = [
        ("truncated", truncate()),
        ("empty", empty),
        ("garbage", garbage(8)),
        ("rgb-colour", image("RGB")),
        ("rgba", image("RGBA")),
        ("16-bit", image("I;16")),
        ("wrong-size", image("L", (17, 9))),
        ("duplicate-stem", copy_from("img_0000.png", ".jpg")),  # the .png is the second
    ]
    cases = [Case(name, "saliency", SALIENCY_MAP, damage) for name, damage in damages]
    cases.append(Case("map-without-image", "saliency", SALIENCY_MAP, orphan, "orphan.png"))
    return [*cases, Case("truncated-skip", "saliency", SALIENCY_MAP, truncate(), policy="skip")]


def config_yaml_cases() -> list[Case]:
    """config/config.yaml variants, checked by the Snakefile and its schema (`snakemake -n`)."""
    target = "config/config.yaml"
    damages = [
        ("truncated", cut_after("outer_times: [1, 2"), None),
        ("empty", empty, None),
        ("utf16", utf16, None),
        ("invalid-utf8", bad_utf8("# Default"), None),
        ("not-a-mapping", lambda p: p.write_text("- seed\n- 0\n"), None),
        ("string-number", replace("epochs: 10", "epochs: ten"), "epochs"),
        ("nan", replace("lr: 0.05", "lr: .nan"), "lr"),
        ("huge", replace("batch_size: 16", "batch_size: 1.0e+999"), "batch_size"),
        ("unknown-key", replace("short_side: 64", "shortside: 64"), "shortside"),
        ("missing-required-key", replace("- model: R(2+1)D_18\n      ", "- "), "model"),
        ("bad-choice", replace("on_bad_sample: error", "on_bad_sample: ignore"), "ignore"),
        (
            "unfrozen-without-alexnet",
            replace("unfreeze_epoch: null", "unfreeze_epoch: 5"),
            "grasp.alexnet_weights: must name",
        ),
        (
            "original-weights-missing",
            replace("unfreeze_epoch: null", "unfreeze_epoch: null\n  weights: {cls: gone.pth}"),
            "grasp.weights.cls: gone.pth does not exist",
        ),
    ]
    return [Case(name, "config", target, damage, expect or "config.yaml")
            for name, damage, expect in damages]  # fmt: skip


def ini_cases() -> list[Case]:
    """Original SLR experiment .ini files (`visionflow slr import-config`)."""
    damages = [
        ("empty", empty),
        ("truncated", truncate(0.3)),
        ("utf16", utf16),
        ("invalid-utf8", bad_utf8("[training]")),
        ("garbage", garbage(9)),
        ("string-number", replace("batch_size = 8", "batch_size = eight")),
        ("float-for-int", replace("num_frames = 32", "num_frames = 16.5")),
        ("nan", replace("drop_p = 0.5", "drop_p = nan")),
        ("huge", replace("max_epoch = 200", "max_epoch = 1e999")),
        ("missing-key", replace("max_epoch = 200", "")),
        ("duplicate-key", replace("num_frames = 32", "num_frames = 32\nnum_frames = 16")),
        ("duplicate-section", append("\n[training]\nbatch_size = 4\n")),
        ("bad-metric", replace("('val','loss')", "('val','f1')")),
    ]
    target = "configfiles/asl100/S3D/exp004.ini"
    return [Case(name, "ini", target, damage) for name, damage in damages]


def student_cases() -> list[Case]:
    """The original's exported student models (models/<Task>/exported/<task>.pth), read as
    pretrain_weights targets."""

    def resave(edit: Callable[[dict], Any]) -> Damage:
        def damage(path: Path) -> None:
            import torch

            torch.save(edit(torch.load(path, weights_only=True)), path)

        return damage

    def shrink(data: dict) -> dict:
        data["student_model"]["decoder.conv8_1.weight"] = data["student_model"][
            "decoder.conv8_1.weight"
        ][:2]
        return data

    damages = [
        ("truncated", truncate()),
        ("garbage", garbage(11)),
        ("without-student-model", resave(lambda data: {"model": data["student_model"]})),
        ("missing-layer", resave(lambda data: {"student_model": {
            k: v for k, v in data["student_model"].items() if "output" not in k}})),
        ("wrong-shape", resave(shrink)),
        ("not-a-dict", resave(lambda data: [1, 2])),
    ]  # fmt: skip
    target = "models/UniSal/exported/unisal.pth"
    return [Case(name, "saliency_students", target, damage) for name, damage in damages]


def settings_json_cases() -> list[Case]:
    """obdb settings_file.json (`detection import-config`) and saliency config/grid JSON."""
    detection = [
        ("truncated", truncate()),
        ("empty", empty),
        ("utf16", utf16),
        ("invalid-utf8", bad_utf8('"Field')),
        ("not-an-object", edit_json(lambda data: [data])),
        ("variant-without-entry", edit_json(keyed(("variants",), ["resnet18", "resnet101"]))),
        ("missing-run-hpo", edit_json(keyed(("resnet34",), {}))),
        (
            "step-size-string",
            edit_json(keyed(("resnet18", "optimal_hpo_settings", "step_size"), "three")),
        ),
        ("plateau-string", edit_json(keyed(("max_plateau_count",), "many"))),
        ("range-not-numbers", edit_json(keyed(("sherpa_parameters", "lr"), ["low", "high"]))),
        ("task-list-not-a-list", edit_json(keyed(("annotations_list",), "FieldData 2020"))),
        ("iou-range-string", edit_json(keyed(("metrics_iou_range",), [0.5, "high"]))),
        ("sherpa-hpo-result", edit_json(lambda data: SHERPA_RESULT)),
        ("optuna-hpo-result", edit_json(lambda data: OPTUNA_RESULT)),
    ]
    saliency = [
        ("config-truncated", truncate()),
        ("config-garbage", garbage(10)),
        ("config-model-string", edit_json(keyed(("model",), "hypernet"))),
        ("config-count-string", edit_json(keyed(("train", "imgs_per_task_train"), "many"))),
        ("config-batch-size-zero", edit_json(keyed(("train", "batch_size"), 0))),
        ("config-hnet-type-unknown", edit_json(keyed(("model", "hnet", "type"), "hyper"))),
        ("config-old-type-contextmod", edit_json(keyed(("type",), "contextmod"))),
        ("config-mnet-type-other", edit_json(keyed(("model", "mnet", "type"), "contextmod"))),
        (
            "config-activation-unknown",
            edit_json(keyed(("model", "mnet", "decoder_non_linearity"), "GELU")),
        ),
        ("config-loss-unknown", edit_json(keyed(("train", "loss"), "FocalLoss"))),
        ("config-task-count-too-small", edit_json(keyed(("model", "hnet", "task_cnt"), 2))),
        ("config-stage-tasks-string", edit_json(keyed(("train", "tasks"), "UniSal"))),
        ("config-skip-string", edit_json(keyed(("skip",), "train"))),
        (
            "config-preprocess-value-not-object",
            edit_json(keyed(("preprocess", "histogram_matching"), "none")),
        ),
        ("config-part-file", edit_json(lambda data: {"train": data["train"]})),
        ("config-toolbox-config", edit_json(lambda data: {"experiment_parameters": {}})),
    ]
    grid = [
        ("grid-not-pairs", edit_json(lambda data: {"train/lr": [0.1]})),
        ("grid-key-number", edit_json(lambda data: [[5, [1, 2]]])),
        ("grid-unknown-key", edit_json(lambda data: [["train/momentum", [0.9]]])),
    ]
    cases = [Case(f"detection-{n}", "detection_settings", "settings_file.json", d)
             for n, d in detection]  # fmt: skip
    cases += [Case(f"saliency-{n}", "saliency_config", "config.json", d) for n, d in saliency]
    return cases + [Case(f"saliency-{n}", "saliency_config", "gridsearch.json", d) for n, d in grid]


CORPUS: dict[str, Callable[[], list[Case]]] = {
    "JPEG images": jpeg_cases,
    "PNG images": png_cases,
    "TIFF depth": tiff_cases,
    "Jacquard grasp txt": grasp_cases,
    "WLASL index JSON": wlasl_index_cases,
    "WLASL split JSON (nslt)": nslt_cases,
    "mp4 videos": video_cases,
    "CVAT XML": cvat_xml_cases,
    "COCO JSON": coco_cases,
    "saliency maps": saliency_map_cases,
    "config YAML": config_yaml_cases,
    "SLR .ini": ini_cases,
    "settings JSON": settings_json_cases,
    "saliency student exports": student_cases,
}
