"""The Cloud Functions deploy bundle: one folder (and optionally a zip) that `gcloud functions deploy` uploads.

    python -m infra.bundle [--out build/functions-bundle] [--zip]

The Python runtime pip-installs `requirements.txt` and imports `main.py` from the root of the source, so the
bundle holds the contents of functions/ at its root, the `flywheel` package copied next to them (the runtime does
not install this project, it only imports from the source folder) and the runtime dependencies of pyproject.toml.
Never in it: the sandbox portal, tests, caches, virtualenvs. The deploy commands are printed, never run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flywheel.services.registry import entry_points, public_entry_points

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("build/functions-bundle")

# Names skipped at any depth; `sandbox` and `tests` cannot be reached from functions/ or shared/flywheel today,
# the guard keeps them out if someone ever nests one there.
EXCLUDED_NAMES = frozenset(
    {"__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", "sandbox", "tests"}
)
EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})

RUNTIME = "python311"
TIMEOUT = "540s"  # the longest an HTTP function may run on gen2 with Cloud Scheduler's attempt deadline
MEMORY = "512MB"
# plain settings only: every secret comes from Secret Manager, so none is readable in the function's configuration
ENV_VARS = "FLYWHEEL_STATE=firestore://PROJECT,FLYWHEEL_MAILER=hubspot"
# environment variable -> Secret Manager secret, mounted at its latest version
SECRETS: dict[str, str] = {
    "HUBSPOT_ACCESS_TOKEN": "hubspot-access-token",
    "HUBSPOT_CLIENT_SECRET": "hubspot-client-secret",
    "FLYWHEEL_NURTURE__COUPON_SECRET": "flywheel-coupon-secret",
    "FLYWHEEL_API_TOKEN": "flywheel-api-token",
    "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET": "flywheel-unsubscribe-secret",
}


class BundleError(Exception):
    """The bundle cannot be built as asked (bad output folder, malformed project files)."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    files: tuple[Path, ...]  # relative to path
    size_bytes: int
    entry_points: tuple[str, ...]
    requirements: tuple[str, ...]
    zip_path: Path | None = None


def runtime_requirements(pyproject: Path) -> list[str]:
    """`[project].dependencies` of pyproject.toml, as written there: the dev extras stay out of production."""
    with pyproject.open("rb") as file:
        project = tomllib.load(file).get("project", {})
    dependencies = project.get("dependencies")
    if not isinstance(dependencies, list) or not all(isinstance(item, str) for item in dependencies):
        raise BundleError(f"{pyproject}: [project].dependencies must be a list of strings")
    return list(dependencies)


def _excluded(path: Path) -> bool:
    return path.name in EXCLUDED_NAMES or path.suffix in EXCLUDED_SUFFIXES


def _copy_tree(source: Path, target: Path) -> None:
    """Copy source into target, skipping excluded names at every depth."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        if _excluded(entry):
            continue
        if entry.is_dir():
            _copy_tree(entry, target / entry.name)
        else:
            shutil.copy2(entry, target / entry.name)


def _prepare_out(out: Path, root: Path) -> None:
    """Empty the output folder, refusing folders whose removal would take project sources with it."""
    resolved = out.resolve()
    root = root.resolve()
    if root.is_relative_to(resolved):
        raise BundleError(f"refusing to build into {out}: it holds the project at {root}")
    for name in ("functions", "shared", "infra", "sandbox", "tests", ".git", ".venv"):
        folder = root / name
        if folder.is_relative_to(resolved) or resolved.is_relative_to(folder):
            raise BundleError(f"refusing to build into {out}: it overlaps {folder}")
    if resolved.exists():
        shutil.rmtree(resolved)
    resolved.mkdir(parents=True)


def _write_zip(folder: Path, files: Sequence[Path], zip_path: Path) -> None:
    """A reproducible zip: sorted entries, a fixed timestamp, so an unchanged bundle gives the same bytes."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in sorted(files):
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (folder / relative).read_bytes())


def build(out: Path = DEFAULT_OUT, *, root: Path = ROOT, make_zip: bool = False) -> Bundle:
    """Assemble the deployable folder at `out` (emptied first); with make_zip also `out` + `.zip` beside it."""
    functions_dir = root / "functions"
    package_dir = root / "shared" / "flywheel"
    if (functions_dir / "flywheel").exists():
        raise BundleError(f"{functions_dir}/flywheel would collide with the flywheel package in the bundle")
    names = entry_points()
    requirements = runtime_requirements(root / "pyproject.toml")

    _prepare_out(out, root)
    _copy_tree(functions_dir, out)
    _copy_tree(package_dir, out / "flywheel")
    (out / "requirements.txt").write_text("".join(f"{line}\n" for line in requirements), encoding="utf-8")

    files = tuple(sorted(path.relative_to(out) for path in out.rglob("*") if path.is_file()))
    size = sum((out / path).stat().st_size for path in files)
    zip_path = None
    if make_zip:
        zip_path = out.parent / f"{out.name}.zip"
        _write_zip(out, files, zip_path)
    return Bundle(out, files, size, tuple(names), tuple(requirements), zip_path)


def is_webhook(entry_point: str) -> bool:
    return entry_point.endswith("_webhook")


def is_public(entry_point: str) -> bool:
    return entry_point in public_entry_points()


def deploy_command(entry_point: str, source: Path) -> str:
    """One `gcloud functions deploy` line. Scheduled functions and `coupon_check` are IAM-only (the scheduler
    presents an OIDC token); webhooks must be reachable by HubSpot, which cannot, so they are public and refuse any
    request without a valid v3 signature (and all requests while HUBSPOT_CLIENT_SECRET is unset); `unsubscribe` is
    opened from an email, so it is public and changes nothing without a valid signed link."""
    access = "--allow-unauthenticated" if is_public(entry_point) else "--no-allow-unauthenticated"
    return " ".join(
        [
            "gcloud functions deploy",
            entry_point,
            "--gen2",
            f"--runtime={RUNTIME}",
            "--region=REGION",
            "--project=PROJECT",
            f"--source={source}",
            f"--entry-point={entry_point}",
            "--trigger-http",
            access,
            f"--timeout={TIMEOUT}",
            f"--memory={MEMORY}",
            f"--set-env-vars={ENV_VARS}",
            "--set-secrets=" + ",".join(f"{variable}={secret}:latest" for variable, secret in SECRETS.items()),
        ]
    )


def _human_size(size_bytes: int) -> str:
    return f"{size_bytes / 1024:.1f} KiB" if size_bytes < 1024 * 1024 else f"{size_bytes / 1024 / 1024:.1f} MiB"


def summary(bundle: Bundle) -> str:
    lines = [
        f"bundle    {bundle.path}: {len(bundle.files)} files, {_human_size(bundle.size_bytes)}",
    ]
    if bundle.zip_path is not None:
        lines.append(f"zip       {bundle.zip_path}: {_human_size(bundle.zip_path.stat().st_size)}")
    lines.append(f"requires  {', '.join(bundle.requirements)}")
    lines.append("")
    # gcloud takes a local folder (or a zip already in Cloud Storage) as --source, so the lines name the folder
    lines.append(
        "Deploy (not run; replace REGION and PROJECT, and create these secrets in Secret Manager first: "
        f"{', '.join(SECRETS.values())}):"
    )
    lines.extend(deploy_command(name, bundle.path) for name in bundle.entry_points)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bundle", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip beside the folder")
    args = parser.parse_args(argv)
    try:
        bundle = build(args.out, make_zip=args.zip)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary(bundle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
