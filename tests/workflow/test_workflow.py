"""The Snakemake workflow: whole-DAG dry run, config validation, a small real run."""

import itertools
import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest
import yaml
from helpers import (
    copy_run,
    planned_jobs,
    read_config,
    snakemake,
    tiny_workflow,
    workflow_copy,
    write_config,
)


def test_dry_run_covers_the_whole_dag(tmp_path):
    result = snakemake(workflow_copy(tmp_path), "-n", "results/cornet/top1.png", "all")
    assert planned_jobs(result.stdout) == {
        "all": 1,
        "demo_miniimagenet": 1,
        "prepare_miniimagenet": 1,
        "train_cornet": 4,
        "test_cornet": 4,
        "plot_cornet": 1,
        "summarize_cornet": 1,
        "demo_jacquard": 1,
        "prepare_jacquard": 1,
        "train_grasp": 2,
        "test_grasp": 4,
        "vis_grasp": 2,
        "plot_grasp_confusion": 1,
        "plot_grasp": 1,
        "summarize_grasp": 1,
        "demo_wlasl": 1,
        "prepare_wlasl": 1,
        "train_slr": 1,
        "test_slr": 1,
        "plot_slr": 1,
        "summarize_slr": 1,
        "record_rsm": 4,
        "compute_rsm": 4,
        "compare_rsm": 2,
        "sample_shapley": 8,
        "pool_shapley": 2,
        "plot_shapley": 2,
        "plot_attribution": 3,
        "demo_cvat": 1,
        "prepare_cvat": 1,
        "split_cvat": 1,
        "plot_cvat_split": 1,
        "search_detection": 2,
        "select_detection": 1,
        "train_detection": 1,
        "predict_detection": 1,
        "test_detection": 1,
        "annotate_detection": 1,
        "summarize_detection": 1,
        "demo_saliency": 1,
        "prepare_saliency": 1,
        "train_saliency": 6,
        "test_saliency": 2,
        "run_saliency": 2,
        "summarize_saliency": 1,
    }  # fmt: skip  (no label_clip: the demo config has no CLIP weights)


def test_slr_queue_is_one_gpu_job_per_entry(tmp_path):
    workdir = workflow_copy(tmp_path)
    config = read_config(workdir)
    second = dict(config["slr"]["runs"][0], model="R3D_18", exp=2)
    config["slr"]["runs"].append(second)
    write_config(workdir, config)
    result = snakemake(workdir, "-n", "slr_all")
    jobs = planned_jobs(result.stdout)
    assert jobs["train_slr"] == 2 and jobs["test_slr"] == 2 and jobs["prepare_wlasl"] == 1
    assert "results/slr/asl10/R3D_18_002/metrics.csv" in result.stdout
    resources = [
        line for line in result.stdout.splitlines() if line.strip().startswith("resources:")
    ]
    assert sum("gpu=1" in line for line in resources) == 4  # two train and two test jobs


def test_another_cornet_model_is_one_run_named_after_it(tmp_path):
    """cornet.model R (run.py --model R): one run, results/cornet/R/, with `times` and
    without S100's outer_times among the settings it computes from."""
    workdir = workflow_copy(tmp_path, cornet={"model": "R", "times": 3})
    result = snakemake(workdir, "-n", "-p", "results/cornet/summary.csv")
    assert planned_jobs(result.stdout) == {"demo_miniimagenet": 1, "prepare_miniimagenet": 1,
                                           "train_cornet": 1, "test_cornet": 1,
                                           "summarize_cornet": 1}  # fmt: skip
    [command] = [line for line in result.stdout.splitlines() if "cornet train" in line]
    settings = json.loads(command.split("--settings ")[1].split(" 2>&1")[0].strip("'"))
    assert settings["model"] == "R" and settings["times"] == 3 and "outer_times" not in settings
    assert "--run-dir results/cornet/R " in command


def test_config_problems_are_the_whole_error_output(tmp_path):
    workdir = workflow_copy(tmp_path, cornet={"lr": "fast", "learning_rate": 0.1})
    result = snakemake(workdir, "-n", "--config", "grasp={epochs: many}", check=False)
    assert result.returncode == 1
    snakemakes_own = (
        "Using workflow specific profile workflow/profiles/default",
        "Config file config/config.yaml is extended by additional config",
    )
    output = (result.stdout + result.stderr).splitlines()
    lines = [line for line in output if not line.startswith(snakemakes_own)]
    assert sorted(lines) == [
        "--config: grasp.epochs: expected integer, got 'many'",
        "config/config.yaml: cornet.learning_rate: unknown key (did you mean `lr`?)",
        "config/config.yaml: cornet.lr: expected number, got 'fast'",
    ]


