"""The sandbox portal's HTTP server: HubSpot's v3/v4 CRM, owners, pipelines, properties, lists, marketing emails
and single-send routes.

Stdlib only: a ThreadingHTTPServer speaking HTTP/1.1 with keep-alive (hubspot-api-client's urllib3 pool reuses
connections) and TCP_NODELAY (so a response is never held back waiting for an ACK). Each request is routed to the
PortalStore; HubSpot's limits (bearer token, rolling ten-second rate limit, batch and page sizes) and the
sandbox's fault injection are applied here before the store is touched.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox import associations as assoc
from sandbox.clock import PortalClock, parse_instant
from sandbox.errors import PortalError, bad_request, batch_envelope, batch_error
from sandbox.limits import MAX_BATCH_INPUTS, MAX_LIST_LIMIT
from sandbox.store import PortalStore

Query = dict[str, list[str]]
Response = tuple[int, Any]
Handler = Callable[["_Request"], Response]

FAULT_MESSAGES = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass
class _Request:
    store: PortalStore
    params: dict[str, str]
    query: Query
    body: Any

    def object_type(self, key: str = "objectType") -> str:
        return self.store.object_type(self.params[key])

    def flag(self, name: str) -> bool:
        return self.query.get(name, ["false"])[-1].lower() == "true"

    def names(self, name: str) -> list[str]:
        return [part.strip() for value in self.query.get(name, []) for part in value.split(",") if part.strip()]

    def integer(self, name: str, default: int) -> int:
        raw = self.query.get(name, [""])[-1]
        if raw == "":
            return default
        try:
            return int(raw)
        except ValueError as error:
            raise bad_request(f"{name} must be an integer, got {raw!r}") from error

    def json_object(self) -> Mapping[str, Any]:
        if not isinstance(self.body, Mapping):
            raise bad_request("The request body must be a JSON object.")
        return self.body

    def inputs(self) -> list[Mapping[str, Any]]:
        inputs = self.json_object().get("inputs")
        if not isinstance(inputs, list):
            raise bad_request("inputs must be a list")
        if len(inputs) > MAX_BATCH_INPUTS:
            raise bad_request(
                f"Batch input is limited to {MAX_BATCH_INPUTS} inputs, got {len(inputs)}",
                sub_category="crm.batch.TOO_MANY_INPUTS",
            )
        if not all(isinstance(item, Mapping) for item in inputs):
            raise bad_request("Every batch input must be an object.")
        return inputs


# ---------------------------------------------------------------------- CRM objects (v3)


def _list_objects(request: _Request) -> Response:
    object_type = request.object_type()
    limit = request.integer("limit", 10)
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise bad_request(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
    after = request.query.get("after", [""])[-1] or None
    archived = request.flag("archived")
    page, next_after = request.store.list_page(object_type, limit=limit, after=after, archived=archived)
    properties = request.names("properties")
    association_types = request.names("associations")
    results = []
    for record in page:
        view = request.store.read_view(object_type, record, properties)
        if association_types:
            linked = request.store.v3_associations(object_type, record.id, association_types)
            if linked:
                view["associations"] = linked
        results.append(view)
    body: dict[str, Any] = {"results": results}
    if next_after is not None:
        body["paging"] = {"next": {"after": next_after, "link": ""}}
    return 200, body


def _get_object(request: _Request) -> Response:
    object_type = request.object_type()
    id_property = request.query.get("idProperty", [""])[-1] or None
    record = request.store.get(
        object_type, unquote(request.params["objectId"]), archived=request.flag("archived"), id_property=id_property
    )
    view = request.store.read_view(object_type, record, request.names("properties"))
    association_types = request.names("associations")
    if association_types:
        linked = request.store.v3_associations(object_type, record.id, association_types)
        if linked:
            view["associations"] = linked
    return 200, view


def _create_object(request: _Request) -> Response:
    object_type = request.object_type()
    body = request.json_object()
    associations = body.get("associations") or []
    if not isinstance(associations, list):
        raise bad_request("associations must be a list")
    record = request.store.create(object_type, body.get("properties") or {}, associations)
    return 201, request.store.read_view(object_type, record, None, every=True)


def _update_object(request: _Request) -> Response:
    object_type = request.object_type()
    id_property = request.query.get("idProperty", [""])[-1] or None
    record = request.store.update(
        object_type, unquote(request.params["objectId"]), request.json_object().get("properties") or {}, id_property
    )
    return 200, request.store.read_view(object_type, record, None, every=True)


def _archive_object(request: _Request) -> Response:
    request.store.archive(request.object_type(), request.params["objectId"])
    return 204, None


def _batch_read(request: _Request) -> Response:
    object_type = request.object_type()
    started = request.store.clock.iso_now()
    body = request.json_object()
    inputs = request.inputs()
    ids = [str(item.get("id", "")) for item in inputs]
    found, missing = request.store.read_many(
        object_type, ids, body.get("idProperty") or None, archived=request.flag("archived")
    )
    properties = [str(name) for name in body.get("properties") or []]
    results = [request.store.read_view(object_type, record, properties) for record in found]
    return _batch_answer(request, started, results, missing, f"Could not get some {object_type}")


def _batch_create(request: _Request) -> Response:
    object_type = request.object_type()
    started = request.store.clock.iso_now()
    records = request.store.create_many(object_type, request.inputs())
    results = [request.store.read_view(object_type, record, None, every=True) for record in records]
    return 201, batch_envelope(started, request.store.clock.iso_now(), results, [])


def _batch_update(request: _Request) -> Response:
    object_type = request.object_type()
    started = request.store.clock.iso_now()
    records, missing = request.store.update_many(object_type, request.inputs())
    results = [request.store.read_view(object_type, record, None, every=True) for record in records]
    return _batch_answer(request, started, results, missing, f"Could not update some {object_type}")


def _batch_answer(request: _Request, started: str, results: list[Any], missing: list[str], message: str) -> Response:
    """200, or HubSpot's 207 multi-status naming the ids it could not find."""
    completed = request.store.clock.iso_now()
    if not missing:
        return 200, batch_envelope(started, completed, results, [])
    errors = [batch_error("OBJECT_NOT_FOUND", message, {"ids": missing})]
    return 207, batch_envelope(started, completed, results, errors)


