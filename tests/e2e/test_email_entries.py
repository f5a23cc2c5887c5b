"""The entries behind the emails, called as people and the shop call them: the signed unsubscribe link (a page for
a person, RFC 8058 one-click for a mail client) and the coupon check, over functions/main.py and the sandbox."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from flywheel.bootstrap import reset_instance
from flywheel.clock import FixedClock
from flywheel.config import NurtureRules
from flywheel.domain.nurture import coupon_code
from flywheel.http import ENDPOINT_HANDLERS
from flywheel.mail.links import unsubscribe_link
from flywheel.services.registry import ENDPOINTS, entry_points
from tests.e2e.http_kit import ENDPOINT_TARGETS, api_calls, client_for, state_rows, with_token

pytestmark = pytest.mark.sandbox

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def portal(sandbox_factory: Any) -> Any:
    """An empty portal: the one company and contact a test creates are the only ones anything could email."""
    return sandbox_factory(companies=0)


def quiet_customer(portal: Any, today: date) -> tuple[str, str]:
    """A company that turned lukewarm today and its one consenting contact: nurture emails it today."""
    last_order = today - timedelta(days=NurtureRules().start_days)
    company = portal.store.create_object(
        "companies", {"name": "Galli Informatica S.r.l.", "last_purchase_date": last_order.isoformat()}
    )
    contact = portal.store.create_object(
        "contacts",
        {
            "email": "laura.galli@galli-informatica.it",
            "firstname": "Laura",
            "hs_email_optout": "false",
            "hs_legal_basis": "Legitimate interest – existing customer",
        },
        [("companies", company)],
    )
    return company, contact


def run_nurture(env: dict[str, str], day: date) -> dict[str, Any]:
    answer = client_for("nurture_step").post("/", json={"as_of": day.isoformat()}, headers=with_token(env))
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


def outbox_mail(env: dict[str, str]) -> list[Any]:
    folder = Path(env["FLYWHEEL_MAILER"].removeprefix("outbox://"))
    return [message_from_bytes(path.read_bytes(), policy=policy.default) for path in sorted(folder.glob("*.eml"))]


def path_of(url: str) -> str:
    """What the test client requests for a link: the entry is the client's root, the query is the link's."""
    return f"/?{urlsplit(url).query}"


def opted_out(portal: Any, contact: str) -> str:
    return str(portal.store.get("contacts", contact).properties.get("hs_email_optout"))


def move_to(day: date, now: datetime, portal: Any) -> None:
    """Flywheel's clock and the portal's, `day` at the time of the morning runs."""
    moved = now + timedelta(days=(day - now.date()).days)
    portal.store.clock.pin(moved)
    reset_instance(clock=FixedClock(moved))


# --- unsubscribe -----------------------------------------------------------------------------------------------


def test_an_unsubscribe_through_the_link_stops_every_later_email_to_that_contact(
    portal: Any, flywheel_env: dict[str, str], today: date, now: datetime
) -> None:
    company, contact = quiet_customer(portal, today)
    run_nurture(flywheel_env, today)
    (first,) = outbox_mail(flywheel_env)
    link = str(first["List-Unsubscribe"]).strip("<>")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in first.get_content()

    # the mail client's one-click POST, to the URL of the header (RFC 8058)
    answer = client_for("unsubscribe").post(path_of(link), data="List-Unsubscribe=One-Click", headers=ONE_CLICK)

    assert answer.status_code == 200
    assert "Iscrizione annullata" in answer.get_data(as_text=True)
    assert opted_out(portal, contact) == "true"
    later = today + timedelta(days=15)
    move_to(later, now, portal)
    summary = run_nurture(flywheel_env, later)["summary"]
    assert len(outbox_mail(flywheel_env)) == 1
    assert summary["no_consent"] == 1 and summary["emails"] == 0
    assert portal.store.get("companies", company).properties["nurture_status"] == "no_consent"


def test_opening_the_link_shows_a_confirmation_page_and_changes_nothing(
    portal: Any, flywheel_env: dict[str, str], today: date
) -> None:
    _, contact = quiet_customer(portal, today)
    run_nurture(flywheel_env, today)
    link = str(outbox_mail(flywheel_env)[0]["List-Unsubscribe"]).strip("<>")
    calls = api_calls(portal)

    page = client_for("unsubscribe").get(path_of(link))

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "Confermi di non voler più ricevere" in html and '<form method="post">' in html
    assert opted_out(portal, contact) == "false"
    assert api_calls(portal) == calls  # a link scanner's GET reaches nothing


def test_the_page_s_button_unsubscribes_and_a_second_click_changes_nothing_more(
    portal: Any, flywheel_env: dict[str, str], today: date
) -> None:
    _, contact = quiet_customer(portal, today)
    secret = flywheel_env["FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET"]
    link = unsubscribe_link("https://x.example/unsubscribe", secret, contact, today + timedelta(days=365))
    client = client_for("unsubscribe")

    first = client.post(path_of(link), data={"List-Unsubscribe": "One-Click"})
    again = client.post(path_of(link), data={"List-Unsubscribe": "One-Click"})

    assert (first.status_code, again.status_code) == (200, 200)
    assert opted_out(portal, contact) == "true"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda link: link.replace("c=", "c=9"),  # another contact
        lambda link: link + "x",  # an altered signature
        lambda link: link.split("&s=")[0],  # unsigned
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_tampered_link_gets_400_and_changes_nothing(
    portal: Any, flywheel_env: dict[str, str], today: date, method: str, tamper: Any
) -> None:
    _, contact = quiet_customer(portal, today)
    secret = flywheel_env["FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET"]
    link = tamper(unsubscribe_link("https://x.example/unsubscribe", secret, contact, today + timedelta(days=365)))
    calls, rows = api_calls(portal), state_rows(flywheel_env)

    answer = client_for("unsubscribe").open(path_of(link), method=method, data="List-Unsubscribe=One-Click")

    assert answer.status_code == 400
    assert "Link non valido" in answer.get_data(as_text=True)
    assert opted_out(portal, contact) == "false"
    assert (api_calls(portal), state_rows(flywheel_env)) == (calls, rows)


def test_an_expired_link_gets_400_and_changes_nothing(portal: Any, flywheel_env: dict[str, str], today: date) -> None:
    _, contact = quiet_customer(portal, today)
    secret = flywheel_env["FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET"]
    expired = unsubscribe_link("https://x.example/unsubscribe", secret, contact, today - timedelta(days=1))
    calls = api_calls(portal)

    answer = client_for("unsubscribe").post(path_of(expired), data="List-Unsubscribe=One-Click", headers=ONE_CLICK)

    assert answer.status_code == 400
    assert opted_out(portal, contact) == "false" and api_calls(portal) == calls


def test_without_a_link_secret_the_entry_refuses_to_act(
    portal: Any, flywheel_env: dict[str, str], today: date, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, contact = quiet_customer(portal, today)
    link = unsubscribe_link("https://x.example/u", flywheel_env["FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET"], contact, today)
    monkeypatch.delenv("FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET")
    reset_instance(clock=FixedClock(now))

    answer = client_for("unsubscribe").post(path_of(link), data="List-Unsubscribe=One-Click", headers=ONE_CLICK)

    assert answer.status_code == 500
    assert "Servizio momentaneamente non disponibile" in answer.get_data(as_text=True)
    assert opted_out(portal, contact) == "false"


def test_an_oversized_one_click_body_gets_413_and_changes_nothing(
    portal: Any, flywheel_env: dict[str, str], today: date
) -> None:
    _, contact = quiet_customer(portal, today)
    link = unsubscribe_link("https://x.example/u", flywheel_env["FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET"], contact, today)

    answer = client_for("unsubscribe").post(path_of(link), data=b"x" * (1024 * 1024 + 1), headers=ONE_CLICK)

    assert answer.status_code == 413
    assert opted_out(portal, contact) == "false"


def test_the_unsubscribe_entry_takes_only_get_and_post(flywheel_env: dict[str, str]) -> None:
    answer = client_for("unsubscribe").put("/?c=1&e=2030-01-01&s=x")

    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD, POST"


# --- coupon_check ----------------------------------------------------------------------------------------------


def ask(env: dict[str, str], body: Any, **headers: str) -> Any:
    return client_for("coupon_check").post("/", data=json.dumps(body), headers={**headers, **ONE_CLICK})


def test_the_shop_learns_whether_a_code_is_valid_for_a_company_and_until_when_without_a_hubspot_call(
    portal: Any, flywheel_env: dict[str, str], today: date
) -> None:
    expires = today + timedelta(days=30)
    code = coupon_code(flywheel_env["FLYWHEEL_NURTURE__COUPON_SECRET"], "SICOM", "1042", expires)
    calls = api_calls(portal)

    valid = ask(flywheel_env, {"company_id": "1042", "code": code}, **with_token(flywheel_env))
    other = ask(flywheel_env, {"company_id": "1043", "code": code}, **with_token(flywheel_env))

    assert valid.status_code == 200
    assert valid.get_json() == {
        "company_id": "1042",
        "code": code,
        "valid": True,
        "expires": expires.isoformat(),
        "reason": None,
    }
    assert (other.get_json()["valid"], other.get_json()["expires"], other.get_json()["reason"]) == (
        False,
        None,
        "not_this_company",
    )
    assert api_calls(portal) == calls


def test_an_expired_code_is_not_valid_and_says_since_when(flywheel_env: dict[str, str], today: date) -> None:
    expired = today - timedelta(days=1)
    code = coupon_code(flywheel_env["FLYWHEEL_NURTURE__COUPON_SECRET"], "SICOM", "1042", expired)

    answer = ask(flywheel_env, {"company_id": "1042", "code": code}, **with_token(flywheel_env)).get_json()

    assert (answer["valid"], answer["expires"], answer["reason"]) == (False, expired.isoformat(), "expired")


def test_the_coupon_check_is_authenticated_like_the_run_endpoints(flywheel_env: dict[str, str]) -> None:
    nobody = ask(flywheel_env, {"company_id": "1042", "code": "SICOM-0000-0000000000"})
    wrong = ask(flywheel_env, {"company_id": "1042", "code": "x"}, **{"X-Flywheel-Token": "guess"})

    assert (nobody.status_code, wrong.status_code) == (401, 401)


@pytest.mark.parametrize(
    "body",
    [{}, {"company_id": "1042"}, {"company_id": "1042", "code": "x", "extra": 1}, {"company_id": "", "code": "x"}, []],
)
def test_a_bad_coupon_question_gets_400(flywheel_env: dict[str, str], body: Any) -> None:
    assert ask(flywheel_env, body, **with_token(flywheel_env)).status_code == 400


def test_the_coupon_check_takes_only_post(flywheel_env: dict[str, str]) -> None:
    assert client_for("coupon_check").get("/", headers=with_token(flywheel_env)).status_code == 405


# --- the deployed shape ----------------------------------------------------------------------------------------


def test_every_endpoint_of_the_registry_is_an_entry_point_of_the_deployed_module() -> None:
    assert {endpoint.name for endpoint in ENDPOINTS} == set(ENDPOINT_TARGETS) == set(ENDPOINT_HANDLERS)
    assert set(ENDPOINT_TARGETS) <= set(entry_points())
    for target in ENDPOINT_TARGETS:
        assert client_for(target) is not None