def test_analysis_of_an_untrained_run_is_left_out_with_a_warning(tmp_path):
    workdir = workflow_copy(tmp_path)
    config = read_config(workdir)
    config["analysis"]["rsm"]["compare"]["cornet"] = [["outer1", "outer9"]]
    write_config(workdir, config)
    result = snakemake(workdir, "-n")
    warning = "cornet runs ['outer9'] are not trained by this config"
    assert (result.stdout + result.stderr).count(warning) == 1
    assert "outer1_vs_outer9" not in result.stdout and "outer1_vs_outer4" not in result.stdout
    jobs = planned_jobs(result.stdout)
    assert jobs["train_cornet"] == 4 and jobs["compare_rsm"] == 1  # CLS vs GRASP only


def assert_image(path: Path) -> None:
    """A PNG that decodes to a non-blank picture."""
    image = mpimg.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100 and image.std() > 0, path


def assert_readable_log(path: Path) -> list[str]:
    """The lines of a job's log, checked for what made logs unreadable: progress bars
    redrawn with carriage returns, lines printed twice, Lightning's tips, an unmeasured
    FLOPs count, known deprecation warnings."""
    text = path.read_text()
    assert "\r" not in text, path
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), f"{path}: lines printed twice:\n{text}"
    for noise in ("Tip:", "FLOPs", "is deprecated"):
        assert noise not in text, f"{path}: {noise}\n{text}"
    return lines


def test_cornet_run_is_built_then_only_a_changed_setting_reruns(tmp_path):
    workdir = tiny_workflow(tmp_path)
    config = read_config(workdir)
    config["cornet"].update(outer_times=[1], epochs=2)
    write_config(workdir, config)
    target = "results/cornet/outer1/eval/test.json"
    snakemake(workdir, target)
    assert 0 <= json.loads((workdir / target).read_text())["top1"] <= 1
    assert_readable_log(workdir / "logs" / "miniimagenet" / "prepare.log")
    training = assert_readable_log(workdir / "logs" / "cornet" / "train_outer1.log")
    epochs = [line for line in training if re.search(r"\bepoch \d+/2: ", line)]
    assert len(epochs) == 2, training
    assert re.search(r"epoch 2/2: train loss \S+ top1 \S+ top5 \S+ \| val loss \S+ top1 \S+"
                     r" top5 \S+ \| \d+ s, ETA 0 s$", epochs[1])  # fmt: skip
    assert "Nothing to be done" in snakemake(workdir, "-n", target).stdout
    config["cornet"]["threads"] = 1  # a job resource, not a setting: nothing re-runs for it
    write_config(workdir, config)
    assert "Nothing to be done" in snakemake(workdir, "-n", target).stdout
    config["cornet"]["lr"] = 0.02
    write_config(workdir, config)
    rerun = planned_jobs(snakemake(workdir, "-n", target).stdout)
    assert rerun == {"train_cornet": 1, "test_cornet": 1}