def _batch_upsert(request: _Request) -> Response:
    object_type = request.object_type()
    started = request.store.clock.iso_now()
    results = []
    for record, created in request.store.upsert_many(object_type, request.inputs()):
        view = request.store.read_view(object_type, record, None, every=True)
        view["new"] = created
        results.append(view)
    return 200, batch_envelope(started, request.store.clock.iso_now(), results, [])


def _batch_archive(request: _Request) -> Response:
    request.store.archive_many(request.object_type(), [str(item.get("id", "")) for item in request.inputs()])
    return 204, None


def _search(request: _Request) -> Response:
    return 200, request.store.search(request.object_type(), request.json_object())


# ---------------------------------------------------------------------- lists (v3)


def _create_list(request: _Request) -> Response:
    return 200, request.store.create_list(request.json_object())


def _get_list(request: _Request) -> Response:
    return 200, request.store.get_list(request.params["listId"], include_filters=request.flag("includeFilters"))


def _get_list_by_name(request: _Request) -> Response:
    name = unquote(request.params["listName"])
    return 200, request.store.list_by_name(
        request.params["objectTypeId"], name, include_filters=request.flag("includeFilters")
    )


def _list_memberships(request: _Request) -> Response:
    after = request.query.get("after", [""])[-1] or None
    return 200, request.store.list_memberships(
        request.params["listId"], limit=request.integer("limit", 100), after=after
    )


def _record_list_memberships(request: _Request) -> Response:
    return 200, request.store.record_list_memberships(request.params["objectTypeId"], request.params["recordId"])


# ---------------------------------------------------------------------- associations (v4)


def _association_types(type_ids: list[int]) -> list[dict[str, Any]]:
    return [{"category": assoc.HUBSPOT_DEFINED, "typeId": type_id, "label": None} for type_id in type_ids]


