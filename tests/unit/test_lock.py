"""The lock (requirements/, written by `make lock`) against pyproject.toml: every declared dependency is satisfied by
a pin, the function locks are the dev lock's pins, the bundle's lock holds no optional part, and no lock names a
URL. A pyproject edit without `make lock` fails here, before anything is installed or deployed from a stale lock."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import string
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.bundle import FUNCTION_LOCKS, BundleError, Pin, read_lock, requirements_text, unsatisfied

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
DEV_LOCK = REQUIREMENTS / "dev.txt"
FUNCTIONS_LOCK = ROOT / FUNCTION_LOCKS[()]
SES_LOCK = ROOT / FUNCTION_LOCKS[("ses",)]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]


def pins_of(path: Path) -> dict[str, Pin]:
    return {pin.name: pin for pin in read_lock(path)}


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(text).name) for text in requirements}


def test_the_dev_lock_satisfies_every_dependency_and_every_extra() -> None:
    declared = PROJECT["dependencies"] + [text for group in EXTRAS.values() for text in group]

    assert unsatisfied(declared, read_lock(DEV_LOCK)) == []


@pytest.mark.parametrize(
    ("lock", "extras"), [(FUNCTIONS_LOCK, ()), (SES_LOCK, ("ses",))], ids=["functions", "functions-ses"]
)
def test_a_function_lock_satisfies_the_runtime_dependencies_with_the_dev_locks_pins(
    lock: Path, extras: tuple[str, ...]
) -> None:
    pins = pins_of(lock)
    dev = pins_of(DEV_LOCK)

    declared = PROJECT["dependencies"] + [text for extra in extras for text in EXTRAS[extra]]
    assert unsatisfied(declared, list(pins.values())) == []
    assert set(pins) <= set(dev)
    # same version and same files: what the tests ran is what the functions install
    assert {name: pin for name, pin in pins.items() if dev[name] != pin} == {}


def test_the_bundle_lock_holds_no_optional_part_and_the_ses_lock_adds_boto3() -> None:
    functions = pins_of(FUNCTIONS_LOCK)
    ses = pins_of(SES_LOCK)
    optional_only = (names(EXTRAS["ses"]) | names(EXTRAS["infra"])) - names(PROJECT["dependencies"])

    assert {"boto3", "google-cloud-scheduler"} <= optional_only
    assert not optional_only & set(functions)
    assert names(EXTRAS["ses"]) <= set(ses)
    assert not names(EXTRAS["infra"]) & set(ses)
    assert set(functions) <= set(ses)
    assert {"boto3", "botocore"} <= set(ses) - set(functions)


def test_the_dev_extra_repeats_the_ses_and_infra_extras() -> None:
    assert set(EXTRAS["ses"]) | set(EXTRAS["infra"]) <= set(EXTRAS["dev"])


def test_the_lock_also_pins_the_tools_that_install_it() -> None:
    # `make install` installs without build isolation and upgrades pip from the lock: those must be pinned too
    assert {"pip", "setuptools", "pip-tools"} <= set(pins_of(DEV_LOCK))


@pytest.mark.parametrize("lock", sorted(REQUIREMENTS.glob("*.txt")), ids=lambda path: path.name)
def test_no_lock_names_a_url_or_an_index(lock: Path) -> None:
    text = lock.read_text(encoding="utf-8")

    assert "://" not in text
    assert "http:" not in text.lower() and "https:" not in text.lower()
    assert not [line for line in text.splitlines() if line.startswith("-")]


def test_every_lock_file_is_one_the_project_uses() -> None:
    used = {DEV_LOCK, *(ROOT / path for path in FUNCTION_LOCKS.values())}

    assert set(REQUIREMENTS.glob("*.txt")) == used


def load_time_imports(path: Path) -> set[str]:
    """Modules imported when the file is imported (module level, outside `if TYPE_CHECKING:`), third-party only;
    `from a.b import c` counts as a.b.c when a.b is a namespace package (google.cloud), whose files are no one's."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if module_file(node.module) is None:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    ours = {"flywheel", "_entry", "main", *sys.stdlib_module_names}
    return {name for name in found if name.split(".")[0] not in ours}


def module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.has_location or spec.origin is None:
        return None
    return Path(spec.origin)


