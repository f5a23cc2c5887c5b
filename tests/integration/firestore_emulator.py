"""The official Cloud Firestore emulator (the Google Cloud CLI's `cloud-firestore-emulator` component), for tests.

`gcloud emulators firestore start` and the component's wrapper script (`cloud_firestore_emulator`) run the jar
through a shell that does not exec, so stopping them leaves the JVM behind. This module starts the JVM itself,
exactly as the wrapper does (`java -Duser.language=en -cp JAR com.google...CloudFirestore`), on 127.0.0.1 and a
free port, waits until it answers, and stops that one process.

Where to find it: $FIRESTORE_EMULATOR_JAR, else the SDK next to the `gcloud` on PATH, else `gcloud info`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

EMULATOR_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
JAR_IN_SDK = Path("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
# For a test session of a minute or two on a small machine, the quick (C1) compiler and the serial collector
# start sooner and answer faster than the JVM's server defaults (about twice as fast on 2 cores).
# $FIRESTORE_EMULATOR_JAVA_OPTS replaces them.
DEFAULT_JAVA_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def find_emulator_jar() -> Path | None:
    explicit = os.environ.get("FIRESTORE_EMULATOR_JAR")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    # the gcloud on PATH is usually SDK_ROOT/bin/gcloud or a symlink to it: cheaper than asking `gcloud info`
    candidate = Path(gcloud).resolve().parent.parent / JAR_IN_SDK
    if candidate.is_file():
        return candidate
    try:
        sdk_root = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    candidate = Path(sdk_root) / JAR_IN_SDK
    return candidate if sdk_root and candidate.is_file() else None


def find_java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def unavailable_reason() -> str | None:
    """Why the emulator cannot be started here, or None if it can."""
    if find_java() is None:
        return "no `java` on PATH (the Cloud Firestore emulator is a Java program)"
    if find_emulator_jar() is None:
        return (
            "the Google Cloud CLI component `cloud-firestore-emulator` is not installed "
            "(gcloud components install cloud-firestore-emulator, or apt install google-cloud-cli-firestore-emulator)"
        )
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def answers(host_port: str, timeout: float = 1.0) -> bool:
    """True when an emulator at host:port answers its root URL with "Ok"."""
    try:
        with urllib.request.urlopen(f"http://{host_port}/", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def clear(host_port: str, project: str, database: str = "(default)") -> None:
    """Delete every document of a project's database (the emulator's own reset endpoint)."""
    request = urllib.request.Request(
        f"http://{host_port}/emulator/v1/projects/{project}/databases/{database}/documents", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


class FirestoreEmulator:
    """One emulator process. `start()` returns once it answers; `host_port` is what FIRESTORE_EMULATOR_HOST takes."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 90.0) -> FirestoreEmulator:
        java, jar = find_java(), find_emulator_jar()
        if java is None or jar is None:
            raise RuntimeError(f"cannot start the Firestore emulator: {unavailable_reason()}")
        log_file = tempfile.NamedTemporaryFile(prefix="firestore-emulator-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(log_file.name)
        java_opts = os.environ.get("FIRESTORE_EMULATOR_JAVA_OPTS", DEFAULT_JAVA_OPTS).split()
        # -Duser.language=en as in the wrapper script: the emulator only has English messages
        command = [java, "-Duser.language=en", *java_opts, "-cp", str(jar), EMULATOR_MAIN_CLASS]
        command += ["--host", self.host, "--port", str(self.port)]
        # its own session: a Ctrl-C in the terminal reaches pytest, which then stops the emulator in order
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Firestore emulator exited with {self.process.returncode}:\n{self.log_tail()}")
            if answers(self.host_port, timeout=0.5):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the Firestore emulator did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
