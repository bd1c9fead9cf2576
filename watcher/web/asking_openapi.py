"""The questions part of the OpenAPI document (`/api/procedures/<id>/questions.json`, issue 28)."""

from __future__ import annotations

from typing import Any

_NULL_STR = {"type": ["string", "null"]}
_QUESTIONS = {
    "type": "object",
    "required": ["procedure", "questions", "windows", "end", "disclaimer"],
    "properties": {
        "procedure": {"type": "array", "items": {"type": "string"}, "description": "Notice ids."},
        "questions": {
            "type": "array",
            "description": "Questions to ask (core/questions.py), each with its evidence.",
            "items": {"type": "object"},
        },
        "windows": {
            "type": "array",
            "description": "Remedy windows (core/legal_clock.py): information, not legal advice.",
            "items": {"type": "object"},
        },
        "end": {
            "type": "object",
            "properties": {
                "date": {**_NULL_STR, "format": "date"},
                "basis_fr": {"type": "string"},
                "basis_en": {"type": "string"},
            },
        },
        "disclaimer": {"type": "object"},
    },
}


def add_asking_api(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the questions path and schema added."""
    document["components"]["schemas"]["ProcedureQuestions"] = _QUESTIONS
    document["paths"]["/api/procedures/{notice_id}/questions.json"] = {
        "get": {
            "operationId": "getProcedureQuestions",
            "summary": (
                "Questions to ask about the procedure of a notice, its remedy windows and its "
                "contract's end (information, not legal advice)."
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
                    "description": "The questions, windows and end date.",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ProcedureQuestions"}
                        }
                    },
                },
                "404": {
                    "description": "No such notice.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
    }
    return document
