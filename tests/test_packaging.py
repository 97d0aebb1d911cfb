"""The project's dependencies are declared once (pyproject.toml) and mirrored for Binder
(environment.yml); these tests fail when the two drift apart or the layout loses a piece."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _normalised(requirements) -> set[str]:
    return {str(Requirement(r)).lower().replace("_", "-") for r in requirements}


def test_environment_pip_section_matches_pyproject():
    project = _pyproject()["project"]
    declared = _normalised(project["dependencies"] + project["optional-dependencies"]["test"])
    pip_lists = [d["pip"] for d in _environment()["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    binder = _normalised(pip_lists[0])
    assert binder == declared, (
        f"environment.yml and pyproject.toml disagree. Only in pyproject: {sorted(declared - binder)}; "
        f"only in environment.yml: {sorted(binder - declared)}. Copy the requirement strings across."
    )


def test_environment_pins_python_311_from_conda_forge():
    env = _environment()
    assert env["channels"] == ["conda-forge"]
    conda_packages = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda_packages and "pip" in conda_packages
    assert _pyproject()["project"]["requires-python"] == ">=3.11"


def test_every_requirement_has_a_tested_lower_bound():
    project = _pyproject()["project"]
    for requirement in map(Requirement, project["dependencies"] + project["optional-dependencies"]["test"]):
        assert any(spec.operator == ">=" for spec in requirement.specifier), f"{requirement} has no lower bound"


def test_layout_is_complete():
    for name in [
        "notebooks",
        "course_lib",
        "exercises",
        "solutions",
        "rubrics",
        "tests",
        "environment.yml",
        "pyproject.toml",
        "README.md",
        ".ci/run",
        "Makefile",
        "postBuild",
    ]:
        assert (ROOT / name).exists(), f"{name} is missing from the repository root"
