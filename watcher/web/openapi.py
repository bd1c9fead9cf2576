"""The OpenAPI 3.1 document of the JSON API (`/api/openapi.json`), written by hand."""

from __future__ import annotations

from typing import Any

from watcher import __version__
from watcher.core.questions import CODES
from watcher.web.asking_openapi import add_asking_api
from watcher.web.company_openapi import add_company_api
from watcher.web.listing import EVENT_TYPES

PER_PAGE = 50
MAX_PER_PAGE = 200


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


FILTER_PARAMS = [
    _param(
        "site", "Gazetteer slug of a site (`/sites`), e.g. `lille-lesquin`.", {"type": "string"}
    ),
    _param("source", "Name of a source from sources.yaml (`/sources`).", {"type": "string"}),
    _param(
        "q",
        "Words that must all appear in the title, buyer or description (case-insensitive).",
        {"type": "string", "maxLength": 200},
    ),
    _param(
        "department",
        "A département code (`57`, `2A`, `974`): notices whose place list names it, first or not.",
        {"type": "string"},
    ),
    _param(
        "question",
        "A question code (`single_offer`, `value_growth`…, `/api/procedures/{id}/questions.json`): "
        "notices of procedures that raise it, asked when the procedure was last compiled.",
        {"type": "string", "enum": list(CODES)},
    ),
    _param(
        "page",
        "Page number, from 1, at most 200; further on, follow `next` (its `after` cursor).",
        {"type": "integer", "minimum": 1, "maximum": 200, "default": 1},
    ),
    _param(
        "after",
        "Keyset paging: the id of the last item of the page before, as the `next` link gives it.",
        {"type": "integer", "minimum": 1},
    ),
    _param(
        "per_page",
        "Items per page.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": PER_PAGE},
    ),
]
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _list_of(ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "page", "per_page", "total", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": ref}},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
            "next": {**NULLABLE_STRING, "description": "URL of the next page, or null."},
        },
    }


