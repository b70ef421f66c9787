"""Training input pipeline throughput: prepared store vs decoding JPEGs with ImageFolder.

Measured, in samples per second through a `torch.utils.data.DataLoader`:

  store        SeededImageDataset(PackedImages(store, "train"), train_transform(224, 0.08))
               on a store prepared at short side 256 (the paper setting); its uint8
               batches are normalised inside the timed loop (the model does this on
               the device in training), so both sides deliver normalised float batches;
  imagefolder  torchvision ImageFolder decoding the original JPEGs with the original
               CORnet transform: RandomResizedCrop(224), RandomHorizontalFlip, ToTensor,
               Normalize(ImageNet mean/std).

The raw images are synthetic but ImageNet-like: 500x375 or 375x500 JPEGs at quality 90, with
pixel noise (--noise) so the mean file is about 110 KiB, as in the ImageNet training set,
instead of compressing unrealistically well. Each repetition times --batches batches after
one warm-up batch; repetitions alternate store, imagefolder, store, ... so slow drift of the
machine affects both alike. The report gives the median rate of each and the
ratio store / imagefolder; higher is better for the store, and the target is a ratio of at
least 5. The defaults are the paper setting (config/paper.yaml: batch 16, short side 256,
224 crops at scales 0.08-1); the paper's 6 workers are --workers (2 on a 2-core machine).
Rates depend on the CPU and on --workers / --threads, so compare ratios between machines,
not absolute numbers. Where the time goes: each side's first --batches x --batch-size train
samples are also taken apart in the main process, timing per sample the read (the store's
stored image; the JPEG's decode), the transform and, per batch, collate and normalisation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from loader_rate import items_per_second
from PIL import Image
from torch.utils.data import DataLoader, default_collate
from torchvision import transforms

from visionflow.data.miniimagenet import PackedImages, prepare
from visionflow.demo.miniimagenet import render, wnid
from visionflow.engine.sampling import EpochSeededSampler, SeededImageDataset
from visionflow.experiments.cornet.training import train_transform
from visionflow.models.normalisation import IMAGENET_MEAN, IMAGENET_STD

RESULTS = Path(__file__).resolve().parent / "results" / "data_loading.json"
TARGET_RATIO = 5.0
MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255
IMAGE_SIZES = ((500, 375), (375, 500))  # the most common ImageNet shapes (landscape, portrait)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_raw(root: Path, classes: int, per_class: dict[str, int], noise: float) -> None:
    """An ImageFolder root/{train,val}/<wnid>/*.JPEG of ImageNet-sized demo images."""
    for split_index, (split, count) in enumerate(per_class.items()):
        for label in range(classes):
            folder = root / split / wnid(label)
            folder.mkdir(parents=True)
            for k in range(count):
                rng = np.random.default_rng([split_index, label, k])
                size = IMAGE_SIZES[int(rng.random() < 0.25)]
                image = render(rng, label).resize(size, Image.Resampling.BICUBIC)
                pixels = np.asarray(image, np.float32) + rng.normal(0, noise, (*size[::-1], 3))
                image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
                image.save(folder / f"{wnid(label)}_{k}.JPEG", "JPEG", quality=90)


def make_loaders(raw: Path, store: Path, batch_size: int, workers: int) -> dict[str, DataLoader]:
    """The two DataLoaders under test, keyed by pipeline name."""
    store_set = SeededImageDataset(PackedImages(store, "train"), train_transform(224, 0.08), 0)
    original = transforms.Compose(
        [
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    folder_set = torchvision.datasets.ImageFolder(raw / "train", transform=original)
    common = {"batch_size": batch_size, "num_workers": workers}
    return {
        "store": DataLoader(store_set, sampler=EpochSeededSampler(len(store_set), 0), **common),
        "imagefolder": DataLoader(folder_set, shuffle=True, **common),
    }


def normalised(images: torch.Tensor) -> torch.Tensor:
    """Float, ImageNet-normalised batch; the store hands out uint8, which the model normalises."""
    if images.dtype == torch.uint8:
        return images.float().sub_(MEAN).div_(STD)
    return images


def stage_ms(loader: DataLoader, count: int, batch_size: int) -> dict[str, float]:
    """Milliseconds per sample of read, transform, and collate + normalise, over `count`."""
    dataset, samples = loader.dataset, []
    totals = dict.fromkeys(("read", "transform", "batch"), 0.0)
    for index in range(count):
        start = time.perf_counter()
        if isinstance(dataset, SeededImageDataset):
            image, label = dataset.source.image(index), int(dataset.source.labels[index])
        else:
            path, label = dataset.samples[index]
            image = dataset.loader(path)
        read = time.perf_counter()
        samples.append((dataset.transform(image), label))
        totals["read"] += read - start
        totals["transform"] += time.perf_counter() - read
    for first in range(0, count, batch_size):
        start = time.perf_counter()
        normalised(default_collate(samples[first : first + batch_size])[0])
        totals["batch"] += time.perf_counter() - start
    return {stage: 1000 * seconds / count for stage, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=40, help="train images per class")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per repetition")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of each pipeline")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader num_workers")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads in this process (workers use 1)"
    )
    parser.add_argument("--short-side", type=int, default=256)
    parser.add_argument("--noise", type=float, default=26.0, help="pixel noise std of raw JPEGs")
    parser.add_argument("--scratch", type=Path, help="parent of the temporary work folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if (args.batches + 1) * args.batch_size > args.classes * args.per_class:
        parser.error("need (batches + 1) * batch-size <= classes * per-class train images")
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench-data-loading-", dir=args.scratch) as tmp:
        raw, store = Path(tmp) / "raw", Path(tmp) / "prepared"
        log(f"writing {args.classes} x {args.per_class} ImageNet-sized JPEGs to {raw}")
        write_raw(raw, args.classes, {"train": args.per_class, "val": 2}, args.noise)
        jpegs = list((raw / "train").rglob("*.JPEG"))
        mean_kb = statistics.mean(p.stat().st_size for p in jpegs) / 1024
        log(f"preparing the store at short side {args.short_side}")
        prepare(raw, store, args.short_side)

        loaders = make_loaders(raw, store, args.batch_size, args.workers)
        count = args.batches * args.batch_size
        stages = {
            name: stage_ms(loader, count, args.batch_size) for name, loader in loaders.items()
        }
        log(f"ms per sample by stage: {json.dumps(stages)}")
        rates: dict[str, list[float]] = {name: [] for name in loaders}
        for rep in range(args.repeats):
            for name, loader in loaders.items():
                if isinstance(loader.sampler, EpochSeededSampler):
                    loader.sampler.set_epoch(rep)
                rates[name].append(items_per_second(loader, args.batches, normalised))
                log(f"repeat {rep + 1}/{args.repeats}  {name:<11} {rates[name][-1]:8.1f} /s")

    median = {name: statistics.median(values) for name, values in rates.items()}
    ratio = median["store"] / median["imagefolder"]
    met = ratio >= TARGET_RATIO
    print(f"{'pipeline':<12} {'median samples/s':>16} {'min':>8} {'max':>8}")
    for name, values in rates.items():
        print(f"{name:<12} {median[name]:16.1f} {min(values):8.1f} {max(values):8.1f}")
    verdict = "met" if met else "NOT met"
    print(f"ratio store/imagefolder: {ratio:.2f}x (target >= {TARGET_RATIO:g}x: {verdict})")
    print(f"raw JPEGs: {len(jpegs)}, mean {mean_kb:.0f} KiB, workers={args.workers}, ", end="")
    print(f"threads={args.threads}, batch size {args.batch_size} x {args.batches} timed batches")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    result = {
        "settings": settings,
        "image_sizes": IMAGE_SIZES,
        "mean_jpeg_kib": round(mean_kb, 1),
        "samples_per_s": rates,
        "median_samples_per_s": median,
        "ratio_store_over_imagefolder": ratio,
        "stage_ms_per_sample": stages,
        "target_ratio": TARGET_RATIO,
        "target_met": met,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
