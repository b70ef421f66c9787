"""`make readme-figures`: every number and figure the README shows from the demo has a source."""

import re

import pytest
from helpers import REPO

from tools import readme_figures

README = (REPO / "README.md").read_text()


def test_every_marked_number_has_a_source_and_every_source_is_shown():
    marked = [match["key"] for match in readme_figures.MARKER.finditer(README)]
    assert sorted(set(marked)) == sorted(readme_figures.NUMBERS)


def test_every_figure_the_readme_shows_comes_from_a_result():
    shown = set(re.findall(r"\]\(docs/figures/([\w.]+\.png)\)", README))
    assert shown == set(readme_figures.FIGURES)
    assert shown == {path.name for path in (REPO / "docs" / "figures").glob("*.png")}


def test_fill_replaces_each_value_and_refuses_an_unknown_key():
    text = "CLS <!-- n:grasp.cls_test -->0.91<!-- /n --> and <!-- n:torch -->2.0<!-- /n -->"
    filled = readme_figures.fill(text, {"grasp.cls_test": "0.88", "torch": "2.14.1"})
    assert (
        filled
        == "CLS <!-- n:grasp.cls_test -->0.88<!-- /n --> and <!-- n:torch -->2.14.1<!-- /n -->"
    )
    with pytest.raises(ValueError, match="README.md: no source for the numbers \\['torch'\\]"):
        readme_figures.fill(text, {"grasp.cls_test": "0.88"})


@pytest.mark.slow
def test_a_finished_run_fills_every_number_and_figure(tiny_run, tmp_path):
    readme, figures = tmp_path / "README.md", tmp_path / "figures"
    readme.write_text(README)
    figures.mkdir()
    readme_figures.main(["--run", str(tiny_run), "--readme", str(readme),
                         "--figures", str(figures)])  # fmt: skip
    values = {
        match["key"]: match["value"] for match in readme_figures.MARKER.finditer(readme.read_text())
    }
    assert re.fullmatch(r"\d+\.\d+\.\d+", values["torch"])
    assert all(
        re.fullmatch(r"-?\d\.\d\d|\d+%", value) for key, value in values.items() if key != "torch"
    )
    for name in readme_figures.FIGURES:
        assert (figures / name).read_bytes() == (
            next(tiny_run.glob(readme_figures.FIGURES[name]))
        ).read_bytes()