def _pair_result(from_type: str, from_id: str, to_type: str, to_id: str) -> dict[str, Any]:
    return {
        "fromObjectTypeId": assoc.OBJECT_TYPE_IDS[from_type],
        "fromObjectId": int(from_id),
        "toObjectTypeId": assoc.OBJECT_TYPE_IDS[to_type],
        "toObjectId": int(to_id),
        "labels": [],
    }


def _default_result(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "associationSpec": {"associationCategory": assoc.HUBSPOT_DEFINED, "associationTypeId": type_id},
    }


def _numeric_id(raw: Any) -> str:
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit():
        raise bad_request(f"Invalid object id: {text!r}")
    return text


def _batch_read_associations(request: _Request) -> Response:
    from_type, to_type = request.object_type("fromObjectType"), request.object_type("toObjectType")
    started = request.store.clock.iso_now()
    results, errors = [], []
    for item in request.inputs():
        from_id = _numeric_id((item or {}).get("id"))
        links = request.store.links_of(from_type, from_id, to_type)
        if not links:
            errors.append(
                {
                    **batch_error(
                        "OBJECT_NOT_FOUND",
                        f"No {to_type} is associated with {from_type} {from_id}.",
                        {"fromObjectId": [from_id]},
                    ),
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                }
            )
            continue
        results.append(
            {
                "from": {"id": from_id},
                "to": [
                    {"toObjectId": int(to_id), "associationTypes": _association_types(type_ids)}
                    for to_id, type_ids in links.items()
                ],
            }
        )
    return (207 if errors else 200), batch_envelope(started, request.store.clock.iso_now(), results, errors)


def _batch_create_associations(request: _Request) -> Response:
    from_type, to_type = request.object_type("fromObjectType"), request.object_type("toObjectType")
    started = request.store.clock.iso_now()
    inputs = request.inputs()
    planned = []
    for item in inputs:
        from_id = _numeric_id((item.get("from") or {}).get("id"))
        to_id = _numeric_id((item.get("to") or {}).get("id"))
        types = item.get("types") or []
        if not isinstance(types, list) or not types:
            raise bad_request("Every association input needs types.")
        type_ids = []
        for spec in types:
            type_id = spec.get("associationTypeId") if isinstance(spec, Mapping) else None
            target = assoc.target_of(from_type, type_id) if isinstance(type_id, int) else None
            if target is None or target[0] != to_type:
                raise bad_request(f"{type_id} is not a valid association type from {from_type} to {to_type}.")
            type_ids.append(type_id)
        planned.append((from_id, to_id, type_ids))
    results, errors = [], []
    for from_id, to_id, type_ids in planned:
        try:
            for type_id in type_ids:
                request.store.link(from_type, from_id, to_type, to_id, type_id)
        except PortalError as error:
            errors.append(
                batch_error(error.category, error.message, {"fromObjectId": [from_id], "toObjectId": [to_id]})
            )
            continue
        results.append(_pair_result(from_type, from_id, to_type, to_id))
    return (207 if errors else 201), batch_envelope(started, request.store.clock.iso_now(), results, errors)


def _batch_associate_default(request: _Request) -> Response:
    from_type, to_type = request.object_type("fromObjectType"), request.object_type("toObjectType")
    started = request.store.clock.iso_now()
    inputs = request.inputs()
    results, errors = [], []
    for item in inputs:
        from_id = _numeric_id((item.get("from") or {}).get("id"))
        to_id = _numeric_id((item.get("to") or {}).get("id"))
        try:
            type_id = request.store.link(from_type, from_id, to_type, to_id)
            inverse = assoc.inverse_type_id(from_type, to_type, type_id)
        except PortalError as error:
            if error.status == 400:
                raise
            errors.append(
                batch_error(error.category, error.message, {"fromObjectId": [from_id], "toObjectId": [to_id]})
            )
            continue
        results.append(_default_result(from_id, to_id, type_id))
        results.append(_default_result(to_id, from_id, inverse))
    return (207 if errors else 200), batch_envelope(started, request.store.clock.iso_now(), results, errors)


