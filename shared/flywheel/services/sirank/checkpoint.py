"""What a stopped run resumes from: its typed checkpoint, and the staging pages the checkpoint counts.

The checkpoint is small and saved after every page read and every batch written: the phase, the cursor inside
it, counters, and how many staging pages of each kind exist. The pages themselves (the company and deal pages a
full run has read, the companies an incremental run has touched, the targets it will score, the scores already
given) are staging documents, reloaded by a resumed run instead of being read from HubSpot again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from flywheel.ports import StateStore
from flywheel.services.sirank.ids import chunks
from flywheel.services.sirank.ledger import STATE_CHUNK

CHECKPOINT = "sirank_recalc"
STAGE_COLLECTION = "sirank_stage"

Mode = Literal["full", "incremental"]
# full: companies -> deals -> score -> finish; incremental: deals -> archived -> companies -> targets -> score
# -> finish
Phase = Literal["companies", "deals", "archived", "targets", "score", "finish"]

# a checkpoint saved by the single-module sirank service (a run stopped across a deploy) resumes too
_RENAMED = {"score_stages": "score_pages", "calls_now": "api_calls"}

# staging page prefixes: company pages, deal pages (full); affected companies, targets (incremental); scores
COMPANY_PAGES, DEAL_PAGES, AFFECTED_PAGES, TARGET_PAGES, SCORE_PAGES = "c", "d", "a", "t", "s"


@dataclass(slots=True)
class Checkpoint:
    mode: Mode
    as_of: date
    started_at: datetime  # becomes the watermark when the run finishes
    generation: int  # of the ledger the run reads (incremental) or builds (full)
    phase: Phase
    cursor: str | None = None  # HubSpot's paging cursor inside the phase
    company_pages: int = 0
    deal_pages: int = 0
    affected_pages: int = 0
    target_pages: int = 0
    score_position: int = 0  # targets before it are scored, written and in the ledger
    score_pages: int = 0
    in_flight: list[str] | None = None  # companies of the batch update sent last, maybe not acknowledged
    api_calls: int = 0  # HubSpot calls of the run up to this checkpoint, earlier invocations included
    scored: int = 0
    companies_changed: int = 0
    values_changed: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def staging_ids(self) -> list[str]:
        """Every staging page the run may have written: one past each count too, a page staged just before a
        stop whose checkpoint was never saved."""
        pages = {
            COMPANY_PAGES: self.company_pages,
            DEAL_PAGES: self.deal_pages,
            AFFECTED_PAGES: self.affected_pages,
            TARGET_PAGES: self.target_pages,
            SCORE_PAGES: self.score_pages,
        }
        return [f"{prefix}{k}" for prefix, count in pages.items() for k in range(count + 1)]

    def to_document(self) -> dict[str, Any]:
        document = asdict(self)
        document.update(as_of=self.as_of.isoformat(), started_at=self.started_at.isoformat())
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Checkpoint:
        renamed = {_RENAMED.get(name, name): value for name, value in document.items()}
        known = {name: renamed[name] for name in cls.__dataclass_fields__ if name in renamed}
        known.update(
            as_of=date.fromisoformat(str(document["as_of"])),
            started_at=datetime.fromisoformat(str(document["started_at"])),
        )
        if known.get("phase") == "deals_done":
            known["phase"] = "score"
        return cls(**known)

    @classmethod
    def load(cls, state: StateStore) -> Checkpoint | None:
        document = state.load_checkpoint(CHECKPOINT)
        return None if document is None else cls.from_document(document)


class Staging:
    """The staging documents of the run in progress (none on a dry run, which writes nothing)."""

    def __init__(self, state: StateStore, dry_run: bool) -> None:
        self.state = state
        self.dry_run = dry_run

    def put(self, prefix: str, number: int, document: Mapping[str, Any]) -> None:
        if not self.dry_run:
            self.state.put_documents(STAGE_COLLECTION, {f"{prefix}{number}": document})

    def pages(self, prefix: str, count: int) -> Iterator[dict[str, Any]]:
        ids = [f"{prefix}{k}" for k in range(count)]
        for chunk in chunks(ids, 100):
            found = self.state.get_documents(STAGE_COLLECTION, chunk)
            for doc_id in chunk:
                yield found.get(doc_id, {})

    def delete(self, checkpoint: Checkpoint) -> None:
        for chunk in chunks(checkpoint.staging_ids(), STATE_CHUNK):
            self.state.delete_documents(STAGE_COLLECTION, chunk)