def _ok(ref: str, description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": ref}}},
        },
        "400": {
            "description": "A parameter makes no sense; `error` says which.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }


def openapi_document(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API."""
    notice_props: dict[str, Any] = {
        "id": {"type": "integer"},
        "source": {"type": "string"},
        "native_id": {"type": "string", "description": "The portal's own id of the notice."},
        "title": {"type": "string"},
        "buyer": NULLABLE_STRING,
        "url": {**NULLABLE_STRING, "description": "The notice on its portal."},
        "published": {"type": ["string", "null"], "format": "date"},
        "deadline": NULLABLE_TIME,
        "notice_type": {
            "type": "string",
            "enum": ["notice", "corrigendum", "award", "prior_information", "cancellation"],
        },
        "deadline_shown": {
            **NULLABLE_STRING,
            "description": "The deadline as the portal shows it: `13/07/2026` (a date alone), "
            "`16/02/2026 12:00` (Paris time), `13/06/2024 12:00 (Europe/London)`.",
        },
        "deadline_date_only": {"type": "boolean"},
        "department": {**NULLABLE_STRING, "description": "The first of `departments`."},
        "departments": {"type": "array", "items": {"type": "string"}},
        "procedure_id": NULLABLE_STRING,
        "relevant": {"type": "boolean"},
        "site": NULLABLE_STRING,
        "score": {"type": "number"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "version": {"type": "integer"},
        "first_seen_at": {"type": "string", "format": "date-time"},
        "last_seen_at": {"type": "string", "format": "date-time"},
        "html": {"type": "string", "description": "Path of the notice's page on this site."},
        "amounts": {
            "type": "array",
            "description": "Every amount the notice states, each with its kind (`estimate`, "
            "`range` with `low`, `maximum` with `per: year` when annual, `awarded`, `contract`, "
            "`amended`), `currency`, `tax` (HT/TTC when the portal says it), `lot`, the portal "
            "`field` it was read from, and `shown` (FR and EN words). A zero is not stated.",
            "items": {"type": "object"},
        },
        "outcome": {
            "type": ["string", "null"],
            "enum": ["unsuccessful", "cancelled", None],
            "description": "How the procedure ended without a contract (eForms `clos-nw`: "
            "`unsuccessful`).",
        },
        "procedure_notice_id": {
            "type": "integer",
            "description": "The first notice of the notice's procedure (its page tells it all).",
        },
        "procedure": {
            "type": ["object", "null"],
            "description": "On a procedure's first notice (and on `/api/notices/{id}`): the "
            "compiled procedure, what it is now: `status` (planned, open, awarded, "
            "unsuccessful, cancelled, modified), `title`, `buyer`, `deadline`, `estimate` and "
            "`awarded` (`amount`, `currency`, `kind`), `lots`, `winners`, `documents`, `sites`, "
            "`notices`, and `from`: for each fact, the notice (`notice_id`, `ref`, `source`, "
            "`url`) that stated it.",
        },
    }
    version = {
        "type": "object",
        "properties": {
            "version": {"type": "integer"},
            "fetched_at": {"type": "string", "format": "date-time"},
            "fetch_url": NULLABLE_STRING,
            "sha256": {"type": "string", "description": "sha256 of the raw payload."},
            "raw": {"type": "string", "description": "Path of the raw payload (evidence)."},
        },
    }
    change = {
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "label": {"type": "string"},
            "old": NULLABLE_STRING,
            "new": NULLABLE_STRING,
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "detention-watcher API",
            "version": __version__,
            "description": (
                "Public-procurement notices about immigration detention and removal, and what "
                "happened to them (events). Read-only; no authentication."
            ),
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": base_url}],
        "paths": {
            "/api/notices": {
                "get": {
                    "operationId": "listNotices",
                    "summary": "Notices, most recently first seen first.",
                    "parameters": [
                        *FILTER_PARAMS,
                        _param(
                            "relevant",
                            "Relevant notices only (true, the default), the others (false), or all (any).",
                            {"type": "string", "enum": ["true", "false", "any"], "default": "true"},
                        ),
                    ],
                    "responses": _ok("#/components/schemas/NoticeList", "A page of notices."),
                }
            },
            "/api/notices/{notice_id}": {
                "get": {
                    "operationId": "getNotice",
                    "summary": "One notice with its current snapshot and every version.",
                    "parameters": [
                        {
                            "name": "notice_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The notice.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/NoticeDetail"}
                                }
                            },
                        },
                        "404": {
                            "description": "No such notice.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Error"}
                                }
                            },
                        },
                    },
                }
            },
            "/api/procedures/{notice_id}.ocds.json": {
                "get": {
                    "operationId": "getProcedureOcds",
                    "summary": (
                        "The procedure of a notice as an OCDS 1.1 record package: one release "
                        "per notice version (tag = phase), a compiled and a versioned release."
                    ),
                    "parameters": [
                        {
                            "name": "notice_id",
                            "in": "path",
                            "required": True,
                            "description": "The id of any notice of the procedure.",
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "An OCDS record package with one record.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/OcdsRecordPackage"}
                                }
                            },
                        },
                        "404": {
                            "description": "No such notice.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Error"}
                                }
                            },
                        },
                    },
                }
            },
            "/api/events": {
                "get": {
                    "operationId": "listEvents",
                    "summary": "Events of relevant notices, newest first.",
                    "parameters": [
                        *FILTER_PARAMS,
                        _param(
                            "type",
                            "Only this kind of event.",
                            {"type": "string", "enum": list(EVENT_TYPES)},
                        ),
                    ],
                    "responses": _ok("#/components/schemas/EventList", "A page of events."),
                }
            },
        },
        "components": {
            "schemas": {
                "Notice": {"type": "object", "properties": notice_props},
                "OcdsRecordPackage": {
                    "type": "object",
                    "description": (
                        "An OCDS 1.1 record package (https://standard.open-contracting.org/1.1/"
                        "en/schema/record_package/); each release validates against the OCDS "
                        "release schema."
                    ),
                    "properties": {
                        "uri": {"type": "string"},
                        "version": {"type": "string"},
                        "publishedDate": {"type": "string", "format": "date-time"},
                        "publisher": {"type": "object"},
                        "records": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "ocid": {"type": "string"},
                                    "releases": {"type": "array", "items": {"type": "object"}},
                                    "compiledRelease": {"type": "object"},
                                    "versionedRelease": {"type": "object"},
                                },
                            },
                        },
                    },
                },
                "NoticeDetail": {
                    "type": "object",
                    "properties": notice_props
                    | {
                        "snapshot": {"type": "object"},
                        "versions": {"type": "array", "items": version},
                    },
                },
                "Event": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "key": {"type": "string"},
                        "type": {"type": "string", "enum": list(EVENT_TYPES)},
                        "created_at": {"type": "string", "format": "date-time"},
                        "version": {"type": "integer"},
                        "site": NULLABLE_STRING,
                        "changes": {"type": "array", "items": change},
                        "notice": {"type": "object"},
                    },
                },
                "NoticeList": _list_of("#/components/schemas/Notice"),
                "EventList": _list_of("#/components/schemas/Event"),
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            }
        },
    }
    return add_search_api(add_asking_api(add_company_api(document)))


def add_search_api(document: dict[str, Any]) -> dict[str, Any]:
    """`/api/search` (issue 27): procedures a full-text query finds, best first."""
    snippet = {
        "type": "object",
        "properties": {
            "notice_id": {"type": "integer"},
            "document": {**NULLABLE_STRING, "description": "The document's file name, if any."},
            "text": {"type": "string"},
            "html": {"type": "string", "description": "Escaped, the words found in <mark>."},
        },
    }
    facet = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"value": {"type": "string"}, "count": {"type": "integer"}},
        },
    }
    hit = {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "description": "The procedure's first notice."},
            "title": {"type": "string"},
            "buyer": NULLABLE_STRING,
            "source": {"type": "string"},
            "site": NULLABLE_STRING,
            "phase": NULLABLE_STRING,
            "published": {"type": ["string", "null"], "format": "date"},
            "url": NULLABLE_STRING,
            "html": {"type": "string"},
            "score": {"type": "number", "description": "Lower is better."},
            "notices": {"type": "integer", "description": "Notices of the procedure found."},
            "snippets": {"type": "array", "items": snippet},
        },
    }
    document["paths"]["/api/search"] = {
        "get": {
            "operationId": "search",
            "summary": "Procedures a full-text query finds (notices and documents), best first.",
            "parameters": [
                _param(
                    "q",
                    'Words, "exact phrases", -excluded, OR, and filters cpv:4521* '
                    "acheteur:/buyer: dep:59 site: company:/titulaire: phase: source: "
                    "after:/before: (YYYY, YYYY-MM or YYYY-MM-DD). Never an error: what cannot "
                    "be read is searched as words.",
                    {"type": "string"},
                ),
                _param(
                    "all", "1: every stored notice, not only relevant ones.", {"type": "string"}
                ),
                _param("after", "The cursor of the next page (from `next`).", {"type": "string"}),
                _param(
                    "per_page",
                    "Procedures per page.",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                ),
            ],
            "responses": _ok("#/components/schemas/SearchResults", "A page of procedures."),
        }
    }
    document["components"]["schemas"]["SearchResults"] = {
        "type": "object",
        "required": ["q", "total", "items", "facets", "next"],
        "properties": {
            "q": {"type": "string"},
            "all": {"type": "boolean"},
            "total": {"type": "integer", "description": "Procedures found."},
            "total_capped": {
                "type": "boolean",
                "description": "True: total and facets count the best 500 matches only.",
            },
            "items": {"type": "array", "items": hit},
            "facets": {
                "type": "object",
                "properties": dict.fromkeys(("site", "phase", "year", "source"), facet),
            },
            "next": {**NULLABLE_STRING, "description": "URL of the next page, or null."},
        },
    }
    return document