def _batch_archive_associations(request: _Request) -> Response:
    from_type, to_type = request.object_type("fromObjectType"), request.object_type("toObjectType")
    for item in request.inputs():
        from_id = _numeric_id((item.get("from") or {}).get("id"))
        for target in item.get("to") or []:
            request.store.unlink(from_type, from_id, to_type, _numeric_id((target or {}).get("id")))
    return 204, None


def _associate_default(request: _Request) -> Response:
    from_type, to_type = request.object_type("fromObjectType"), request.object_type("toObjectType")
    from_id, to_id = _numeric_id(request.params["fromObjectId"]), _numeric_id(request.params["toObjectId"])
    started = request.store.clock.iso_now()
    type_id = request.store.link(from_type, from_id, to_type, to_id)
    inverse = assoc.inverse_type_id(from_type, to_type, type_id)
    results = [_default_result(from_id, to_id, type_id), _default_result(to_id, from_id, inverse)]
    return 200, batch_envelope(started, request.store.clock.iso_now(), results, [])


def _associate_labelled(request: _Request) -> Response:
    from_type, to_type = request.object_type(), request.object_type("toObjectType")
    from_id, to_id = _numeric_id(request.params["objectId"]), _numeric_id(request.params["toObjectId"])
    specs = request.body
    if not isinstance(specs, list) or not specs:
        raise bad_request("The body must be a non-empty list of association types.")
    for spec in specs:
        type_id = spec.get("associationTypeId") if isinstance(spec, Mapping) else None
        if not isinstance(type_id, int):
            raise bad_request("Every association type needs an integer associationTypeId.")
        request.store.link(from_type, from_id, to_type, to_id, type_id)
    return 201, _pair_result(from_type, from_id, to_type, to_id)


def _remove_association(request: _Request) -> Response:
    from_type, to_type = request.object_type(), request.object_type("toObjectType")
    request.store.unlink(
        from_type, _numeric_id(request.params["objectId"]), to_type, _numeric_id(request.params["toObjectId"])
    )
    return 204, None


def _list_associations(request: _Request) -> Response:
    from_type, to_type = request.object_type(), request.object_type("toObjectType")
    from_id = _numeric_id(request.params["objectId"])
    if not request.store.exists(from_type, from_id):
        raise PortalError(404, "OBJECT_NOT_FOUND", f"resource not found: {from_type} {from_id}")
    limit = request.integer("limit", 500)
    if not 1 <= limit <= 500:
        raise bad_request(f"limit must be between 1 and 500, got {limit}")
    offset = request.integer("after", 0)
    links = list(request.store.links_of(from_type, from_id, to_type).items())
    page = links[offset : offset + limit]
    body: dict[str, Any] = {
        "results": [
            {"toObjectId": int(to_id), "associationTypes": _association_types(type_ids)} for to_id, type_ids in page
        ]
    }
    if offset + limit < len(links):
        body["paging"] = {"next": {"after": str(offset + limit), "link": ""}}
    return 200, body


# ---------------------------------------------------------------------- owners, pipelines, properties, email


def _list_owners(request: _Request) -> Response:
    limit = request.integer("limit", 100)
    if not 1 <= limit <= 500:
        raise bad_request(f"limit must be between 1 and 500, got {limit}")
    offset = request.integer("after", 0)
    email = request.query.get("email", [""])[-1] or None
    owners = request.store.owners(email=email, archived=request.flag("archived"))
    body: dict[str, Any] = {"results": owners[offset : offset + limit]}
    if offset + limit < len(owners):
        body["paging"] = {"next": {"after": str(offset + limit), "link": ""}}
    return 200, body


def _get_owner(request: _Request) -> Response:
    for archived in (False, True):
        for owner in request.store.owners(archived=archived):
            if str(owner["id"]) == request.params["ownerId"]:
                return 200, owner
    raise PortalError(404, "OBJECT_NOT_FOUND", f"Owner {request.params['ownerId']} does not exist")


def _list_pipelines(request: _Request) -> Response:
    return 200, {"results": request.store.pipelines(request.object_type())}


