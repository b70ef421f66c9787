"""The package declares its license, and the file it names holds that license."""

from helpers import REPO
from setuptools.config.pyprojecttoml import read_configuration


def test_pyproject_names_the_mit_license_and_ships_its_text():
    project = read_configuration(REPO / "pyproject.toml")["project"]  # validated by setuptools
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "Permission is hereby granted, free of charge" in text
