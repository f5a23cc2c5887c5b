"""Every HTTP entry of functions/main.py under random input: JSON, bytes, headers, tokens, signatures and replayed
timestamps. Whatever arrives, the answer is never a 5xx, and a refused request (4xx) has made no HubSpot call and
left the state store exactly as it was.

Bounded and derandomised, so that CI sees the same cases every run; the number of cases is printed at the end of
each test (`fuzz: N cases ...`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.webhooks import sign_v3
from tests.e2e.http_kit import RUN_TARGETS, WEBHOOK_TARGETS, api_calls, client_for, signed, state_rows

pytestmark = pytest.mark.sandbox

LOCAL_URL = "http://localhost/"


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- what arrives ----------------------------------------------------------------------------------------------

# header values as WSGI carries them: latin-1 text without control characters
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def day_offsets(now: datetime) -> st.SearchStrategy[str]:
    today = now.date()
    return st.one_of(
        st.integers(min_value=-800, max_value=800).map(lambda d: (today + timedelta(days=d)).isoformat()),
        st.sampled_from(["0001-01-01", "1999-12-31", "2000-01-01", "9999-12-31", "29/11/2026", "", "today"]),
    )


def run_bodies(now: datetime) -> st.SearchStrategy[bytes]:
    """Bodies shaped like a run request (known fields, any values, stray fields) and anything else at all."""
    shaped = st.fixed_dictionaries(
        {},
        optional={
            "as_of": day_offsets(now) | json_scalars,
            "dry_run": st.sampled_from([True, False, "yes", "true", 1, 0, None, "false"]),
            "mode": st.sampled_from(["full", "incremental", "sometimes", 3]),
            "backfill": st.sampled_from([True, False, "no", 1]),
            "surprise": json_values,
        },
    )
    return st.one_of(
        shaped.map(lambda body: json.dumps(body).encode()),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=120),
        st.sampled_from(NASTY_BODIES),
    )


# what broke the entries once, always among the cases
NASTY_BODIES = [
    b"",
    b"[" * 5000 + b"]" * 5000,
    b'{"as_of": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b'{"as_of": 1e400}',
    b'{"as_of": NaN}',
    b'{"as_of": ' + b"9" * 5000 + b"}",
    b"\xff\xfe{\x00}\x00",
    '{"dry_run": true}'.encode("utf-16"),
]


def stray_headers() -> st.SearchStrategy[dict[str, str]]:
    names = st.sampled_from(
        [
            "X-CloudScheduler-JobName",
            "X-CloudScheduler-ScheduleTime",
            "Authorization",
            "X-Forwarded-Proto",
            "X-HubSpot-Signature-v3",
            "X-HubSpot-Request-Timestamp",
            "Content-Type",
            "X-Flywheel-Token",
        ]
    )
    return st.dictionaries(names, header_text, max_size=3)


def webhook_events() -> st.SearchStrategy[Any]:
    object_ids = st.one_of(
        st.integers(min_value=0, max_value=10**25),
        st.text(st.sampled_from("0123456789 x-"), max_size=22),
        json_scalars,
    )
    delivery_ids = st.one_of(st.integers(min_value=-5, max_value=10**20), st.text(max_size=30), st.booleans())
    event = st.fixed_dictionaries(
        {},
        optional={
            "objectId": object_ids,
            "eventId": delivery_ids,
            "callbackId": delivery_ids,
            "properties": st.dictionaries(st.sampled_from(["hs_object_id", "dealstage"]), object_ids, max_size=2),
            "subscriptionType": st.sampled_from(["deal.creation", "deal.propertyChange"]),
        },
    )
    # HubSpot's own shape, so that signed cases also reach the handlers
    well_formed = st.fixed_dictionaries(
        {"objectId": st.integers(min_value=1, max_value=10**6), "eventId": st.integers(min_value=1, max_value=10**9)},
        optional={"subscriptionType": st.sampled_from(["deal.creation", "deal.propertyChange"])},
    )
    return st.one_of(st.lists(well_formed, min_size=1, max_size=3), st.lists(event, max_size=4), event, json_values)


# --- what must hold --------------------------------------------------------------------------------------------


class Ledger:
    """Sends one request and checks what it left behind."""

    def __init__(self, portal: Any, env: dict[str, str]) -> None:
        self.portal, self.env = portal, env
        self.cases = 0
        self.statuses: dict[int, int] = {}

    def send(self, call: Callable[[], Any]) -> Any:
        calls_before, rows_before = api_calls(self.portal), state_rows(self.env)
        response = call()
        self.cases += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.get_data(as_text=True)[:500]
        if 400 <= response.status_code < 500 and response.status_code not in (409, 429):
            assert api_calls(self.portal) == calls_before, f"{response.status_code} after HubSpot calls"
            assert state_rows(self.env) == rows_before, f"{response.status_code} after a state change"
        return response

    def report(self, capsys: pytest.CaptureFixture[str], what: str) -> None:
        with capsys.disabled():
            print(f"\nfuzz: {self.cases} cases {what}; statuses {dict(sorted(self.statuses.items()))}")


@pytest.mark.parametrize("target", RUN_TARGETS)
def test_a_run_entry_answers_any_request_without_a_5xx_and_a_refusal_changes_nothing(
    portal: Any, flywheel_env: dict[str, str], now: datetime, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client, ledger = client_for(target), Ledger(portal, flywheel_env)
    token = flywheel_env["FLYWHEEL_API_TOKEN"]
    # mostly the right token, so that most cases reach the parsing behind it
    tokens = st.sampled_from([token, token, token, None, "", token[:-1], f"Bearer {token}"])

    @fuzz_settings(80)
    @given(body=run_bodies(now), token=tokens, extra=stray_headers(), method=st.sampled_from(["POST"] * 5 + ["PUT"]))
    def check(body: bytes, token: str | None, extra: dict[str, str], method: str) -> None:
        headers = {**extra, **({"X-Flywheel-Token": token} if token is not None else {})}
        ledger.send(lambda: client.open("/", method=method, data=body, headers=headers))

    for nasty in NASTY_BODIES:
        ledger.send(lambda body=nasty: client.post("/", data=body, headers={"X-Flywheel-Token": token}))
    check()
    ledger.report(capsys, f"on {target}")


@pytest.mark.parametrize("target", WEBHOOK_TARGETS)
def test_a_webhook_entry_answers_any_request_without_a_5xx_and_a_refusal_changes_nothing(
    portal: Any, flywheel_env: dict[str, str], now: datetime, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client, ledger = client_for(target), Ledger(portal, flywheel_env)
    secret = flywheel_env["HUBSPOT_CLIENT_SECRET"]
    # a replayed or delayed delivery: within HubSpot's five minutes and past them, both ways
    ages = st.integers(min_value=-290, max_value=290) | st.integers(min_value=-900, max_value=900)
    timestamps = st.one_of(
        ages.map(lambda age: str(int((now.timestamp() - age) * 1000))),
        st.text("0123456789", min_size=1, max_size=450),
        header_text,
        st.none(),
    )
    signers = st.sampled_from(["valid"] * 4 + ["other-secret", "other-url", "tampered", "none"]) | header_text

    @fuzz_settings(80)
    @given(
        events=webhook_events(),
        raw=st.none() | st.binary(max_size=80),
        timestamp=timestamps,
        signer=signers,
        extra=stray_headers(),
    )
    def check(events: Any, raw: bytes | None, timestamp: str | None, signer: str, extra: dict[str, str]) -> None:
        body = raw if raw is not None else json.dumps(events).encode()
        headers = {**extra, "Content-Type": "application/json"}
        if timestamp is not None:
            headers["X-HubSpot-Request-Timestamp"] = timestamp
        if signer != "none":
            # a header that is not one of the named ways of signing is sent as the signature itself
            ways = {"valid": (secret, LOCAL_URL, body), "other-secret": ("not-the-secret", LOCAL_URL, body)}
            ways |= {"other-url": (secret, LOCAL_URL + "elsewhere", body), "tampered": (secret, LOCAL_URL, body + b" ")}
            if signer in ways and timestamp is not None and timestamp.isascii() and timestamp.isdigit():
                key, url, signed_body = ways[signer]
                headers["X-HubSpot-Signature-v3"] = sign_v3(key, "POST", url, signed_body, int(timestamp))
            elif signer not in ways:
                headers["X-HubSpot-Signature-v3"] = signer
        ledger.send(lambda: client.post("/", data=body, headers=headers))

    stamp = str(int(now.timestamp() * 1000))
    for nasty in NASTY_BODIES:
        headers = {"X-HubSpot-Request-Timestamp": stamp}
        headers["X-HubSpot-Signature-v3"] = sign_v3(secret, "POST", LOCAL_URL, nasty, int(stamp))
        ledger.send(lambda body=nasty, signed=headers: client.post("/", data=body, headers=signed))
    for timestamp, signature in [("9" * 400, "c2ln"), (stamp, "firmà"), ("١٧٠٠٠٠٠٠٠٠٠٠٠", "c2ln")]:
        headers = {"X-HubSpot-Request-Timestamp": timestamp, "X-HubSpot-Signature-v3": signature}
        ledger.send(lambda malformed=headers: client.post("/", data=b"[]", headers=malformed))
    check()
    ledger.report(capsys, f"on {target}")


@pytest.mark.parametrize("target", WEBHOOK_TARGETS)
def test_a_replayed_signed_delivery_is_answered_as_done_and_changes_nothing(
    portal: Any, flywheel_env: dict[str, str], now: datetime, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client, ledger = client_for(target), Ledger(portal, flywheel_env)
    secret = flywheel_env["HUBSPOT_CLIENT_SECRET"]
    deals = [portal.store.create_object("deals", {"dealname": f"Ordine {n}", "amount": "90"}, []) for n in range(3)]
    events = st.lists(
        st.builds(
            lambda event_id, deal: {"eventId": event_id, "objectId": int(deal)},
            st.integers(min_value=1, max_value=10**12),
            st.sampled_from(deals),
        ),
        min_size=1,
        max_size=4,
        unique_by=lambda e: e["eventId"],
    )

    @fuzz_settings(20)
    @given(events=events, age_seconds=st.integers(min_value=0, max_value=290))
    def check(events: list[dict[str, Any]], age_seconds: int) -> None:
        body = json.dumps(events).encode()
        headers = signed(body, LOCAL_URL, secret, at=now, age_seconds=age_seconds)
        first = ledger.send(lambda: client.post("/", data=body, headers=headers))
        calls, rows = api_calls(portal), state_rows(flywheel_env)

        replayed = ledger.send(lambda: client.post("/", data=body, headers=headers))

        assert first.status_code == 200, first.get_json()
        assert (replayed.status_code, replayed.get_json().get("deduplicated")) == (200, True)
        assert (api_calls(portal), state_rows(flywheel_env)) == (calls, rows)

    check()
    ledger.report(capsys, f"(original + replay) on {target}")