def _create_pipeline(request: _Request) -> Response:
    return 201, request.store.create_pipeline(request.object_type(), request.json_object())


def _get_pipeline(request: _Request) -> Response:
    return 200, request.store.pipeline(request.object_type(), request.params["pipelineId"])


def _list_properties(request: _Request) -> Response:
    return 200, {"results": request.store.property_definitions(request.object_type())}


def _get_property(request: _Request) -> Response:
    return 200, request.store.property_definition(request.object_type(), request.params["propertyName"])


def _create_property(request: _Request) -> Response:
    return 201, request.store.create_property(request.object_type(), request.json_object())


def _list_property_groups(request: _Request) -> Response:
    return 200, {"results": request.store.property_groups(request.object_type())}


def _create_property_group(request: _Request) -> Response:
    return 201, request.store.create_property_group(request.object_type(), request.json_object())


def _single_send(request: _Request) -> Response:
    return 200, request.store.single_send(request.json_object())


# ---------------------------------------------------------------------- marketing emails (v3)


def _list_marketing_emails(request: _Request) -> Response:
    after = request.query.get("after", [""])[-1] or None
    emails = request.store.marketing_emails
    return 200, emails.page(limit=request.integer("limit", 100), after=after, archived=request.flag("archived"))


def _create_marketing_email(request: _Request) -> Response:
    return 201, request.store.marketing_emails.create(request.json_object())


def _get_marketing_email(request: _Request) -> Response:
    return 200, request.store.marketing_emails.get(request.params["emailId"])


def _update_marketing_email(request: _Request) -> Response:
    return 200, request.store.marketing_emails.update(request.params["emailId"], request.json_object())


def _archive_marketing_email(request: _Request) -> Response:
    request.store.marketing_emails.archive(request.params["emailId"])
    return 204, None


_ROUTE_TABLE: list[tuple[str, str, Handler]] = [
    ("GET", "/crm/v3/objects/{objectType}", _list_objects),
    ("POST", "/crm/v3/objects/{objectType}", _create_object),
    ("POST", "/crm/v3/objects/{objectType}/search", _search),
    ("POST", "/crm/v3/objects/{objectType}/batch/read", _batch_read),
    ("POST", "/crm/v3/objects/{objectType}/batch/create", _batch_create),
    ("POST", "/crm/v3/objects/{objectType}/batch/update", _batch_update),
    ("POST", "/crm/v3/objects/{objectType}/batch/upsert", _batch_upsert),
    ("POST", "/crm/v3/objects/{objectType}/batch/archive", _batch_archive),
    ("GET", "/crm/v3/objects/{objectType}/{objectId}", _get_object),
    ("PATCH", "/crm/v3/objects/{objectType}/{objectId}", _update_object),
    ("DELETE", "/crm/v3/objects/{objectType}/{objectId}", _archive_object),
    ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read", _batch_read_associations),
    ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create", _batch_create_associations),
    ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default", _batch_associate_default),
    ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive", _batch_archive_associations),
    (
        "PUT",
        "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
        _associate_default,
    ),
    ("PUT", "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}", _associate_labelled),
    ("DELETE", "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}", _remove_association),
    ("GET", "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}", _list_associations),
    ("POST", "/crm/v3/lists", _create_list),
    ("GET", "/crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}", _get_list_by_name),
    ("GET", "/crm/v3/lists/records/{objectTypeId}/{recordId}/memberships", _record_list_memberships),
    ("GET", "/crm/v3/lists/{listId}/memberships", _list_memberships),
    ("GET", "/crm/v3/lists/{listId}", _get_list),
    ("GET", "/crm/v3/owners", _list_owners),
    ("GET", "/crm/v3/owners/{ownerId}", _get_owner),
    ("GET", "/crm/v3/pipelines/{objectType}", _list_pipelines),
    ("POST", "/crm/v3/pipelines/{objectType}", _create_pipeline),
    ("GET", "/crm/v3/pipelines/{objectType}/{pipelineId}", _get_pipeline),
    ("GET", "/crm/v3/properties/{objectType}/groups", _list_property_groups),
    ("POST", "/crm/v3/properties/{objectType}/groups", _create_property_group),
    ("GET", "/crm/v3/properties/{objectType}", _list_properties),
    ("POST", "/crm/v3/properties/{objectType}", _create_property),
    ("GET", "/crm/v3/properties/{objectType}/{propertyName}", _get_property),
    ("POST", "/marketing/v4/email/single-send", _single_send),
    ("POST", "/marketing/v3/transactional/single-email/send", _single_send),
    ("GET", "/marketing/v3/emails", _list_marketing_emails),
    ("GET", "/marketing/v3/emails/", _list_marketing_emails),
    ("POST", "/marketing/v3/emails", _create_marketing_email),
    ("POST", "/marketing/v3/emails/", _create_marketing_email),
    ("GET", "/marketing/v3/emails/{emailId}", _get_marketing_email),
    ("PATCH", "/marketing/v3/emails/{emailId}", _update_marketing_email),
    ("DELETE", "/marketing/v3/emails/{emailId}", _archive_marketing_email),
]


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


