"""The companies part of the OpenAPI document (`/api/companies`, `/api/companies/<slug>`)."""

from __future__ import annotations

from typing import Any

_NULL_STR = {"type": ["string", "null"]}
_TOTAL = {
    "type": "object",
    "required": ["currency", "amount_kind", "amount"],
    "properties": {
        "currency": {"type": "string", "description": "ISO 4217 code, e.g. EUR, GBP."},
        "amount_kind": {"$ref": "#/components/schemas/AmountKind"},
        "amount": {"type": "number"},
    },
}
_COMPANY = {
    "type": "object",
    "required": ["slug", "name", "contracts", "totals", "sites", "html"],
    "properties": {
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "parent": {**_NULL_STR, "description": "The group's slug (companies.yaml `parent:`)."},
        "subsidiaries": {"type": "array", "items": {"type": "string"}},
        "contracts": {"type": "integer", "description": "Contracts at detention sites."},
        "subcontracts": {
            "type": "integer",
            "description": "Contracts it holds as a subcontractor there (not in the totals).",
        },
        "totals": {
            "type": "array",
            "items": _TOTAL,
            "description": "One total per currency and kind of amount: never added together.",
        },
        "shared_amounts_not_totalled": {
            "type": "integer",
            "description": "Contracts whose amount the notice gives for several winners together.",
        },
        "without_amount": {"type": "integer"},
        "sites": {"type": "array", "items": {"type": "string"}},
        "first_award": {**_NULL_STR, "format": "date"},
        "last_award": {**_NULL_STR, "format": "date"},
        "html": {"type": "string"},
    },
}
_CONTRACT = {
    "type": "object",
    "required": ["company", "procedure", "notice", "amount_kind"],
    "properties": {
        "company": {"type": "string"},
        "name_as_published": {"type": "string"},
        "identifiers": {"type": "array", "items": {"type": "object"}},
        "procedure": {"type": "object"},
        "notice": {"type": "object", "description": "The award notice, with its raw evidence."},
        "site": _NULL_STR,
        "buyer": _NULL_STR,
        "awarded_on": {**_NULL_STR, "format": "date"},
        "lot": _NULL_STR,
        "amount": {"type": ["number", "null"]},
        "currency": _NULL_STR,
        "amount_kind": {"$ref": "#/components/schemas/AmountKind"},
        "role": {
            "type": "string",
            "enum": ["winner", "subcontractor"],
            "description": "A contract won, or held as a subcontractor (never in the totals).",
        },
        "shared_by": {"type": "integer", "description": "Winners the amount is for (1: its own)."},
        "amount_text": {
            "type": "string",
            "description": "The amount in words (`?lang=fr|en`, default English).",
        },
        "phase": {"type": "string"},
    },
}


def add_company_api(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the companies paths and schemas."""
    error = {
        "description": "No such company.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    document["paths"]["/api/companies"] = {
        "get": {
            "operationId": "listCompanies",
            "summary": "Companies with contracts at detention sites, most contracts first.",
            "parameters": [],
            "responses": {
                "200": {
                    "description": "Every company.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["items", "total"],
                                "properties": {
                                    "items": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Company"},
                                    },
                                    "total": {"type": "integer"},
                                },
                            }
                        }
                    },
                }
            },
        }
    }
    document["paths"]["/api/companies/{slug}"] = {
        "get": {
            "operationId": "getCompany",
            "summary": "One company: identifiers, evidence and every contract.",
            "parameters": [
                {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "The company.",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/CompanyDetail"}
                        }
                    },
                },
                "404": error,
            },
        }
    }
    schemas = document["components"]["schemas"]
    schemas["AmountKind"] = {
        "type": "string",
        "enum": ["award_value", "contract_value", "framework_maximum", "estimate", "subcontract"],
    }
    schemas["Company"] = _COMPANY
    schemas["Contract"] = _CONTRACT
    schemas["CompanyDetail"] = {
        "allOf": [
            {"$ref": "#/components/schemas/Company"},
            {
                "type": "object",
                "properties": {
                    "identifiers": {"type": "array", "items": {"type": "object"}},
                    "names": {"type": "array", "items": {"type": "string"}},
                    "evidence": {"type": "array", "items": {"type": "object"}},
                    "confidence": {"type": "number"},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Contract"}},
                },
            },
        ]
    }
    return document
