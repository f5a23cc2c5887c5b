"""The deploy bundle, proven the way Cloud Functions uses it: a fresh interpreter that sees only the bundle folder
and the installed third-party packages imports main.py, and functions-framework serves an entry point from it.

The child runs with `-S` so that the venv's .pth files (the project's editable install among them) are not
processed: its sys.path is the bundle plus site-packages and nothing else.

The acceptance test goes all the way: a fresh venv installs the bundle's requirements.txt alone (hash-checked, from
the package index), and functions-framework serves every entry point from the bundle folder. It needs the index:
without one it is skipped, loudly, and FLYWHEEL_REQUIRE_BUNDLE_INSTALL=1 makes that a failure.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from flywheel.config import SECRET_FIELDS, Settings, reference
from flywheel.services.registry import ENDPOINTS, FUNCTIONS, entry_points
from infra.bundle import (
    FUNCTION_LOCKS,
    RUNTIME,
    Bundle,
    BundleError,
    build,
    deploy_command,
    read_lock,
    requirements_text,
    summary,
)

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
# The functions in these processes run on the real clock (as deployed): their dry runs ask for a fixed past day,
# which every real date after it accepts (a day a year past the real today is refused), never the test's `today`.
DRY_RUN_DAY = "2026-11-29"

CHILD = """
import importlib.util, json, os, sys
import main
import flywheel
from functions_framework import create_app

bundle = sys.argv[1]
client = create_app(target="sirank_recalc", source=os.path.join(bundle, "main.py")).test_client()
response = client.post("/", json={"as_of": sys.argv[2], "dry_run": True})
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
        [sys.executable, "-S", "-c", CHILD, str(bundle), DRY_RUN_DAY],
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
    assert (body["function"], body["as_of"], body["dry_run"]) == ("sirank_recalc", DRY_RUN_DAY, True)
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


def test_requirements_are_the_function_lock_pinned_with_hashes(bundle: Bundle) -> None:
    written = bundle.path / "requirements.txt"
    entries = [line for line in written.read_text(encoding="utf-8").splitlines() if line and line[0].isalnum()]

    assert read_lock(written) == read_lock(ROOT / FUNCTION_LOCKS[()])
    assert len(entries) == len(bundle.requirements) and all("==" in line for line in entries)
    assert bundle.requirements == tuple(pin.requirement for pin in read_lock(written))
    assert bundle.lock == FUNCTION_LOCKS[()]


def test_the_bundle_leaves_out_ses_and_infra_unless_asked_for_ses(bundle: Bundle, tmp_path: Path) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    optional = {canonicalize_name(Requirement(text).name) for text in extras["infra"]}
    installed = {requirement.split("==")[0] for requirement in bundle.requirements}

    with_ses = build(tmp_path / "with-ses", extras=["ses"])

    assert not installed & (optional | {"boto3", "botocore"})
    assert read_lock(with_ses.path / "requirements.txt") == read_lock(ROOT / FUNCTION_LOCKS[("ses",)])
    assert "boto3" in {requirement.split("==")[0] for requirement in with_ses.requirements}
    assert not {requirement.split("==")[0] for requirement in with_ses.requirements} & optional
    with pytest.raises(BundleError, match="no function lock"):
        build(tmp_path / "with-infra", extras=["infra"])


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
    (project / "pyproject.toml").write_text('[project]\ndependencies = ["pydantic>=2"]\n')
    (project / "requirements").mkdir()
    (project / "requirements" / "functions.txt").write_text(f"pydantic==2.6.0 --hash=sha256:{'0' * 64}\n")

    for out in (project, project / "shared", project / "shared" / "flywheel", tmp_path):
        with pytest.raises(BundleError):
            build(out, root=project)

    assert (project / "shared" / "flywheel" / "__init__.py").exists()
    assert build(project / "build" / "bundle", root=project).requirements == ("pydantic==2.6.0",)


def test_a_lock_that_no_longer_satisfies_pyproject_is_not_bundled(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "functions").mkdir(parents=True)
    (project / "functions" / "main.py").write_text('__all__ = ["sirank_recalc"]\n')
    (project / "shared" / "flywheel").mkdir(parents=True)
    (project / "shared" / "flywheel" / "__init__.py").write_text("")
    # pyproject.toml raised the floor of pydantic, and nobody ran `make lock`
    (project / "pyproject.toml").write_text('[project]\ndependencies = ["pydantic>=2.7", "holidays"]\n')
    (project / "requirements").mkdir()
    (project / "requirements" / "functions.txt").write_text(f"pydantic==2.6.0 --hash=sha256:{'0' * 64}\n")

    with pytest.raises(BundleError, match=r"pydantic>=2\.7 \(pydantic==2\.6\.0\).*holidays \(no pin\).*make lock"):
        build(project / "build" / "bundle", root=project)
    assert not (project / "build" / "bundle").exists()