_ROUTES: dict[str, list[tuple[re.Pattern[str], str, Handler]]] = {}
for _method, _template, _handler in _ROUTE_TABLE:
    _ROUTES.setdefault(_method, []).append((_compile(_template), _template, _handler))


def _route(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    for pattern, template, handler in _ROUTES.get(method, []):
        matched = pattern.match(path)
        if matched:
            return template, handler, matched.groupdict()
    return None


def _error_body(category: str, message: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


# ---------------------------------------------------------------------- HTTP plumbing


class _PortalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], store: PortalStore, token: str) -> None:
        self.store = store
        self.token = token
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _PortalRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request (a killed function, a reset) is ordinary here, not a server bug."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_open_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _PortalRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FlywheelSandbox/1.0"
    timeout = 60  # an idle keep-alive connection is dropped after a minute (urllib3 reconnects on reuse)
    server: _PortalHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox counts calls in /_sandbox/stats instead of logging each one."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        store = self.server.store
        try:
            if path.startswith("/_sandbox/"):
                status, body = self._sandbox(method, path, raw_body)
                self._send(status, body)
                return
            routed = _route(method, path)
            endpoint = f"{method} {routed[0] if routed else path}"
            if self.headers.get("Authorization", "") != f"Bearer {self.server.token}":
                store.count_call(endpoint)
                self._send(
                    401,
                    _error_body(
                        "INVALID_AUTHENTICATION",
                        "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                    ),
                )
                return
            retry_after, latency, fault = store.admit_call(endpoint)
            if retry_after is not None:
                self._send(
                    429,
                    {
                        "status": "error",
                        "message": "You have reached your ten_secondly_rolling limit.",
                        "errorType": "RATE_LIMIT",
                        "correlationId": str(uuid.uuid4()),
                        "policyName": "TEN_SECONDLY_ROLLING",
                    },
                    {"Retry-After": str(int(retry_after))},
                )
                return
            if latency > 0:
                time.sleep(latency)
            if fault in (502, 503):  # refused before the portal saw the call
                self._send(fault, _error_body("SERVICE_UNAVAILABLE", FAULT_MESSAGES[fault]))
                return
            if fault == "reset_before":
                self._reset()
                return
            if routed is None:
                raise PortalError(404, "OBJECT_NOT_FOUND", f"No route for {method} {path}")
            try:
                body_value = json.loads(raw_body) if raw_body.strip() else None
            except ValueError as error:
                raise bad_request(f"Invalid input JSON: {error}") from error
            status, body = routed[1](_Request(store, routed[2], query, body_value))
            if fault == 504:  # the portal did the work, but the caller never hears so (why creates are not retried)
                self._send(504, _error_body("GATEWAY_TIMEOUT", FAULT_MESSAGES[504]))
                return
            if fault == "reset_after":  # the work is done; the connection dies before the answer leaves
                self._reset()
                return
            self._send(status, body)
        except PortalError as error:
            self._send(error.status, error.body())
        except Exception as error:  # a sandbox bug must still answer, as HubSpot's 500 would
            self._send(500, _error_body("INTERNAL_ERROR", f"{type(error).__name__}: {error}"))

    def _sandbox(self, method: str, path: str, raw_body: bytes) -> Response:
        store = self.server.store
        if method == "GET" and path == "/_sandbox/stats":
            return 200, store.stats()
        if method == "GET" and path == "/_sandbox/outbox":
            return 200, {"results": store.outbox()}
        if method == "GET" and path == "/_sandbox/config":
            return 200, store.settings()
        if method == "POST" and path == "/_sandbox/reset":
            store.reset()
            return 200, {"status": "reset", "counts": store.counts()}
        if method == "POST" and path == "/_sandbox/config":
            try:
                options = json.loads(raw_body or b"{}")
            except ValueError as error:
                raise bad_request(f"Invalid input JSON: {error}") from error
            known = {"rate_limit", "search_lag_seconds", "fault_rate", "latency_ms", "throttle_rate", "reset_rate"}
            if not isinstance(options, dict) or set(options) - known:
                raise bad_request(f"Config takes only {sorted(known)}")
            return 200, store.configure(**options)
        if method == "GET" and path == "/_sandbox/clock":
            return 200, store.clock.state()
        if method == "POST" and path == "/_sandbox/clock":
            return 200, _set_clock(store.clock, raw_body)
        raise PortalError(404, "OBJECT_NOT_FOUND", f"No sandbox route for {method} {path}")

    def _reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0) instead of an answer."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)


