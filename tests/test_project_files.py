"""What the project carries beside its code: a license said the same everywhere, a CI workflow
and hooks that run what `make test` runs."""

from __future__ import annotations

import json
import tomllib

import yaml

from tests.support.paths import ROOT


def test_the_license_is_apache_2_and_every_manifest_says_so() -> None:
    assert "Apache License\n" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()
    assert (
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    )
    assert json.loads((ROOT / "frontend" / "package.json").read_text())["license"] == "Apache-2.0"


def test_ci_runs_the_readmes_test_command() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(run.split()[-2:] == ["make", "test"] for run in steps)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text().split("\n## ")[0]


def test_the_hooks_check_what_make_test_checks() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "mypy", "eslint", "prettier"} <= hooks
    assert all(repo["repo"] == "local" for repo in config["repos"])  # nothing fetched


def test_a_version_tag_publishes_the_platform_image_with_flowui_deploy_image() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    # PyYAML reads the key `on` as True (YAML 1.1).
    assert workflow[True]["push"]["tags"] == ["v*"]
    assert workflow["permissions"]["packages"] == "write"
    assert "make install gui" in steps  # the image serves the built GUI
    (build,) = [run for run in steps if "flowui deploy image" in run]
    assert "--push" in build and '--tag "ghcr.io/' in build
