"""Every figure a DVC stage writes is a plot of dvc.yaml, which `dvc plots show` shows as
the PNG itself: no Vega, nothing fetched from the network. The README's `dvc exp show`
column selections work."""

import shlex
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from helpers import BIN, REPO, run  # noqa: E402

from visionflow.dvc.stages import Job, build, render  # noqa: E402


def test_stage_figures_are_shown_by_dvc_plots_as_images(tmp_path):
    spec = {"evaluate": {"rules": ["plot"], "config": ["seed"]}}
    jobs = [Job("plot", ("results/r/eval.json",), ("results/r/top1.png", "results/r/eval.csv"))]
    content = build(spec, jobs, "config/config.yaml")
    assert content["plots"] == ["results/r/top1.png"]

    run(["git", "init", "-q"], cwd=tmp_path)
    run([str(BIN / "dvc"), "init", "-q"], cwd=tmp_path)
    (tmp_path / "results" / "r").mkdir(parents=True)
    figure, axes = plt.subplots()
    axes.plot([0, 1], [0.2, 0.6])
    figure.savefig(tmp_path / "results" / "r" / "top1.png")
    plt.close(figure)
    (tmp_path / "dvc.yaml").write_text(render({"plots": content["plots"]}, "config/config.yaml"))
    run([str(BIN / "dvc"), "plots", "show", "-o", "shown"], cwd=tmp_path)
    page = (tmp_path / "shown" / "index.html").read_text()
    assert '<img src="static/workspace_results_r_top1.png">' in page
    assert "https://" not in page  # renders offline
    shown = tmp_path / "shown" / "static" / "workspace_results_r_top1.png"
    assert shown.read_bytes() == (tmp_path / "results" / "r" / "top1.png").read_bytes()


def readme_exp_show_commands() -> list[list[str]]:
    """The `dvc exp show` commands the README gives, as arguments."""
    lines = (REPO / "README.md").read_text().splitlines()
    return [shlex.split(line) for line in lines if line.startswith("dvc exp show -")]


@pytest.mark.slow  # dvc repro and dvc exp run: about 20 s
def test_the_readmes_exp_show_column_selections_work(tmp_path):
    dvc = str(BIN / "dvc")
    run(["git", "init", "-q"], cwd=tmp_path)
    run(["git", "config", "user.email", "a@b.c"], cwd=tmp_path)
    run(["git", "config", "user.name", "a"], cwd=tmp_path)
    run([dvc, "init", "-q"], cwd=tmp_path)
    params = {"seed": 0, "on_bad_sample": "error", "cornet": {"lr": 0.1, "momentum": 0.9}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    score = "import yaml, json; p = yaml.safe_load(open('params.yaml'))['cornet']; "
    score += "json.dump({'top1': p['lr'] * 2, 'loss': 1.0}, open('m.json', 'w'))"
    stage = {
        "cmd": shlex.join([sys.executable, "-c", score]),
        "params": ["seed", "on_bad_sample", "cornet"],
        "metrics": [{"m.json": {"cache": False}}],
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"score": stage}}))
    run([dvc, "repro", "-q"], cwd=tmp_path)
    run(["git", "add", "-A"], cwd=tmp_path)
    run(["git", "commit", "-qm", "base"], cwd=tmp_path)
    run([dvc, "exp", "run", "-q", "-S", "cornet.lr=0.2"], cwd=tmp_path)

    only_changed, picked = readme_exp_show_commands()
    header = run([*only_changed, "--no-pager", "--csv"], cwd=tmp_path).stdout.splitlines()[0]
    assert set(header.split(",")) >= {"top1", "cornet.lr"}
    assert not {"loss", "seed", "cornet.momentum"} & set(header.split(","))
    header = run([*picked, "--no-pager", "--csv"], cwd=tmp_path).stdout.splitlines()[0]
    assert {"top1", "cornet.lr", "cornet.momentum"} <= set(header.split(","))
    assert not {"Created", "State", "Executor", "seed", "on_bad_sample"} & set(header.split(","))