def _set_clock(clock: PortalClock, raw_body: bytes) -> dict[str, object]:
    """`{"now": ISO-8601}` pins the clock, `{"now": null}` returns it to real time, `{"advance_seconds": N}` moves
    a pinned clock; both together pin, then advance."""
    try:
        options = json.loads(raw_body or b"{}")
    except ValueError as error:
        raise bad_request(f"Invalid input JSON: {error}") from error
    known = {"now", "advance_seconds"}
    if not isinstance(options, dict) or not options or set(options) - known:
        raise bad_request(f"The clock takes {sorted(known)}: {{'now': '2026-11-21T09:00:00Z'}}, {{'now': null}}")
    if "now" in options:
        value = options["now"]
        if value is not None and not isinstance(value, str):
            raise bad_request("now must be an ISO-8601 instant or null")
        try:
            clock.pin(parse_instant(value) if value is not None else None)
        except ValueError as error:
            raise bad_request(f"now: {error}") from error
    if "advance_seconds" in options:
        seconds = options["advance_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise bad_request("advance_seconds must be a number of seconds")
        try:
            clock.advance(seconds)
        except ValueError as error:
            raise PortalError(409, "CONFLICT", str(error)) from error
    return clock.state()


class SandboxServer:
    """A sandbox HubSpot portal served over HTTP on loopback (port 0 picks a free port)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8099,
        companies: int = 0,
        seed: int = 1,
        token: str = "sandbox-token",
        rate_limit: int = 190,
        search_lag_seconds: float = 0.0,
        fault_rate: float = 0.0,
        latency_ms: int = 0,
        today: date | None = None,
        now: datetime | None = None,
        provisioned: bool = True,
    ) -> None:
        """`now` pins the portal's clock (and so the generated portal's today, unless `today` is given)."""
        self.token = token
        self.store = PortalStore(
            clock=PortalClock(now),
            companies=companies,
            seed=seed,
            today=today,
            rate_limit=rate_limit,
            search_lag_seconds=search_lag_seconds,
            fault_rate=fault_rate,
            latency_ms=latency_ms,
            provisioned=provisioned,
        )
        self._httpd = _PortalHTTPServer((host, port), self.store, token)
        bound_host, bound_port = self._httpd.server_address[:2]
        host_text = bound_host.decode() if isinstance(bound_host, bytes) else bound_host
        self.url = f"http://{host_text}:{bound_port}"
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; the socket is already listening when this returns."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-portal", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_open_connections()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the `flywheel sandbox` command)."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd.close_open_connections()
            self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
