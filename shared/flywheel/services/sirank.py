"""sirank_recalc: SiRank, last purchase date and retention segment of every company, written back to HubSpot.

Two modes, one scoring step.

full         lists every company (properties only) and every deal (with its company association), 100 a page,
             keeps compact per-company aggregates in memory, scores every company, and rebuilds the ledger: a
             state-store document per company with its orders (`deal:day:cents;...`), D&P membership, the values
             HubSpot holds and the next day its score may change by itself; plus a deal -> company index.
incremental  reads only what changed since the last run's watermark (minus a lookback, as search lags writes):
             deals modified (search, hs_object_id order), deals archived (list archived=true: search never shows
             them), companies modified (D&P level, values edited by hand); applies them to the ledger; then
             re-scores only the companies touched plus those whose review day has come (an order leaving the
             window, a segment threshold, tenure moving the rounded value) - without reading HubSpot for them.

Only values that differ from what HubSpot holds are written, in full batch updates of 100 changed companies.
Every page read and every batch written ends with a checkpoint; a run stopped half-way resumes from it on the
next trigger with the same as_of (pages already read are reloaded from the state store's staging documents, not
from HubSpot). A batch of writes is marked in flight before it goes out; after a stop its companies' current
values are read back first, so that no write is repeated.

Known limits: a deal re-associated to another company without other changes stays with its old company until
the next full run (association changes do not always move hs_lastmodifieddate); the archived-deals list is read
whole on each incremental run (HubSpot keeps archived records 90 days).

The real clock drives watermarks (HubSpot's hs_lastmodifieddate is real time); as_of drives the scoring.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from flywheel.domain.models import Action, CrmRecord, RunRequest, RunResult
from flywheel.domain.sirank import OrderFact, is_dp_member, next_review, score
from flywheel.ports import Filter, StateStore
from flywheel.services.context import Ports
from flywheel.services.mapping import parse_date, parse_number

FUNCTION = "sirank_recalc"
CADENCE = "daily"
# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = ("companies_changed", "values_changed", "api_calls_this_invocation")

CHECKPOINT = "sirank_recalc"
META_COLLECTION = "sirank_meta"
META_DOC = "state"
STAGE_COLLECTION = "sirank_stage"
DEAL_PROPERTIES = ("amount", "closedate", "pipeline", "dealstage")
ORDERS_PER_INDEX_SHARD = 2000
STATE_CHUNK = 500
PROGRESS_EVERY = 50
SIRANK_THRESHOLD = 5000
_ORDER = struct.Struct("<qiq")  # deal id, order day (ordinal), amount in cents
_INDEX = struct.Struct("<qq")  # deal id, company id

Mode = Literal["full", "incremental"]


class Request(RunRequest):
    # None: incremental when a ledger exists, else full; full on settings.sirank.full_run_weekday
    mode: Literal["full", "incremental"] | None = None


# --- compact per-company state ---------------------------------------------------------------------------------


class CompanyState:
    """One company as the ledger keeps it: its orders packed 20 bytes each, D&P membership, HubSpot's values."""

    __slots__ = ("dp", "hs_last", "hs_segment", "hs_sirank", "orders", "review")

    def __init__(
        self,
        dp: bool = False,
        hs_sirank: str | None = None,
        hs_last: str | None = None,
        hs_segment: str | None = None,
        orders: bytearray | None = None,
        review: int | None = None,
    ) -> None:
        self.dp = dp
        self.hs_sirank = hs_sirank
        self.hs_last = hs_last
        self.hs_segment = hs_segment
        self.orders = orders if orders is not None else bytearray()
        self.review = review

    def order_entries(self) -> Iterator[tuple[int, int, int]]:
        for deal, day, cents in _ORDER.iter_unpack(self.orders):
            yield int(deal), int(day), int(cents)

    def order_facts(self) -> list[OrderFact]:
        return [OrderFact(date.fromordinal(day), Decimal(cents) / 100) for _deal, day, cents in self.order_entries()]

    def remove(self, deal: int) -> bool:
        for position in range(0, len(self.orders), _ORDER.size):
            if _ORDER.unpack_from(self.orders, position)[0] == deal:
                del self.orders[position : position + _ORDER.size]
                return True
        return False

    def upsert(self, deal: int, day: int, cents: int) -> None:
        self.remove(deal)
        self.orders += _ORDER.pack(deal, day, cents)

    def set_hubspot_values(self, record: CrmRecord, names: tuple[str, str, str]) -> None:
        self.hs_sirank, self.hs_last, self.hs_segment = (record.prop(n) for n in names)

    def to_document(self) -> dict[str, Any]:
        return {
            "dp": self.dp,
            "s": self.hs_sirank,
            "l": self.hs_last,
            "r": self.hs_segment,
            "o": ";".join(f"{deal}:{day}:{cents}" for deal, day, cents in self.order_entries()),
            "n": self.review,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> CompanyState:
        orders = bytearray()
        for item in str(document.get("o") or "").split(";"):
            if item:
                deal, day, cents = item.split(":")
                orders += _ORDER.pack(int(deal), int(day), int(cents))
        review = document.get("n")
        return cls(
            bool(document.get("dp")),
            document.get("s"),
            document.get("l"),
            document.get("r"),
            orders,
            None if review is None else int(review),
        )


@dataclass(frozen=True, slots=True)
class OrderRow:
    deal: int
    day: int
    cents: int


def amount_cents(text: str | None) -> int:
    if text is None or text == "":
        return 0
    try:
        return int((Decimal(text) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return 0


def _id_key(record_id: str) -> tuple[int, str]:
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _millis(instant: datetime) -> str:
    return str(int(instant.timestamp() * 1000))


# --- one run ---------------------------------------------------------------------------------------------------


class _Run:
    def __init__(self, request: Request, ports: Ports) -> None:
        self.ports = ports
        self.crm = ports.crm
        self.state = ports.state
        self.rules = ports.settings.sirank
        self.contract = ports.settings.portal
        self.timezone = ports.settings.timezone
        self.as_of = request.as_of or ports.clock.today()
        self.dry_run = request.dry_run
        self.requested_mode = request.mode
        self.calls_at_start = self.crm.calls_made
        self.value_names = (self.contract.sirank, self.contract.last_purchase_date, self.contract.retention_segment)
        self.company_properties = [self.contract.dp_level, *self.value_names]
        self.cp: dict[str, Any] = {}
        self.resumed = False
        self.actions: list[Action] = []
        self.scores = array("q")
        self.meta = self.state.get_document(META_COLLECTION, META_DOC)
        self.extra_summary: dict[str, Any] = {}

    # --- orchestration ---------------------------------------------------------------------------------------

    def execute(self) -> RunResult:
        mode = self._start()
        if self.resumed:
            # scores of the pages finished before the stop, for the summary's distribution
            for document in self._staged("s", int(self.cp["score_stages"])):
                self.scores.extend(int(v) for v in document.get("v", []))
        if mode == "full":
            self._full()
        else:
            self._incremental()
        return self._result(mode)

    def _start(self) -> Mode:
        mode: Mode
        if self.requested_mode is not None:
            mode = self.requested_mode
        elif self.meta is None or self.as_of.weekday() == self.rules.full_run_weekday:
            mode = "full"
        else:
            mode = "incremental"
        if mode == "incremental" and self.meta is None:
            mode = "full"  # nothing to be incremental on: build the ledger first
        if self.dry_run:
            self.cp = self._fresh_checkpoint(mode)
            return mode
        saved = self.state.load_checkpoint(CHECKPOINT)
        if (
            saved is not None
            and saved.get("as_of") == self.as_of.isoformat()
            and self.requested_mode in (None, saved.get("mode"))
        ):
            self.cp = saved
            self.resumed = True
            self.ports.progress(f"sirank: resuming a {saved['mode']} run from its checkpoint ({saved['phase']})")
            return "full" if saved["mode"] == "full" else "incremental"
        if saved is not None:
            self._discard(saved)
        self.cp = self._fresh_checkpoint(mode)
        self._save()
        return mode

    def _fresh_checkpoint(self, mode: Mode) -> dict[str, Any]:
        generation = int(self.meta["generation"]) if self.meta else 0
        return {
            "mode": mode,
            "as_of": self.as_of.isoformat(),
            "started_at": self.ports.clock.now().isoformat(),
            "generation": generation + 1 if mode == "full" else generation,
            "phase": "companies" if mode == "full" else "deals",
            "cursor": None,
            "company_pages": 0,
            "deal_pages": 0,
            "target_pages": 0,
            "score_position": 0,
            "score_stages": 0,
            "in_flight": None,
            "calls_before": 0,
            "scored": 0,
            "companies_changed": 0,
            "values_changed": {},
            "affected_pages": 0,
            "counters": {},
        }

    def _save(self) -> None:
        if not self.dry_run:
            self.cp["calls_now"] = self.cp.get("calls_before", 0) + self.crm.calls_made - self.calls_at_start
            self.state.save_checkpoint(CHECKPOINT, self.cp)

    def _count(self, name: str, by: int = 1) -> None:
        counters = self.cp.setdefault("counters", {})
        counters[name] = counters.get(name, 0) + by

    def _discard(self, saved: Mapping[str, Any]) -> None:
        """A stale checkpoint (another day, another mode): drop its staging and its half-built ledger."""
        self._delete_staging(saved)
        if saved.get("mode") == "full" and (not self.meta or saved.get("generation") != self.meta.get("generation")):
            self._delete_collection(_ledger_name(int(saved["generation"])))
            self._delete_collection(_index_name(int(saved["generation"])))
        self.state.clear_checkpoint(CHECKPOINT)

    def _delete_staging(self, cp: Mapping[str, Any]) -> None:
        ids = [f"c{k}" for k in range(int(cp.get("company_pages", 0)))]
        ids += [f"d{k}" for k in range(int(cp.get("deal_pages", 0)))]
        ids += [f"t{k}" for k in range(int(cp.get("target_pages", 0)))]
        ids += [f"a{k}" for k in range(int(cp.get("affected_pages", 0)))]
        ids += [f"s{k}" for k in range(int(cp.get("score_stages", 0)) + 1)]
        for chunk in _chunks(ids, STATE_CHUNK):
            self.state.delete_documents(STAGE_COLLECTION, chunk)

    def _delete_collection(self, collection: str) -> None:
        ids = [doc_id for doc_id, _ in self.state.iter_documents(collection)]
        for chunk in _chunks(ids, STATE_CHUNK):
            self.state.delete_documents(collection, chunk)

    def _stage(self, doc_id: str, document: Mapping[str, Any]) -> None:
        if not self.dry_run:
            self.state.put_documents(STAGE_COLLECTION, {doc_id: document})

    def _staged(self, prefix: str, count: int) -> Iterator[dict[str, Any]]:
        ids = [f"{prefix}{k}" for k in range(count)]
        for chunk in _chunks(ids, 100):
            found = self.state.get_documents(STAGE_COLLECTION, chunk)
            for doc_id in chunk:
                yield found.get(doc_id, {})

    # --- reading HubSpot records -----------------------------------------------------------------------------

    def _order_of(self, record: CrmRecord) -> OrderRow | None:
        """The deal as an order (closed-won in an order pipeline, with a close date), else None."""
        if not self.ports.schema.is_order(record.prop("pipeline"), record.prop("dealstage")):
            return None
        closed = parse_date(record.prop("closedate"), self.timezone)
        if closed is None or not record.id.isdigit():
            return None
        return OrderRow(int(record.id), closed.toordinal(), amount_cents(record.prop("amount")))

    def _company_state(self, record: CrmRecord) -> CompanyState:
        company = CompanyState(is_dp_member(record.prop(self.contract.dp_level)))
        company.set_hubspot_values(record, self.value_names)
        return company

    # --- full ------------------------------------------------------------------------------------------------

    def _full(self) -> None:
        companies: dict[str, CompanyState] = {}
        pages: list[list[str]] = []
        if self.resumed:
            self._reload_full(companies, pages)
        if self.cp["phase"] == "companies":
            self._list_companies(companies, pages)
        if self.cp["phase"] == "deals":
            self._list_deals(companies)
        listed = {company_id for page in pages for company_id in page}
        orphans = sorted((c for c in companies if c not in listed), key=_id_key)
        pages += [list(chunk) for chunk in _chunks(orphans, 100)]  # companies created while deals were listed
        generation = int(self.cp["generation"])
        if self.cp["phase"] == "deals_done":
            self.cp["phase"] = "score"
            self._save()
        if self.cp["phase"] == "score":
            targets = [company_id for page in pages for company_id in page]
            self._score_all(targets, lambda ids: {i: companies[i] for i in ids}, _ledger_name(generation))
            self.cp["phase"] = "finish"
            self._save()
        shards = max(1, math.ceil(sum(len(s.orders) // _ORDER.size for s in companies.values()) / 2000))
        if not self.dry_run:
            self._write_index(companies, generation, shards)
            self.state.put_documents(
                META_COLLECTION,
                {
                    META_DOC: {
                        "generation": generation,
                        "shards": shards,
                        "watermark": self.cp["started_at"],
                        "last_as_of": self.as_of.isoformat(),
                    }
                },
            )
            if generation > 1:
                # the ledger this run replaces (also when a stop came between switching and deleting)
                self._delete_collection(_ledger_name(generation - 1))
                self._delete_collection(_index_name(generation - 1))
            self._finish()
        self.extra_summary["orders"] = sum(len(s.orders) // _ORDER.size for s in companies.values())

    def _reload_full(self, companies: dict[str, CompanyState], pages: list[list[str]]) -> None:
        for document in self._staged("c", int(self.cp["company_pages"])):
            ids = list(document.get("ids", []))
            pages.append(ids)
            for company_id, dp, sirank, last, segment in zip(
                ids, document["dp"], document["s"], document["l"], document["r"], strict=True
            ):
                companies[company_id] = CompanyState(bool(dp), sirank, last, segment)
        for document in self._staged("d", int(self.cp["deal_pages"])):
            for item in str(document.get("o") or "").split(";"):
                if item:
                    deal, company_id, day, cents = item.split(":")
                    companies.setdefault(company_id, CompanyState()).upsert(int(deal), int(day), int(cents))

    def _list_companies(self, companies: dict[str, CompanyState], pages: list[list[str]]) -> None:
        for page in self.crm.list_pages("companies", self.company_properties, after=self.cp["cursor"]):
            ids = [record.id for record in page.records]
            states = [self._company_state(record) for record in page.records]
            companies.update(zip(ids, states, strict=True))
            pages.append(ids)
            k = int(self.cp["company_pages"])
            self._stage(
                f"c{k}",
                {
                    "ids": ids,
                    "dp": [s.dp for s in states],
                    "s": [s.hs_sirank for s in states],
                    "l": [s.hs_last for s in states],
                    "r": [s.hs_segment for s in states],
                },
            )
            self.cp.update(cursor=page.after, company_pages=k + 1)
            self._save()
            if (k + 1) % PROGRESS_EVERY == 0:
                self.ports.progress(f"sirank: {len(companies)} companies read")
        self.cp.update(phase="deals", cursor=None)
        self._save()

    def _list_deals(self, companies: dict[str, CompanyState]) -> None:
        pages = self.crm.list_pages("deals", DEAL_PROPERTIES, associations=["companies"], after=self.cp["cursor"])
        for page in pages:
            staged: list[str] = []
            for record in page.records:
                order = self._order_of(record)
                linked = record.associations.get("companies", ())
                if order is None or not linked:
                    continue
                company_id = min(linked, key=_id_key)
                companies.setdefault(company_id, CompanyState()).upsert(order.deal, order.day, order.cents)
                staged.append(f"{order.deal}:{company_id}:{order.day}:{order.cents}")
            k = int(self.cp["deal_pages"])
            self._stage(f"d{k}", {"o": ";".join(staged)})
            self.cp.update(cursor=page.after, deal_pages=k + 1)
            self._save()
            if (k + 1) % PROGRESS_EVERY == 0:
                self.ports.progress(f"sirank: {(k + 1) * 100} deals read")
        self.cp.update(phase="deals_done", cursor=None)
        self._save()

    def _write_index(self, companies: Mapping[str, CompanyState], generation: int, shards: int) -> None:
        """deal -> company, sharded by deal id, so that incremental runs find the company of a changed deal."""
        packed = [bytearray() for _ in range(shards)]
        for company_id, company in companies.items():
            if not company_id.isdigit():
                continue
            for deal, _day, _cents in company.order_entries():
                packed[deal % shards] += _INDEX.pack(deal, int(company_id))
        name = _index_name(generation)
        for start in range(0, shards, 100):
            documents = {}
            for shard in range(start, min(start + 100, shards)):
                text = ";".join(f"{deal}:{company}" for deal, company in _INDEX.iter_unpack(packed[shard]))
                documents[str(shard)] = {"d": text}
                packed[shard] = bytearray()
            self.state.put_documents(name, documents)

    def _finish(self) -> None:
        self._delete_staging(self.cp)
        self.state.clear_checkpoint(CHECKPOINT)

    # --- incremental -----------------------------------------------------------------------------------------

    def _incremental(self) -> None:
        assert self.meta is not None
        generation = int(self.meta["generation"])
        ledger = _ledger_name(generation)
        index = _DealIndex(self.state, _index_name(generation), int(self.meta["shards"]))
        cache: dict[str, CompanyState] = {}
        not_in_ledger: set[str] = set()
        affected: set[str] = set()
        for document in self._staged("a", int(self.cp.get("affected_pages", 0))):
            affected.update(document.get("ids", []))
        since = datetime.fromisoformat(str(self.meta["watermark"])) - timedelta(minutes=self.rules.lookback_minutes)
        self.extra_summary["modified_since"] = since.isoformat()

        def load(ids: Iterable[str]) -> None:
            missing = [i for i in dict.fromkeys(ids) if i not in cache]
            for chunk in _chunks(missing, STATE_CHUNK):
                found = self.state.get_documents(ledger, chunk)
                for company_id in chunk:
                    document = found.get(company_id)
                    if document is None:
                        not_in_ledger.add(company_id)
                    cache[company_id] = CompanyState.from_document(document) if document else CompanyState()

        def flush(dirty: set[str]) -> None:
            if not self.dry_run:
                for chunk in _chunks(sorted(dirty), STATE_CHUNK):
                    self.state.put_documents(ledger, {i: cache[i].to_document() for i in chunk})
                index.flush()
                if dirty:
                    # the companies touched so far, a staging page at a time (a checkpoint stays small)
                    k = int(self.cp.get("affected_pages", 0))
                    self._stage(f"a{k}", {"ids": sorted(dirty, key=_id_key)})
                    self.cp["affected_pages"] = k + 1
                self._save()

        if self.cp["phase"] == "deals":
            since_filter = [Filter("hs_lastmodifieddate", "GTE", _millis(since))]
            for page in self.crm.search_pages("deals", since_filter, DEAL_PROPERTIES, after=self.cp["cursor"]):
                dirty = self._apply_deals(page.records, index, load, cache)
                affected |= dirty
                self._count("deals_modified", len(page.records))
                self.cp["cursor"] = page.after
                flush(dirty)
            self.cp.update(phase="archived", cursor=None)
            self._save()
        if self.cp["phase"] == "archived":
            for page in self.crm.list_pages("deals", (), archived=True, after=self.cp["cursor"]):
                deals = [int(r.id) for r in page.records if r.id.isdigit()]
                index.load(deals)
                dirty = set()
                for deal in deals:
                    company_id = index.pop(deal)
                    if company_id is not None:
                        load([company_id])
                        cache[company_id].remove(deal)
                        dirty.add(company_id)
                affected |= dirty
                self._count("archived_orders_removed", len(dirty))
                self.cp["cursor"] = page.after
                flush(dirty)
            self.cp.update(phase="companies", cursor=None)
            self._save()
        if self.cp["phase"] == "companies":
            since_filter = [Filter("hs_lastmodifieddate", "GTE", _millis(since))]
            for page in self.crm.search_pages(
                "companies", since_filter, self.company_properties, after=self.cp["cursor"]
            ):
                load(r.id for r in page.records)
                dirty = set()
                for record in page.records:
                    company = cache[record.id]
                    fresh = self._company_state(record)
                    held = (company.dp, company.hs_sirank, company.hs_last, company.hs_segment)
                    now_held = (fresh.dp, fresh.hs_sirank, fresh.hs_last, fresh.hs_segment)
                    # our own writes of yesterday come back here unchanged: only a real difference re-scores
                    if held != now_held or record.id in not_in_ledger:
                        company.dp = fresh.dp
                        company.set_hubspot_values(record, self.value_names)
                        dirty.add(record.id)
                affected |= dirty
                self._count("companies_modified", len(page.records))
                self.cp["cursor"] = page.after
                flush(dirty)
            self.cp.update(phase="targets", cursor=None)
            self._save()
        if self.cp["phase"] == "targets":
            targets = sorted(affected | self._due(ledger, cache), key=_id_key)
            for k, chunk in enumerate(_chunks(targets, 100)):
                self._stage(f"t{k}", {"ids": list(chunk)})
            self.cp.update(phase="score", target_pages=math.ceil(len(targets) / 100))
            self._save()
            pages = [list(chunk) for chunk in _chunks(targets, 100)]
        else:
            pages = [list(d.get("ids", [])) for d in self._staged("t", int(self.cp["target_pages"]))]
        if self.cp["phase"] == "score":

            def states(ids: list[str]) -> dict[str, CompanyState]:
                load(ids)
                return {i: cache[i] for i in ids}

            targets = [company_id for page in pages for company_id in page]
            self._score_all(targets, states, ledger, on_done=lambda ids: [cache.pop(i, None) for i in ids])
            self.cp["phase"] = "finish"
            self._save()
        if not self.dry_run:
            self.state.put_documents(
                META_COLLECTION,
                {
                    META_DOC: {
                        **self.meta,
                        "watermark": self.cp["started_at"],
                        "last_as_of": self.as_of.isoformat(),
                    }
                },
            )
            self._finish()

    def _apply_deals(
        self,
        records: Sequence[CrmRecord],
        index: _DealIndex,
        load: Callable[[Iterable[str]], None],
        cache: dict[str, CompanyState],
    ) -> set[str]:
        """Bring the ledger in line with one search page of modified deals; the companies touched."""
        deals = [r for r in records if r.id.isdigit()]
        index.load(int(r.id) for r in deals)
        orders = {int(r.id): self._order_of(r) for r in deals}
        unknown = [str(deal) for deal, order in orders.items() if order is not None and index.get(deal) is None]
        linked: dict[str, list[str]] = self.crm.associated_ids("deals", "companies", unknown) if unknown else {}
        dirty: set[str] = set()
        for deal, order in orders.items():
            previous = index.get(deal)
            if order is None:
                current = None
            elif previous is not None:
                current = previous
            else:
                companies = linked.get(str(deal), [])
                current = min(companies, key=_id_key) if companies else None
            if previous is not None and previous != current:
                load([previous])
                cache[previous].remove(deal)
                index.pop(deal)
                dirty.add(previous)
            if current is not None and order is not None:
                load([current])
                cache[current].upsert(order.deal, order.day, order.cents)
                index.put(deal, current)
                dirty.add(current)
        return dirty

    def _due(self, ledger: str, cache: Mapping[str, CompanyState]) -> set[str]:
        """Companies whose review day has come; all of them when as_of went back before the last run's."""
        last_as_of = date.fromisoformat(str(self.meta["last_as_of"])) if self.meta else None
        everything = last_as_of is None or self.as_of < last_as_of
        today = self.as_of.toordinal()
        due: set[str] = set()
        for company_id, document in self.state.iter_documents(ledger):
            review = cache[company_id].review if company_id in cache else document.get("n")
            if everything or (review is not None and int(review) <= today):
                due.add(company_id)
        for company_id, company in cache.items():  # a dry run's companies that are not in the ledger yet
            if everything or (company.review is not None and company.review <= today):
                due.add(company_id)
        self._count("due_by_review_day", len(due))
        return due

    # --- scoring and writing (both modes) --------------------------------------------------------------------

    def _score_all(
        self,
        targets: Sequence[str],
        states: Callable[[list[str]], dict[str, CompanyState]],
        ledger: str,
        on_done: Callable[[list[str]], object] | None = None,
    ) -> None:
        """Score the targets in order; updates go out in full batches of 100 changed companies.

        The checkpoint is the position after the last company of the last batch sent: every company before it
        is scored, written if needed, and in the ledger; none after it was written, except the batch in flight
        when a run stopped, whose companies are read back from HubSpot before anything is decided about them.
        """
        position = int(self.cp["score_position"])
        read_back: dict[str, CrmRecord] = {}
        if self.cp.get("in_flight"):
            ids = list(self.cp["in_flight"])
            read_back = {r.id: r for r in self.crm.read_batch("companies", ids, list(self.value_names))}
        pending: list[tuple[str, dict[str, str]]] = []
        scored: list[tuple[str, CompanyState, int]] = []

        def flush() -> None:
            nonlocal position
            gone: set[str] = set()
            if not self.dry_run:
                if pending:
                    self.cp["in_flight"] = [company_id for company_id, _ in pending]
                    self._save()
                    gone, refused = self._write(pending)
                for company_id, changes in pending:
                    if company_id not in gone and company_id not in refused:
                        # a refused value is not remembered as written: the next run tries it again
                        self._remember_written(companies_by_id[company_id], changes)
                kept = {i: c.to_document() for i, c, _ in scored if i not in gone}
                for chunk in _chunks(list(kept), STATE_CHUNK):
                    self.state.put_documents(ledger, {i: kept[i] for i in chunk})
                if gone:
                    self.state.delete_documents(ledger, sorted(gone))
                n = int(self.cp["score_stages"])
                self._stage(f"s{n}", {"v": [v for _, _, v in scored]})
                self.cp["score_stages"] = n + 1
            self.actions += [
                Action(
                    type="update_company",
                    company_id=company_id,
                    key=f"{FUNCTION}:{company_id}:{self.as_of.isoformat()}",
                    properties=changes,
                )
                for company_id, changes in pending
            ]
            self.scores.extend(v for _, _, v in scored)
            self.cp["scored"] = int(self.cp["scored"]) + len(scored)
            self.cp["companies_changed"] = int(self.cp["companies_changed"]) + len(pending)
            by_property: dict[str, int] = self.cp.setdefault("values_changed", {})
            for _company_id, changes in pending:
                for name in changes:
                    by_property[name] = by_property.get(name, 0) + 1
            position += len(scored)
            self.cp.update(score_position=position, in_flight=None)
            self._save()
            if on_done is not None:
                on_done([i for i, _, _ in scored])
            pending.clear()
            scored.clear()
            companies_by_id.clear()

        companies_by_id: dict[str, CompanyState] = {}
        for chunk_number, start in enumerate(range(position, len(targets), 100)):
            ids = list(targets[start : start + 100])
            companies = states(ids)
            for company_id in ids:
                company = companies[company_id]
                if company_id in read_back:
                    company.set_hubspot_values(read_back[company_id], self.value_names)
                changes, sirank = self._decide(company)
                scored.append((company_id, company, sirank))
                companies_by_id[company_id] = company
                if changes:
                    pending.append((company_id, changes))
                    if len(pending) == 100:
                        flush()
            if (chunk_number + 1) % PROGRESS_EVERY == 0:
                self.ports.progress(f"sirank: {start + len(ids)} of {len(targets)} companies scored")
        if scored or pending:
            flush()

    def _decide(self, company: CompanyState) -> tuple[dict[str, str], int]:
        facts = company.order_facts()
        result = score(facts, company.dp, self.as_of, self.rules)
        review = next_review(facts, company.dp, self.as_of, self.rules)
        company.review = None if review is None else review.toordinal()
        changes: dict[str, str] = {}
        held_sirank = parse_number(company.hs_sirank)
        if held_sirank is None or round(held_sirank) != result.sirank:
            changes[self.contract.sirank] = str(result.sirank)
        held_last = parse_date(company.hs_last, self.timezone)
        if held_last != result.last_purchase_date or (result.last_purchase_date is None and company.hs_last):
            last = result.last_purchase_date
            changes[self.contract.last_purchase_date] = "" if last is None else last.isoformat()
        if company.hs_segment != result.retention_segment:
            changes[self.contract.retention_segment] = result.retention_segment
        return changes, result.sirank

    def _remember_written(self, company: CompanyState, changes: Mapping[str, str]) -> None:
        if self.contract.sirank in changes:
            company.hs_sirank = changes[self.contract.sirank]
        if self.contract.last_purchase_date in changes:
            company.hs_last = changes[self.contract.last_purchase_date] or None
        if self.contract.retention_segment in changes:
            company.hs_segment = changes[self.contract.retention_segment]

    def _write(self, updates: Sequence[tuple[str, Mapping[str, str]]]) -> tuple[set[str], set[str]]:
        """Batch update (100 a call): (ids deleted in HubSpot meanwhile, ids HubSpot refused for another reason).
        Neither stops the run; refusals are counted with HubSpot's reason logged by the adapter."""
        refusals = self.crm.update_batch("companies", updates)
        gone = {r.record_id for r in refusals if r.status == 404}
        refused = {r.record_id for r in refusals} - gone
        if refused:
            self._count("failed:update_company", len(refused))
        return gone, refused

    # --- summary ---------------------------------------------------------------------------------------------

    def _result(self, mode: Mode) -> RunResult:
        ordered = sorted(self.scores)
        calls_this_invocation = self.crm.calls_made - self.calls_at_start
        summary: dict[str, Any] = {
            "mode": mode,
            "resumed_from_checkpoint": self.resumed,
            "companies_scored": int(self.cp["scored"]),
            "companies_changed": int(self.cp["companies_changed"]),
            "values_changed": sum(self.cp.get("values_changed", {}).values()),
            "values_changed_by_property": dict(sorted(self.cp.get("values_changed", {}).items())),
            "sirank_quantiles": _quantiles(ordered),
            "share_above_5000": round(sum(1 for v in ordered if v > SIRANK_THRESHOLD) / len(ordered), 4)
            if ordered
            else 0.0,
            "api_calls": int(self.cp.get("calls_before", 0)) + calls_this_invocation,
            "api_calls_this_invocation": calls_this_invocation,
            **dict(sorted(self.cp.get("counters", {}).items())),
            **self.extra_summary,
        }
        return RunResult(
            function=FUNCTION, as_of=self.as_of, dry_run=self.dry_run, actions=self.actions, summary=summary
        )


def _quantiles(ordered: Sequence[int]) -> dict[str, int]:
    if not ordered:
        return {}
    points = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90, "p99": 0.99}
    result = {
        name: ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] for name, q in points.items()
    }
    result["min"], result["max"] = ordered[0], ordered[-1]
    return result


def _ledger_name(generation: int) -> str:
    return f"sirank_ledger_g{generation}"


def _index_name(generation: int) -> str:
    return f"sirank_index_g{generation}"


class _DealIndex:
    """deal -> company for the ledger's orders, in shards loaded on demand and written back when changed."""

    def __init__(self, state: StateStore, collection: str, shards: int) -> None:
        self.state = state
        self.collection = collection
        self.shards = shards
        self.loaded: dict[int, dict[int, str]] = {}
        self.dirty: set[int] = set()

    def load(self, deals: Iterable[int]) -> None:
        wanted = sorted({deal % self.shards for deal in deals} - self.loaded.keys())
        for start in range(0, len(wanted), STATE_CHUNK):
            chunk = [str(s) for s in wanted[start : start + STATE_CHUNK]]
            found = self.state.get_documents(self.collection, chunk)
            for shard_id in chunk:
                entries: dict[int, str] = {}
                for item in str(found.get(shard_id, {}).get("d") or "").split(";"):
                    if item:
                        deal, company = item.split(":")
                        entries[int(deal)] = company
                self.loaded[int(shard_id)] = entries

    def get(self, deal: int) -> str | None:
        return self.loaded[deal % self.shards].get(deal)

    def put(self, deal: int, company_id: str) -> None:
        shard = deal % self.shards
        if self.loaded[shard].get(deal) != company_id:
            self.loaded[shard][deal] = company_id
            self.dirty.add(shard)

    def pop(self, deal: int) -> str | None:
        shard = deal % self.shards
        company = self.loaded[shard].pop(deal, None)
        if company is not None:
            self.dirty.add(shard)
        return company

    def flush(self) -> None:
        if not self.dirty:
            return
        documents = {
            str(shard): {"d": ";".join(f"{deal}:{company}" for deal, company in self.loaded[shard].items())}
            for shard in sorted(self.dirty)
        }
        self.state.put_documents(self.collection, documents)
        self.dirty.clear()


def run(request: Request, ports: Ports) -> RunResult:
    return _Run(request, ports).execute()