@pytest.mark.slow
def test_small_end_to_end_run_then_targeted_rerun(tiny_run, tmp_path):
    workdir = copy_run(tiny_run, tmp_path / "run")
    config = read_config(workdir)
    results = workdir / "results" / "cornet"
    for name in ("top1.png", "loss.png"):
        assert_image(results / name)
    for name in ("accuracy.png", "loss.png", "cls/vis/confusion.png", "cls/vis/predictions.png",
                 "grasp/vis/predictions.png"):  # fmt: skip
        assert_image(workdir / "results" / "grasp" / name)
    assert "| CLS |" in (workdir / "results" / "grasp" / "summary.md").read_text()
    summary = pd.read_csv(results / "summary.csv")
    assert summary["run"].tolist() == ["outer_times=1", "outer_times=2"]
    assert summary["test_top1"].between(0, 1).all()
    metrics = pd.read_csv(results / "outer2" / "metrics.csv")
    assert list(zip(metrics["epoch"], metrics["split"], strict=True)) == [
        (0, "val"), (1, "train"), (1, "val"), (2, "train"), (2, "val")]  # fmt: skip
    grasp = pd.read_csv(workdir / "results" / "grasp" / "summary.csv")
    assert grasp["task"].tolist() == ["CLS", "GRASP"]
    assert grasp[["train_accuracy", "test_accuracy"]].stack().between(0, 1).all()
    slr = pd.read_csv(workdir / "results" / "slr" / "summary.csv")
    assert slr["run"].tolist() == ["R(2+1)D_18_001"] and slr["split"].tolist() == ["asl3"]
    assert slr[["test_top1", "shuffled_top1"]].stack().between(0, 1).all()
    for name in ("top1.png", "shuffled.png", "asl3/R(2+1)D_18_001/results/best_test-confmat.png"):
        assert_image(workdir / "results" / "slr" / name)
    check_detection(workdir)
    check_saliency(workdir, config["saliency"]["tasks"])

    assert "Nothing to be done" in snakemake(workdir, "-n", "all").stdout
    check_report(workdir)

    config["cornet"]["lr"] = 0.02
    write_config(workdir, config)
    rerun = planned_jobs(snakemake(workdir, "-n", "all").stdout)
    analysis = {"record_rsm": 2, "compute_rsm": 2, "compare_rsm": 1, "sample_shapley": 4,
                "pool_shapley": 1, "plot_shapley": 1, "plot_attribution": 1}  # fmt: skip
    assert rerun == {"all": 1, "train_cornet": 2, "test_cornet": 2, "plot_cornet": 1,
                     "summarize_cornet": 1, **analysis}  # fmt: skip
    clip = json.loads((workdir / "results/grasp/analysis/clip/metrics.json").read_text())
    assert clip["images"] > 0 and 0 <= clip["top1"] <= 1
    assert (workdir / "results/grasp/analysis/clip/contact_sheets/index.html").is_file()

    config["cornet"]["lr"] = 0.05
    config["grasp"]["lr"] = 1.0e-3
    write_config(workdir, config)
    rerun = planned_jobs(snakemake(workdir, "-n", "all").stdout)
    grasp = {"train_grasp": 2, "test_grasp": 4, "vis_grasp": 2, "plot_grasp_confusion": 1,
             "plot_grasp": 1, "summarize_grasp": 1}  # fmt: skip
    assert rerun == {"all": 1, **grasp, **analysis}

    # The human-inspection loop: an edited relabel.csv re-converts Jacquard and re-runs
    # everything downstream of it, CLIP included.
    relabel = pd.read_csv(workdir / "results/grasp/analysis/clip/relabel.csv", dtype=str,
                          keep_default_na=False)  # fmt: skip
    other = next(c for c in config["jacquard"]["classes"] if c != relabel.loc[0, "class"])
    relabel.loc[0, "new_class"] = other
    relabel.to_csv(workdir / "config" / "relabel.csv", index=False)
    config["jacquard"]["relabel"] = "config/relabel.csv"
    write_config(workdir, config)
    rerun = planned_jobs(snakemake(workdir, "-n", "all").stdout)
    assert rerun["prepare_jacquard"] == 1 and rerun["label_clip"] == 1
    assert rerun["train_grasp"] == 2


def check_detection(workdir: Path) -> None:
    """The detection branch: a two-worker search, a trained variant, metrics, annotations."""
    variant = workdir / "results" / "detection" / "mobilenet_v3_small"
    trials = pd.read_csv(variant / "hpo" / "trials.csv")
    assert len(trials) == 2 and set(trials["worker"]) <= {0, 1}
    optimal = json.loads((variant / "hpo" / "optimal_hpo_settings.json").read_text())
    assert optimal["best_value"] == trials["value"].min()
    for trial in trials[trials["state"] == "COMPLETE"].itertuples():  # lowest val loss
        history = pd.read_csv(variant / "hpo" / f"trial{trial.trial:03d}" / "metrics.csv")
        val = history[(history["split"] == "val") & (history["epoch"] > 0)]
        assert trial.value == pytest.approx(val["loss"].min())
    trained = yaml.safe_load((variant / "config.yaml").read_text())
    assert trained["lr"] == optimal["lr"] and trained["step_size"] == optimal["step_size"]
    grid = pd.read_csv(variant / "eval" / "prf.csv")
    assert len(grid) == 81 and grid[["precision", "recall", "f1"]].stack().between(0, 1).all()
    per_class = pd.read_csv(variant / "eval" / "prf_per_class.csv")
    summed = per_class.groupby(["score_threshold", "iou_threshold"])["tp"].sum().to_numpy()
    assert len(per_class) == 3 * 81 and (summed == grid["tp"].to_numpy()).all()
    assert (variant / "eval" / "prf_curves.png").is_file()
    summary = pd.read_csv(workdir / "results" / "detection" / "summary.csv")
    assert summary["variant"].tolist() == ["mobilenet_v3_small"]
    tasks = [p.name for p in (variant / "auto_annotation").iterdir() if p.is_dir()]
    assert "merged" in tasks and (variant / "auto_annotation" / "review.csv").is_file()
    clusters = pd.read_csv(workdir / "data" / "prepared" / "cvat" / "split" / "clusters.csv")
    assert (clusters[["train", "val"]] > 0).all().all() and len(clusters) == 2


