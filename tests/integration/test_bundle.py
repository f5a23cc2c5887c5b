"""The deploy bundle, proven the way Cloud Functions uses it: a fresh interpreter that sees only the bundle folder
and the installed third-party packages imports main.py, and functions-framework serves an entry point from it.

The child runs with `-S` so that the venv's .pth files (the project's editable install among them) are not
processed: its sys.path is the bundle plus site-packages and nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flywheel.config import SECRET_FIELDS, Settings, reference
from flywheel.services.registry import entry_points
from infra.bundle import Bundle, BundleError, build, deploy_command, summary

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import importlib.util, json, os, sys
import main
import flywheel
from functions_framework import create_app

bundle = sys.argv[1]
client = create_app(target="sirank_recalc", source=os.path.join(bundle, "main.py")).test_client()
response = client.post("/", json={"as_of": "2026-11-29", "dry_run": True})
print(json.dumps({
    "flywheel_file": flywheel.__file__,
    "callable": {name: callable(getattr(main, name, None)) for name in main.__all__},
    "sandbox_importable": importlib.util.find_spec("sandbox") is not None,
    "status": response.status_code,
    "body": response.get_json(),
}))
"""


def site_packages() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def run_in_deployed_shape(bundle: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    child_env = {
        "PYTHONPATH": os.pathsep.join([str(bundle), *site_packages()]),
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    completed = subprocess.run(
        [sys.executable, "-S", "-c", CHILD, str(bundle)],
        env=child_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return build(tmp_path / "functions-bundle", make_zip=True)


def test_the_bundle_imports_and_serves_a_dry_run_without_the_project_installed(
    bundle: Bundle, tmp_path: Path, sandbox_factory: Callable[..., Any]
) -> None:
    portal = sandbox_factory(companies=5, seed=1)
    env = {
        "HUBSPOT_API_BASE": portal.url,
        "HUBSPOT_ACCESS_TOKEN": portal.token,
        "FLYWHEEL_STATE": "memory://",
        "FLYWHEEL_MAILER": f"outbox://{tmp_path / 'outbox'}",
        "FLYWHEEL_AUTH": "iam",  # as deployed: --no-allow-unauthenticated, the platform checks the caller
    }

    result = run_in_deployed_shape(bundle.path, env, cwd=tmp_path)

    assert Path(result["flywheel_file"]).resolve().is_relative_to(bundle.path.resolve())
    assert result["sandbox_importable"] is False
    assert result["callable"] == dict.fromkeys(entry_points(), True)
    assert result["status"] == 200, result["body"]
    body = result["body"]
    assert (body["function"], body["as_of"], body["dry_run"]) == ("sirank_recalc", "2026-11-29", True)
    assert isinstance(body["summary"], dict)
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())


def test_the_bundle_has_main_at_its_root_and_the_flywheel_package_beside_it(bundle: Bundle) -> None:
    names = {path.as_posix() for path in bundle.files}

    assert {"main.py", "requirements.txt", "flywheel/__init__.py", "flywheel/py.typed"} <= names
    assert {path.name for path in (ROOT / "functions").glob("*.py")} <= names
    assert bundle.entry_points == tuple(entry_points())
    assert "sirank_recalc" in bundle.entry_points


def test_the_bundle_leaves_out_the_sandbox_tests_and_caches(bundle: Bundle) -> None:
    parts = {part for path in bundle.files for part in path.parts}
    on_disk = {path.name for path in bundle.path.rglob("*")}

    for unwanted in ("sandbox", "tests", "__pycache__", ".venv"):
        assert unwanted not in parts
        assert unwanted not in on_disk
    assert not [path for path in bundle.files if path.suffix in (".pyc", ".pyo")]


def test_requirements_are_exactly_the_runtime_dependencies_of_pyproject(bundle: Bundle) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    written = (bundle.path / "requirements.txt").read_text(encoding="utf-8").splitlines()

    assert written == project["dependencies"]
    assert not set(written) & set(project["optional-dependencies"]["dev"])


def test_the_zip_holds_the_same_files_as_the_folder(bundle: Bundle) -> None:
    import zipfile

    assert bundle.zip_path is not None
    with zipfile.ZipFile(bundle.zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(path.as_posix() for path in bundle.files)
        assert archive.read("main.py") == (bundle.path / "main.py").read_bytes()


def test_rebuilding_gives_the_same_zip_bytes(bundle: Bundle) -> None:
    assert bundle.zip_path is not None
    first = bundle.zip_path.read_bytes()

    again = build(bundle.path, make_zip=True)

    assert again.zip_path is not None
    assert again.zip_path.read_bytes() == first


def test_building_over_the_project_sources_is_refused(tmp_path: Path) -> None:
    # a throwaway project, so that a broken guard could only ever delete files of this test
    project = tmp_path / "project"
    (project / "functions").mkdir(parents=True)
    (project / "functions" / "main.py").write_text('__all__ = ["sirank_recalc"]\n')
    (project / "shared" / "flywheel").mkdir(parents=True)
    (project / "shared" / "flywheel" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text('[project]\ndependencies = ["pydantic"]\n')

    for out in (project, project / "shared", project / "shared" / "flywheel", tmp_path):
        with pytest.raises(BundleError):
            build(out, root=project)

    assert (project / "shared" / "flywheel" / "__init__.py").exists()
    assert build(project / "build" / "bundle", root=project).requirements == ("pydantic",)


def test_scheduled_functions_need_iam_and_webhooks_rely_on_the_hubspot_signature() -> None:
    scheduled = deploy_command("sirank_recalc", Path("build/functions-bundle"))
    webhook = deploy_command("cold_segment_webhook", Path("build/functions-bundle"))

    assert scheduled.startswith("gcloud functions deploy sirank_recalc ")
    for flag in (
        "--runtime=python311",
        "--trigger-http",
        "--entry-point=sirank_recalc",
        "--timeout=540s",
        "--memory=512MB",
        "--source=build/functions-bundle",
        "FLYWHEEL_STATE=firestore://PROJECT",
        "FLYWHEEL_MAILER=hubspot",
        "--no-allow-unauthenticated",
    ):
        assert flag in scheduled
    assert " --allow-unauthenticated" in webhook
    assert "--no-allow-unauthenticated" not in webhook


SECRETS = {
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_CLIENT_SECRET",
    "FLYWHEEL_NURTURE__COUPON_SECRET",
    "FLYWHEEL_API_TOKEN",
    "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET",
}


def secret_settings() -> set[str]:
    """The environment variable of every setting the configuration masks as a secret, so a new one is not missed."""
    return {
        env
        for env, _ in reference(Settings())
        if env.split("__")[-1].lower().removeprefix("flywheel_") in SECRET_FIELDS
    }


def assignments(command: str, flag: str) -> dict[str, str]:
    """NAME=VALUE pairs of one `--flag=NAME=VALUE,...` of a gcloud line."""
    [value] = [part.removeprefix(f"{flag}=") for part in command.split() if part.startswith(f"{flag}=")]
    return dict(pair.split("=", 1) for pair in value.split(","))


def test_the_printed_deploy_lines_take_every_secret_from_secret_manager(bundle: Bundle) -> None:
    lines = [line for line in summary(bundle).splitlines() if line.startswith("gcloud functions deploy")]

    assert len(lines) == len(bundle.entry_points)
    assert secret_settings() == SECRETS
    for line in lines:
        mounted = assignments(line, "--set-secrets")
        assert set(mounted) == SECRETS, line
        assert all(secret.endswith(":latest") and "=" not in secret for secret in mounted.values())
        assert not set(assignments(line, "--set-env-vars")) & SECRETS, line


def test_the_unsubscribe_link_is_reachable_from_any_mail_client_and_the_coupon_check_only_with_iam() -> None:
    unsubscribe = deploy_command("unsubscribe", Path("build/functions-bundle"))
    coupon_check = deploy_command("coupon_check", Path("build/functions-bundle"))

    assert " --allow-unauthenticated" in unsubscribe and "--no-allow-unauthenticated" not in unsubscribe
    assert "--no-allow-unauthenticated" in coupon_check
    assert "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET=flywheel-unsubscribe-secret:latest" in unsubscribe
