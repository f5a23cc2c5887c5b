"""The HubSpot adapter, counting its calls by operation and object type, for the benchmarks' call reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.domain.models import CrmRecord
from flywheel.ports import Filter


class CountingCrm(HubSpotCrm):
    """The real adapter, counting its HTTP calls by operation and object type (the sandbox's own stats name only
    the endpoint template)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.by_kind: Counter[str] = Counter()

    def _counted(self, kind: str, before: int) -> None:
        self.by_kind[kind] += self.calls_made - before

    def search_pages(self, object_type: str, filters: Sequence[Filter], properties: Sequence[str], **kw: Any) -> Any:
        before = self.calls_made
        yield from super().search_pages(object_type, filters, properties, **kw)
        self._counted(f"search {object_type}", before)

    def read_batch(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> list[CrmRecord]:
        before = self.calls_made
        try:
            return super().read_batch(object_type, ids, properties)
        finally:
            self._counted(f"read {object_type}", before)

    def associated_ids(self, from_object_type: str, to_object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        before = self.calls_made
        try:
            return super().associated_ids(from_object_type, to_object_type, ids)
        finally:
            self._counted(f"associations {from_object_type}->{to_object_type}", before)