def check_saliency(workdir: Path, tasks: list[str]) -> None:
    """The saliency branch: every kept stage exported per grid point, tests, runs, summary."""
    results = workdir / "results" / "saliency"
    for point in ("gp0", "gp1"):
        for stage in ("pretrain_one_task", "train_catchup", "train"):
            assert (results / point / stage / "export.pt").is_file()
        assert not (results / point / "pretrain_weights").exists()  # skipped
        test = pd.read_csv(results / point / "test" / "metrics.csv")
        assert test["task"].tolist() == tasks and test["cc"].between(-1, 1).all()
        folders = [p.name for p in (results / point / "run").iterdir() if p.is_dir()]
        assert sorted(folders) == sorted(tasks)
    summary = pd.read_csv(results / "summary.csv")
    assert summary["point"].tolist() == ["gp0", "gp1"]
    assert summary["train/lr"].tolist() == [1.0e-3, 3.0e-3]


def check_report(workdir: Path) -> None:
    """`snakemake --report` embeds every figure and table rule all produces."""
    snakemake(workdir, "--report", "report.html")
    html = (workdir / "report.html").read_text()
    for name in ("top1.png", "loss.png", "summary.csv", "accuracy.png", "predictions.png",
                 "confusion.png", "shuffled.png", "best_test-confmat.png",
                 "best_test-bargraph.png", "best_test-heatmap.png", "intra_model.png",
                 "layers.png", "outer1_vs_outer2.png", "cls_vs_grasp.png", "values.png",
                 "bounds.png", "guided_backprop.png", "activation_maximisation.png",
                 "history.png", "prf.png", "comparison.png", "tsne.png", "run.png",
                 "summary.png"):  # fmt: skip
        assert f"{name}" in html, f"{name} missing from the report"
    assert html.count("iVBORw0KGgo") >= 10  # the PNGs themselves, base64-inlined
    assert "CLIP zero-shot labels of the Jacquard RGB images" in html


@pytest.mark.slow
def test_demo_target_as_documented(tmp_path):
    workdir = workflow_copy(tmp_path)
    snakemake(workdir, "results/cornet/top1.png")
    summary_run = snakemake(workdir, "results/cornet/summary.csv")
    assert summary_run.returncode == 0
    summary = pd.read_csv(workdir / "results" / "cornet" / "summary.csv")
    assert (summary["final_val_top1"] > 0.3).all()