def test_scheduled_functions_need_iam_and_webhooks_rely_on_the_hubspot_signature() -> None:
    scheduled = deploy_command("sirank_recalc", Path("build/functions-bundle"))
    webhook = deploy_command("cold_segment_webhook", Path("build/functions-bundle"))

    assert scheduled.startswith("gcloud functions deploy sirank_recalc ")
    for flag in (
        "--runtime=python311",
        "--trigger-http",
        "--entry-point=sirank_recalc",
        "--timeout=540s",
        "--memory=512Mi",
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


# --- the acceptance test: a fresh venv, the bundle's requirements.txt alone, every entry point served ---------------

REQUIRE_INSTALL_VARIABLE = "FLYWHEEL_REQUIRE_BUNDLE_INSTALL"
PIP_TIMEOUT = 900  # a cold pip cache downloads about 60 MB


def no_index(reason: str) -> None:
    """Skip, loudly, when the package index cannot be reached; fail instead where the run says it must install."""
    message = f"bundle install not tested: {reason} (set {REQUIRE_INSTALL_VARIABLE}=1 to make this a failure)"
    if os.environ.get(REQUIRE_INSTALL_VARIABLE) == "1":
        pytest.fail(message)
    warnings.warn(message, stacklevel=2)
    print(f"\n*** SKIPPED: {message}", file=sys.stderr)
    pytest.skip(message)


def pip_failed(pip: list[str], completed: subprocess.CompletedProcess[str], requirements: Path, probe: Path) -> None:
    """A failed install: a skip when no index answers (a first pin cannot even be downloaded afresh), else the
    failure it is, with pip's own words."""
    [first, *_] = read_lock(requirements)
    probe.mkdir(parents=True, exist_ok=True)
    (probe / "one.txt").write_text(requirements_text([first], requirements), encoding="utf-8")
    reachable = subprocess.run(
        [*pip, "download", "--no-deps", "--no-cache-dir", "--require-hashes", "-d", str(probe), "-r", "one.txt"],
        cwd=probe,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    if reachable.returncode != 0:
        no_index(f"no package index reachable: {reachable.stderr.strip().splitlines()[-1:]}")
    pytest.fail(
        f"pip could not install the bundle's requirements:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    )


@pytest.fixture(scope="module")
def installed_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, Path]:
    """The bundle built from the checkout, and a fresh venv (no project, no dev tools) that installed its
    requirements.txt and nothing else."""
    folder = tmp_path_factory.mktemp("installed")
    bundle = build(folder / "functions-bundle")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    started = time.monotonic()
    completed = subprocess.run(
        # --no-compile: compiling every module of plotly and the Google clients to .pyc ahead of time takes minutes
        # on two cores; the servers compile the few modules they import
        [*pip, "install", "--quiet", "--no-compile", "--require-hashes", "-r", "requirements.txt"],
        cwd=bundle.path,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        pip_failed(pip, completed, bundle.path / "requirements.txt", folder / "probe")
    print(f"\nbundle requirements installed in a fresh venv in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return bundle, venv


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(venv: Path, bundle: Path, targets: list[str], env: dict[str, str], logs: Path) -> Iterator[dict[str, str]]:
    """One `functions-framework --target T --source main.py` per entry point, all started at once (each costs
    seconds of imports), as the runtime starts them: from the bundle folder, with the venv's interpreter."""
    logs.mkdir(parents=True, exist_ok=True)
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for target in targets:
            port = free_port()
            command = [str(venv / "bin" / "functions-framework"), "--target", target, "--source", "main.py"]
            with (logs / f"{target}.log").open("wb") as log:
                process = subprocess.Popen(
                    [*command, "--host", "127.0.0.1", "--port", str(port)],
                    cwd=bundle,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # gunicorn forks a worker: the whole group is stopped below
                )
            servers[target] = (process, f"http://127.0.0.1:{port}/")
        yield {target: url for target, (_, url) in servers.items()}
    finally:
        for process, _ in servers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in servers.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


def call(method: str, url: str, log: Path, **options: Any) -> requests.Response:
    """The request, retried while the server is still starting (connection refused), for up to two minutes."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return requests.request(method, url, timeout=120, **options)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} never answered:\n{log.read_text(errors='replace')[-3000:]}") from None
            time.sleep(0.25)


def test_the_bundle_installed_from_its_requirements_alone_serves_every_entry_point(
    installed_bundle: tuple[Bundle, Path], tmp_path: Path, sandbox_factory: Callable[..., Any]
) -> None:
    bundle, venv = installed_bundle
    portal = sandbox_factory(companies=5, seed=1)
    outbox = tmp_path / "outbox"
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HUBSPOT_API_BASE": portal.url,
        "HUBSPOT_ACCESS_TOKEN": portal.token,
        "HUBSPOT_CLIENT_SECRET": "bundle-test-client-secret-0123456789",
        "FLYWHEEL_NURTURE__COUPON_SECRET": "bundle-test-coupon-secret-0123456789",
        "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET": "bundle-test-unsubscribe-secret-0123456789",
        "FLYWHEEL_STATE": "memory://",
        "FLYWHEEL_MAILER": f"outbox://{outbox}",
        "FLYWHEEL_AUTH": "iam",  # as deployed: --no-allow-unauthenticated, the platform checks the caller
        "FLYWHEEL_PUBLIC_URL": "https://europe-west8-flywheel-test.cloudfunctions.net",
    }
    runs = [spec.name for spec in FUNCTIONS]
    webhooks = [f"{spec.name}_webhook" for spec in FUNCTIONS if spec.webhook is not None]
    endpoints = {spec.name: spec.answers for spec in ENDPOINTS}
    assert sorted([*runs, *webhooks, *endpoints]) == sorted(entry_points())

    answers: dict[str, requests.Response] = {}
    with serving(venv, bundle.path, entry_points(), env, tmp_path / "logs") as urls:
        for name, url in urls.items():
            log = tmp_path / "logs" / f"{name}.log"
            if name in runs:
                answers[name] = call("POST", url, log, json={"as_of": DRY_RUN_DAY, "dry_run": True})
            elif name in webhooks:
                answers[name] = call("POST", url, log, json=[])  # unsigned: refused by the app, not the platform
            else:
                answers[name] = call("GET", url, log)

    for name in runs:
        assert answers[name].status_code == 200, (name, answers[name].text)
        body = answers[name].json()
        assert (body["function"], body["as_of"], body["dry_run"]) == (name, DRY_RUN_DAY, True)
        assert isinstance(body["summary"], dict)
    for name in webhooks:
        assert answers[name].status_code == 401, (name, answers[name].text)
        assert "signature" in answers[name].json()["error"]
    for name, kind in endpoints.items():
        assert answers[name].status_code < 500, (name, answers[name].text)
        expected = "application/json" if kind == "json" else "text/html"
        assert answers[name].headers["Content-Type"].startswith(expected), name
    assert not outbox.exists() or not any(outbox.iterdir())


def test_the_fresh_venv_holds_exactly_the_pins_of_the_lock(installed_bundle: tuple[Bundle, Path]) -> None:
    bundle, venv = installed_bundle
    frozen = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    installed = {f"{canonicalize_name(line.split('==')[0])}=={line.split('==')[1]}" for line in frozen}

    assert installed == {pin.requirement for pin in read_lock(ROOT / FUNCTION_LOCKS[()])}
    assert installed == set(bundle.requirements)


def test_functions_are_deployed_on_the_python_the_lock_was_resolved_and_the_suite_runs_on() -> None:
    assert f"python{sys.version_info.major}{sys.version_info.minor}" == RUNTIME


def test_the_function_lock_has_wheels_for_the_deployed_python(tmp_path: Path) -> None:
    """Every pin must have a wheel for the runtime's Python on Linux (the runtime's image, not this machine),
    with one of the locked hashes, or the deploy would build or fail there."""
    version = RUNTIME.removeprefix("python")
    target_python = f"{version[0]}.{version[1:]}"
    pip = [sys.executable, "-m", "pip"]
    requirements = ROOT / FUNCTION_LOCKS[()]
    # glibc 2.35: the runtime's Ubuntu 22.04 base; pip takes each manylinux tag it may accept, newest first
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)] + ["manylinux2014_x86_64"]
    platform = ["--python-version", target_python, "--implementation", "cp"]
    platform += [option for tag in platforms for option in ("--platform", tag)]
    locked = ["--target", str(tmp_path / "target"), "--require-hashes", "-r", str(requirements)]
    completed = subprocess.run(
        [*pip, "install", "--dry-run", "--ignore-installed", "--no-deps", "--only-binary=:all:", *platform, *locked],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        pip_failed(pip, completed, requirements, tmp_path / "probe")
    [would_install] = [line for line in completed.stdout.splitlines() if line.startswith("Would install ")]
    chosen = {
        f"{canonicalize_name(name)}=={version}"
        for name, version in (item.rsplit("-", 1) for item in would_install.split()[2:])
    }
    assert chosen == {pin.requirement for pin in read_lock(requirements)}