def files_of(distributions: set[str]) -> set[Path]:
    files: set[Path] = set()
    for distribution in importlib.metadata.distributions():
        if canonicalize_name(distribution.metadata["Name"]) in distributions:
            files.update(Path(str(distribution.locate_file(file))) for file in distribution.files or ())
    return files


def test_what_the_functions_import_at_load_time_is_in_the_bundle_lock() -> None:
    # an import of an optional package (boto3, google.cloud.scheduler) at module level would fail on a bundle
    # installed from requirements/functions.txt: such imports belong inside the code path that needs them
    bundle_files = files_of(set(pins_of(FUNCTIONS_LOCK)))
    sources = sorted([*(ROOT / "shared" / "flywheel").rglob("*.py"), *(ROOT / "functions").glob("*.py")])
    imported: dict[str, set[str]] = {}
    for path in sources:
        for module in load_time_imports(path):
            imported.setdefault(module, set()).add(path.relative_to(ROOT).as_posix())
    outside = {module: where for module, where in imported.items() if module_file(module) not in bundle_files}

    assert {"pydantic", "google.api_core.exceptions"} <= set(imported)  # the check sees third-party imports
    assert outside == {}


def test_a_lock_entry_that_lets_pip_choose_is_refused(tmp_path: Path) -> None:
    digest = "sha256:" + "0" * 64
    refused = [
        "pydantic>=2 \\\n    --hash=" + digest,  # a range, not a pin
        "pydantic==2.*  --hash=" + digest,  # a wildcard
        "pydantic==2.6.0",  # no hash: pip would accept any file
        "pydantic==2.6.0 --hash=" + digest + " --index-url x",  # an option beside the hashes
        "--extra-index-url somewhere\npydantic==2.6.0 --hash=" + digest,  # an index of its own
        "-e .",
        "",  # pins nothing
    ]
    for number, text in enumerate(refused):
        lock = tmp_path / f"lock{number}.txt"
        lock.write_text(text + "\n", encoding="utf-8")
        with pytest.raises(BundleError):
            read_lock(lock)


def test_a_pip_compile_entry_reads_with_its_hashes_and_without_its_comments(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "#\n# make lock\n#\n"
        "Pydantic_Core==2.50.5 \\\n"
        f"    --hash=sha256:{'a' * 64} \\\n"
        f"    --hash=sha256:{'b' * 64}\n"
        "    # via\n    #   pydantic\n",
        encoding="utf-8",
    )

    assert read_lock(lock) == [Pin("pydantic-core", "2.50.5", (f"sha256:{'a' * 64}", f"sha256:{'b' * 64}"))]


def test_a_requirement_out_of_the_pinned_range_or_without_a_pin_is_reported() -> None:
    pins = [Pin("pydantic", "2.6.0", ("sha256:" + "0" * 64,))]

    assert unsatisfied(["pydantic>=2.6", "Pydantic<3"], pins) == []
    assert unsatisfied(["pydantic>=2.7"], pins) == ["pydantic>=2.7 (pydantic==2.6.0)"]
    assert unsatisfied(["boto3>=1.34"], pins) == ["boto3>=1.34 (no pin)"]
    # a dependency for another platform or Python needs no pin here
    assert unsatisfied(['pywin32>=300; sys_platform == "nonexistent"'], pins) == []


names_st = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12).map(canonicalize_name)
versions_st = st.lists(st.integers(0, 999), min_size=1, max_size=4).map(lambda parts: ".".join(map(str, parts)))
hashes_st = st.lists(
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda hexdigits: f"sha256:{hexdigits}"),
    min_size=1,
    max_size=5,
    unique=True,
).map(tuple)


@given(st.lists(st.builds(Pin, names_st, versions_st, hashes_st), min_size=1, max_size=6, unique_by=lambda p: p.name))
def test_the_bundles_requirements_text_reads_back_as_the_same_pins(pins: list[Pin]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "requirements.txt"
        path.write_text(requirements_text(pins, Path("requirements/functions.txt")), encoding="utf-8")

        assert read_lock(path) == pins


def test_the_ses_mailer_without_its_extra_is_refused_when_it_is_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from flywheel.adapters.mailers import SesMailer
    from flywheel.errors import ConfigurationError

    # as on a bundle built without --with ses: boto3 cannot be imported
    monkeypatch.setitem(sys.modules, "boto3", None)

    with pytest.raises(ConfigurationError, match=r"--with ses"):
        SesMailer(region="eu-west-1", sender="SiComputer <noreply@sicomputer.it>")