def test_paper_config_plans_real_data_without_demo_rules(tmp_path):
    workdir = workflow_copy(tmp_path)
    raw = tmp_path / "MiniImageNet"
    for split in ("train", "val"):
        (raw / split / "n01532829").mkdir(parents=True)
    jacquard = tmp_path / "top_5"
    (jacquard / "train" / "Chair").mkdir(parents=True)
    wlasl = tmp_path / "WLASL"
    wlasl.mkdir()
    weeds = tmp_path / "weed_data"
    weeds.mkdir()
    saliency = tmp_path / "saliency"
    saliency.mkdir()
    alexnet = tmp_path / "alexnet-owt-7be5be79.pth"  # required by paper.yaml, not read here
    alexnet.write_bytes(b"")
    mobilenet = tmp_path / "mobilenet_v2.pth"  # required for real saliency data, not read here
    mobilenet.write_bytes(b"")
    result = snakemake(
        workdir, "all", "-n", "-p", "--configfile", "config/paper.yaml",
        "--config", f"miniimagenet={{root: {raw}}}", f"jacquard={{root: {jacquard}}}",
        f"wlasl={{root: {wlasl}}}", f"cvat={{root: {weeds}}}",
        f"saliency={{root: {saliency}, model: {{weights: {mobilenet}}}}}",
        f"grasp={{alexnet_weights: {alexnet}}}",
        f"analysis={{rsm: {{reference: {{alexnet: {alexnet}}}}}}}",
    )  # fmt: skip
    jobs = planned_jobs(result.stdout)
    assert "demo_cvat" not in jobs and jobs["train_detection"] == 2
    assert jobs["search_detection"] == 2 and jobs["select_detection"] == 1  # resnet34 only
    assert '"lr": 3.934578332944719e-05' in result.stdout  # resnet18's given settings
    assert "FieldData 20200520145736 1L GH020068" in result.stdout
    assert '"image_size": 800' in result.stdout  # paper.yaml replaces the demo sizes
    assert "demo_saliency" not in jobs and jobs["train_saliency"] == 2  # train, generalization
    assert (
        "train train_generalization_task" in result.stdout and '"tasks": ["IKN"]' in result.stdout
    )
    assert "demo_miniimagenet" not in jobs and jobs["train_cornet"] == 4
    assert "demo_jacquard" not in jobs and jobs["train_grasp"] == 2
    assert f"--root {raw}" in result.stdout and f"--root {jacquard}" in result.stdout
    for setting in ('"lr": 0.1', '"epochs": 43', '"width": 1.0', '"step_size": 20'):
        assert setting in result.stdout
    for setting in ('"lr": 0.0005', '"epochs": 150', '"batch_size": 128', '"step_size": 25'):
        assert setting in result.stdout
    assert "demo_wlasl" not in jobs and jobs["train_slr"] == 1
    assert f"--index {wlasl}/WLASL_v0.3.json --videos {wlasl}/WLASL2000" in result.stdout
    for setting in ('"model": "S3D"', '"num_frames": 32', '"update_per_step": 8', '"tmax": 100'):
        assert setting in result.stdout


def test_saliency_skip_rewires_which_export_each_stage_starts_from(tmp_path):
    workdir = workflow_copy(tmp_path)
    config = read_config(workdir)
    weights = tmp_path / "teachers"
    (weights / "Bright_Spots" / "exported").mkdir(parents=True)  # an original student export
    (weights / "Bright_Spots" / "exported" / "bright_spots.pth").write_bytes(b"")
    for task in config["saliency"]["tasks"][1:]:
        (weights / f"{task}.pt").write_bytes(b"")
    config["saliency"].update(skip=[], weights_dir=str(weights), grid=[])
    write_config(workdir, config)
    result = snakemake(workdir, "-n", "-p", "saliency_all")
    assert planned_jobs(result.stdout)["train_saliency"] == 5
    chain = ["pretrain_weights", "pretrain_one_task", "train_catchup", "train",
             "train_generalization_task"]  # fmt: skip
    for before, stage in itertools.pairwise(chain):
        assert f"train {stage} --data" in result.stdout
        assert f"--previous results/saliency/gp0/{before}/export.pt" in result.stdout
    assert f"--weights {weights}/Bright_Spots/exported/bright_spots.pth" in result.stdout
    assert "--per-image results/saliency/gp0/test/images.csv" in result.stdout

    model = tmp_path / "loaded.pt"
    model.write_bytes(b"")
    sets = [{"name": "Pattern", "group": "CAT2000", "root": str(tmp_path)}]
    config["saliency"].update(skip=["pretrain_weights", "pretrain_one_task", "train_catchup"],
                              load_model=str(model), eval={"sets": sets})  # fmt: skip
    write_config(workdir, config)
    result = snakemake(workdir, "-n", "-p", "saliency_all")
    jobs = planned_jobs(result.stdout)
    assert jobs["train_saliency"] == 2 and jobs["evaluate_saliency"] == 1
    assert (
        "train train --data data/prepared/saliency --run-dir results/saliency/gp0/train"
        in result.stdout
    )
    assert f"--previous {model}" in result.stdout  # load_model starts the first kept stage
    assert (
        "saliency eval --export results/saliency/gp0/train_generalization_task/export.pt"
        in result.stdout
    )

    config["saliency"]["skip"] = []
    config["saliency"]["weights_dir"] = None
    write_config(workdir, config)
    result = snakemake(workdir, "-n", "saliency_all", check=False)
    assert result.returncode != 0 and "saliency.weights_dir" in result.stdout + result.stderr
