"""One sirank_recalc invocation: its ports and rules, the mode it runs in, its checkpoint, and what it cost.

A run chooses its mode (as asked; else full without a ledger or on the weekly day, incremental otherwise), then
resumes the checkpoint a stopped run of the same as_of (and mode, if one was asked) left behind, or drops a stale
one with what it staged. Each save of the checkpoint carries the HubSpot calls of the run so far, the earlier
invocations' included, so that a resumed run reports what the whole run cost (the calls an invocation made
after its last checkpoint are not known to the next one).
"""

from __future__ import annotations

from array import array
from typing import Any

from flywheel.domain.models import Action, CrmRecord, RunRequest
from flywheel.domain.sirank import is_dp_member
from flywheel.services.context import Ports
from flywheel.services.orders import Order, as_order
from flywheel.services.sirank.checkpoint import CHECKPOINT, SCORE_PAGES, Checkpoint, Mode, Phase, Staging
from flywheel.services.sirank.ids import chunks
from flywheel.services.sirank.ledger import STATE_CHUNK, CompanyState, LedgerMeta, index_name, ledger_name

FUNCTION = "sirank_recalc"
PROGRESS_EVERY = 50  # pages between progress lines


class Request(RunRequest):
    # None: incremental when a ledger exists, else full; full on settings.sirank.full_run_weekday
    mode: Mode | None = None


class Job:
    def __init__(self, request: Request, ports: Ports) -> None:
        self.ports = ports
        self.crm = ports.crm
        self.state = ports.state
        self.rules = ports.settings.sirank
        self.contract = ports.settings.portal
        self.timezone = ports.settings.timezone
        self.as_of = request.as_of or ports.clock.today()
        self.dry_run = request.dry_run
        c = self.contract
        self.value_names = (
            c.sirank,
            c.last_purchase_date,
            c.retention_segment,
            c.revenue_mtd,
            c.revenue_prev_month,
            c.revenue_ytd,
        )
        self.company_properties = [self.contract.dp_level, *self.value_names]
        self.meta = LedgerMeta.load(self.state)
        self.staging = Staging(self.state, self.dry_run)
        self.calls_at_start = self.crm.calls_made
        self.calls_before = 0  # of the invocations this one resumes
        self.resumed = False
        self.actions: list[Action] = []
        self.scores = array("q")  # every company's SiRank, for the summary's distribution
        self.extra_summary: dict[str, Any] = {}
        self.checkpoint = self._start(request.mode)

    @property
    def mode(self) -> Mode:
        return self.checkpoint.mode

    @property
    def api_calls(self) -> int:
        return self.calls_before + self.calls_this_invocation

    @property
    def calls_this_invocation(self) -> int:
        return self.crm.calls_made - self.calls_at_start

    # --- start: resume or begin afresh --------------------------------------------------------------------------

    def _start(self, requested: Mode | None) -> Checkpoint:
        mode = self._choose_mode(requested)
        if self.dry_run:
            return self._fresh_checkpoint(mode)
        saved = Checkpoint.load(self.state)
        if saved is not None and saved.as_of == self.as_of and requested in (None, saved.mode):
            self._resume(saved)
            return saved
        if saved is not None:
            self._discard(saved)
        fresh = self._fresh_checkpoint(mode)
        self.state.save_checkpoint(CHECKPOINT, fresh.to_document())
        return fresh

    def _choose_mode(self, requested: Mode | None) -> Mode:
        if self.meta is None:
            return "full"  # nothing to be incremental on: build the ledger first
        if requested is not None:
            return requested
        return "full" if self.as_of.weekday() == self.rules.full_run_weekday else "incremental"

    def _fresh_checkpoint(self, mode: Mode) -> Checkpoint:
        generation = self.meta.generation if self.meta else 0
        return Checkpoint(
            mode=mode,
            as_of=self.as_of,
            started_at=self.ports.clock.now(),
            generation=generation + 1 if mode == "full" else generation,
            phase="companies" if mode == "full" else "deals",
        )

    def _resume(self, saved: Checkpoint) -> None:
        self.resumed = True
        self.calls_before = saved.api_calls
        # the scores of the batches finished before the stop, for the summary's distribution
        for document in self.staging.pages(SCORE_PAGES, saved.score_pages):
            self.scores.extend(int(v) for v in document.get("v", []))
        self.ports.progress(f"sirank: resuming a {saved.mode} run from its checkpoint ({saved.phase})")

    def _discard(self, saved: Checkpoint) -> None:
        """A stale checkpoint (another day, another mode): drop its staging and its half-built ledger."""
        self.staging.delete(saved)
        if saved.mode == "full" and (self.meta is None or saved.generation != self.meta.generation):
            self.delete_collection(ledger_name(saved.generation))
            self.delete_collection(index_name(saved.generation))
        self.state.clear_checkpoint(CHECKPOINT)

    # --- along the way ------------------------------------------------------------------------------------------

    def save(self) -> None:
        if not self.dry_run:
            self.checkpoint.api_calls = self.api_calls
            self.state.save_checkpoint(CHECKPOINT, self.checkpoint.to_document())

    def next_phase(self, phase: Phase) -> None:
        self.checkpoint.phase = phase
        self.checkpoint.cursor = None
        self.save()

    def order_of(self, record: CrmRecord) -> Order | None:
        """The deal as an order, or None; the ledger packs deal ids as numbers, as HubSpot's are."""
        order = as_order(record, self.ports.schema, self.timezone)
        return order if order is not None and order.deal_id.isdigit() else None

    def company_state(self, record: CrmRecord) -> CompanyState:
        """A company as HubSpot describes it, before its orders are added."""
        company = CompanyState(is_dp_member(record.prop(self.contract.dp_level)))
        company.set_hubspot_values(record, self.value_names)
        return company

    def delete_collection(self, collection: str) -> None:
        ids = [doc_id for doc_id, _ in self.state.iter_documents(collection)]
        for chunk in chunks(ids, STATE_CHUNK):
            self.state.delete_documents(collection, chunk)

    def finish(self) -> None:
        """The run is complete: nothing left to resume."""
        self.staging.delete(self.checkpoint)
        self.state.clear_checkpoint(CHECKPOINT)
