"""Configuration: environment names, nesting, and a README reference that cannot drift from the code."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.bootstrap import ConfigurationError, build_mailer, build_state_store
from flywheel.clock import FixedClock
from flywheel.config import NurtureRules, Settings, reference, require_coupon_secret
from flywheel.services import nurture
from flywheel.services.context import Ports
from tests.fakes import Inbox, mail_settings

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


# --- the nurture coupon secret ------------------------------------------------------------------------------------

GOOD_SECRET = "k3Jv9QeZ-7tWmY2pLxR4uN8sHcA1dFgB"  # 32 characters
START = date(2026, 3, 2)


def with_coupon_secret(secret: str) -> Settings:
    return mail_settings(nurture=NurtureRules(coupon_secret=secret))


@given(st.text(max_size=31))
def test_a_coupon_secret_shorter_than_32_characters_is_refused(secret: str) -> None:
    with pytest.raises(ConfigurationError, match="FLYWHEEL_NURTURE__COUPON_SECRET"):
        require_coupon_secret(with_coupon_secret(secret))


@given(st.text(min_size=32).filter(lambda secret: len(secret.strip()) >= 32))
def test_a_coupon_secret_of_32_characters_or_more_is_accepted(secret: str) -> None:
    require_coupon_secret(with_coupon_secret(secret))


def test_padding_does_not_make_a_short_secret_long_enough() -> None:
    with pytest.raises(ConfigurationError):
        require_coupon_secret(with_coupon_secret(" " * 20 + "sicomputer" + " " * 20))


def test_the_error_names_the_variable_and_the_rule_but_never_the_secret() -> None:
    leaked = "sicomputer-2026"

    with pytest.raises(ConfigurationError) as refused:
        require_coupon_secret(with_coupon_secret(leaked))

    assert "FLYWHEEL_NURTURE__COUPON_SECRET" in str(refused.value)
    assert "32 characters" in str(refused.value)
    assert leaked not in str(refused.value)


def lukewarm_portal(settings: Settings) -> tuple[Ports, Inbox, str]:
    """A company 61 days quiet, whose consenting contact nurture_step would write to today."""
    clock = FixedClock.on(START)
    crm = MemoryCrm.with_default_schema(now=clock.now)
    last = START - timedelta(days=61)
    company = crm.add_company("Bianchi Sistemi", **{settings.portal.last_purchase_date: last.isoformat()})
    crm.add_order(company, 900.0, last)
    crm.add_contact(company, "anna@bianchi.it")
    inbox = Inbox()
    return Ports(crm=crm, state=MemoryStateStore(), mailer=inbox, clock=clock, settings=settings), inbox, company


@pytest.mark.parametrize("secret", ["", "too-short-for-an-hmac-key"])
def test_a_nurture_run_without_a_strong_coupon_secret_sends_and_records_nothing(secret: str) -> None:
    ports, inbox, company = lukewarm_portal(with_coupon_secret(secret))

    with pytest.raises(ConfigurationError, match="FLYWHEEL_NURTURE__COUPON_SECRET"):
        nurture.run(nurture.Request(as_of=START), ports)

    assert inbox.sent == []
    assert ports.state.sequences_of_company(nurture.KIND, company) == []


def test_a_coupon_secret_from_the_environment_lets_nurture_send(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("FLYWHEEL_NURTURE__COUPON_SECRET", GOOD_SECRET)
    clean_environment.setenv("FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET", GOOD_SECRET[::-1])
    clean_environment.setenv("FLYWHEEL_PUBLIC_URL", "https://europe-west1-flywheel.cloudfunctions.net")
    ports, inbox, _ = lukewarm_portal(Settings())

    nurture.run(nurture.Request(as_of=START), ports)

    assert [message.template for message in inbox.sent] == ["nurture_1"]


def test_a_dry_run_needs_no_coupon_secret() -> None:
    ports, inbox, _ = lukewarm_portal(with_coupon_secret(""))

    result = nurture.run(nurture.Request(as_of=START, dry_run=True), ports)

    assert [action.template for action in result.actions if action.type == "send_email"] == ["nurture_1"]
    assert inbox.sent == []
