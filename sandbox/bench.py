"""Speed of the sandbox portal on the benchmark-sized portal (20,000 companies, ~160,000 deals).

    .venv/bin/python -m sandbox.bench [--companies 20000] [--seed 1]

Prints the start-up time, then the median / p95 milliseconds of the calls the services make most, measured twice:
over a raw keep-alive HTTP connection (what the sandbox costs) and through hubspot-api-client (what a caller
sees, model deserialization included). Also sequential requests per second on one connection.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import hubspot
import urllib3

from sandbox.server import SandboxServer


def _timed(label: str, call: Callable[[], Any], repeat: int) -> None:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[max(0, round(len(samples) * 0.95) - 1)]
    print(f"  {label:<58} median {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms   (n={repeat})")


def _deal_search(after: int, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    filters = [
        {"propertyName": "dealstage", "operator": "IN", "values": ["closedwon", "40118804"]},
        {"propertyName": "closedate", "operator": "GTE", "value": "2024-11-29"},
        *(extra or []),
    ]
    return {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": "closedate", "direction": "ASCENDING"}],
        "properties": ["amount", "closedate", "pipeline", "dealstage"],
        "limit": 200,
        "after": str(after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Speed of the sandbox portal")
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()

    started = time.perf_counter()
    server = SandboxServer(
        port=0, companies=options.companies, seed=options.seed, rate_limit=0, today=date(2026, 11, 29)
    ).start()
    print(f"portal {server.store.counts()} ready in {time.perf_counter() - started:.1f} s")
    pool = urllib3.HTTPConnectionPool("127.0.0.1", int(server.url.rsplit(":", 1)[1]), maxsize=1)
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: Any = None) -> Any:
        response = pool.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        assert response.status < 300, (response.status, response.data[:300])
        return json.loads(response.data)

    companies = call("GET", "/crm/v3/objects/companies?limit=100")["results"]
    company_ids = [company["id"] for company in companies]
    largest = max(
        company_ids, key=lambda company_id: len(server.store.associated_ids("companies", company_id, "deals"))
    )
    try:
        print("sandbox over raw HTTP (keep-alive):")
        _timed("GET company list page (100)", lambda: call("GET", "/crm/v3/objects/companies?limit=100&after=5000"), 50)
        batch = {"inputs": [{"id": company_id} for company_id in company_ids], "properties": ["name", "sirank"]}
        _timed(
            "POST companies batch read (100)", lambda: call("POST", "/crm/v3/objects/companies/batch/read", batch), 50
        )
        counter = iter(range(10**6))
        _timed(
            "deal search, new query each time (200 of ~100k matches)",
            lambda: call(
                "POST",
                "/crm/v3/objects/deals/search",
                _deal_search(0, [{"propertyName": "amount", "operator": "GT", "value": str(next(counter) / 1000)}]),
            ),
            10,
        )
        _timed(
            "deal search, same query, page at after=0",
            lambda: call("POST", "/crm/v3/objects/deals/search", _deal_search(0)),
            50,
        )
        _timed(
            "deal search, same query, page at after=9800",
            lambda: call("POST", "/crm/v3/objects/deals/search", _deal_search(9800)),
            50,
        )
        partition = iter(range(10**6))
        _timed(
            "deal search, hs_object_id > cursor, sorted by id (new each time)",
            lambda: call(
                "POST",
                "/crm/v3/objects/deals/search",
                {
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": "hs_object_id", "operator": "GT", "value": str(next(partition) * 500)}
                            ]
                        }
                    ],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                    "limit": 200,
                },
            ),
            10,
        )
        by_company = {
            "filterGroups": [
                {"filters": [{"propertyName": "associations.company", "operator": "EQ", "value": largest}]}
            ],
            "properties": ["amount", "closedate"],
            "limit": 200,
        }
        _timed(
            "deal search by associations.company (largest of 100)",
            lambda: call("POST", "/crm/v3/objects/deals/search", by_company),
            50,
        )
        assoc_batch = {"inputs": [{"id": company_id} for company_id in company_ids]}
        _timed(
            "v4 batch read companies->deals (100)",
            lambda: call("POST", "/crm/v4/associations/companies/deals/batch/read", assoc_batch),
            50,
        )
        count = 1000
        started = time.perf_counter()
        for _ in range(count):
            call("GET", "/crm/v3/owners?limit=10")
        print(f"  sequential small GETs on one connection: {count / (time.perf_counter() - started):.0f} requests/s")

        print("through hubspot-api-client (client deserialization included):")
        client = hubspot.Client.create(access_token=server.token, host=server.url)
        companies_api = client.crm.companies.basic_api
        search_api = client.crm.objects.search_api
        owners_api = client.crm.owners.owners_api
        _timed("companies.basic_api.get_page(limit=100)", lambda: companies_api.get_page(limit=100), 20)
        _timed("objects.search_api.do_search(deals, 200)", lambda: search_api.do_search("deals", _deal_search(0)), 20)
        started = time.perf_counter()
        for _ in range(300):
            owners_api.get_page(limit=10)
        print(f"  sequential owners_api.get_page: {300 / (time.perf_counter() - started):.0f} requests/s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
