"""The workflow config's checks: one line per problem, naming the file and the key, and the
values `--config` delivers as strings read as the schema expects."""

import copy

import pytest
import yaml
from helpers import REPO
from snakemake.cli import parse_config
from snakemake.utils import update_config

from visionflow.config import ConfigError, checked, closest, load_order, source_of

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def check(*entries: str, file_values: dict | None = None) -> dict:
    """The demo config with `file_values` merged in as if from config/config.yaml and
    `entries` given as `--config` arguments, merged and checked as the Snakefile does."""
    config = copy.deepcopy(DEMO)
    update_config(config, file_values or {})
    overrides = parse_config(list(entries))  # what Snakemake makes of the command line
    update_config(config, overrides)
    files = [str(REPO / "config" / "config.yaml")]
    return checked(config, SCHEMA, files, overrides)


def problems(*entries: str, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        check(*entries, **kwargs)
    return str(caught.value).splitlines()


def test_values_nested_in_a_command_line_section_are_read_as_the_schema_expects():
    config = check(
        "cornet={lr: 0.01, epochs: 3, pretrained: null, outer_times: [1, 2]}",
        "miniimagenet={demo: {classes: 3}}",  # inside a oneOf (null or object)
        "saliency={train: {epochs: 2}}",  # inside a $ref
        "detection={hpo: {parameters: {lr: [1.0e-5, 0.001]}}}",
        "slr={pretrained: true}",
    )
    cornet = config["cornet"]
    assert (cornet["lr"], cornet["epochs"], cornet["outer_times"]) == (0.01, 3, [1, 2])
    assert cornet["pretrained"] is None and cornet["momentum"] == 0.9  # merged, not replaced
    assert config["miniimagenet"]["demo"]["classes"] == 3
    assert config["saliency"]["train"]["epochs"] == 2
    assert config["detection"]["hpo"]["parameters"]["lr"] == [1e-5, 0.001]
    assert config["slr"]["pretrained"] is True


def test_each_problem_is_one_line_with_its_source_key_and_the_closest_name():
    found = problems(
        "cornet={learning_rate: 0.01, optimiser: sgd, momentum: fast}",
        "on_bad_sample=skipp",
        "grasp={tasks: [cls, grsp]}",
        "miniimagenet={demo: {classes: many}}",
        file_values={"seed": "abc", "jacquard": {"sise": 224}},
    )
    source = str(REPO / "config" / "config.yaml")
    [optimiser] = [line for line in found if "optimiser" in line]
    assert optimiser.startswith("--config: cornet.optimiser: unknown key; known keys: ")
    assert ", lr, " in optimiser  # no close name: the known ones, on the same line
    assert set(found) - {optimiser} == {
        "--config: cornet.learning_rate: unknown key (did you mean `lr`?)",
        "--config: cornet.momentum: expected number, got 'fast'",
        "--config: grasp.tasks.1: 'grsp' is not one of cls, grasp (did you mean `grasp`?)",
        "--config: miniimagenet.demo.classes: expected integer, got 'many'",
        "--config: on_bad_sample: 'skipp' is not one of error, skip (did you mean `skip`?)",
        f"{source}: jacquard.sise: unknown key (did you mean `size`?)",
        f"{source}: seed: expected integer, got 'abc'",
    }
    assert len(found) == 8


def test_out_of_range_and_wrong_shape_values_name_their_key():
    assert problems("cornet={epochs: 0}") == [
        "--config: cornet.epochs: 0 is less than the minimum of 1"
    ]
    assert problems("miniimagenet={demo: lots}") == [
        "--config: miniimagenet.demo: expected null or object, got 'lots'"
    ]


@pytest.mark.parametrize(
    ("name", "known", "expected"),
    [
        ("learning_rate", ["lr", "momentum"], "lr"),
        ("epoch", ["epochs", "width"], "epochs"),
        ("outer", ["outer_times", "width"], "outer_times"),
        ("batch", ["batch_size", "lr"], "batch_size"),
        ("zzz", ["lr"], None),
    ],
)
def test_closest_known_name(name, known, expected):
    assert closest(name, known) == expected


def test_a_value_is_traced_to_the_last_file_setting_it_and_only_config_values_to_config(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "own.yaml").write_text("seed: 1\ncornet: {lr: 0.1}\n")
    (tmp_path / "mine.yaml").write_text("cornet: {lr: 0.2}\n")
    # Snakemake lists --configfile files (absolute) first, the Snakefile's own last
    files = load_order([tmp_path / "mine.yaml", "own.yaml"], [tmp_path / "mine.yaml"])
    assert files == ["own.yaml", "mine.yaml"]
    assert source_of(["cornet", "lr"], files, {}) == "mine.yaml"
    assert source_of(["seed"], files, {}) == "own.yaml"
    assert source_of(["seed"], files, parse_config(["seed=3"])) == "--config"
