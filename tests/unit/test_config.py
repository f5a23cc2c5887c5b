"""Configuration: environment names, nesting, and a README reference that cannot drift from the code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flywheel.bootstrap import ConfigurationError, build_mailer, build_state_store
from flywheel.config import Settings, reference

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("FLYWHEEL_", "HUBSPOT_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_plain_and_nested_names_are_read_from_the_environment(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("HUBSPOT_API_BASE", "http://127.0.0.1:8099")
    clean_environment.setenv("FLYWHEEL_STATE", "memory://")
    clean_environment.setenv("FLYWHEEL_SIRANK__WINDOW_DAYS", "300")
    clean_environment.setenv("FLYWHEEL_PORTAL__ORDER_PIPELINES", '["Solo e-commerce"]')

    settings = Settings()

    assert settings.hubspot_api_base == "http://127.0.0.1:8099"
    assert settings.state == "memory://"
    assert settings.sirank.window_days == 300
    assert settings.portal.order_pipelines == ["Solo e-commerce"]


def test_the_readme_lists_every_setting_with_its_default(clean_environment: pytest.MonkeyPatch) -> None:
    text = README.read_text(encoding="utf-8")

    missing = [f"| `{env}` | `{value}` |" for env, value in reference(Settings())]
    missing = [row for row in missing if row not in text]

    assert missing == [], "README configuration reference is stale: run `flywheel config --markdown`"


def test_secrets_are_masked_in_the_reference(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("HUBSPOT_ACCESS_TOKEN", "pat-eu1-secret")

    shown = dict(reference(Settings()))

    assert shown["HUBSPOT_ACCESS_TOKEN"] == "***"
    assert "pat-eu1-secret" not in str(shown)


@pytest.mark.parametrize("url", ["postgres://x", "sqlite://", "firestore://", "memcache://"])
def test_an_unknown_state_url_is_a_clear_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="FLYWHEEL_STATE"):
        build_state_store(url)


@pytest.mark.parametrize("url", ["smtp://x", "outbox://", "ses://eu-west-1"])
def test_an_unknown_mailer_url_is_a_clear_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="FLYWHEEL_MAILER"):
        build_mailer(url, Settings())


def test_a_relative_sqlite_url_builds_a_store_under_that_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    store = build_state_store("sqlite:///state/flywheel.db")
    store.save_checkpoint("probe", {"page": 1})

    assert (tmp_path / "state" / "flywheel.db").exists()
    assert store.load_checkpoint("probe") == {"page": 1}
