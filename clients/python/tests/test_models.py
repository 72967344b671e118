"""The models are generated from the document the service serves: this fails
when they drift from it (run `npm run client:generate:python` and commit)."""

from __future__ import annotations

from pathlib import Path

from generate_models import MODELS, document_sha256, recorded_sha256, render

from procedure_edge import Client, models

HINT = "the models drifted from the served /openapi.json: run `npm run client:generate:python` and commit the result"


def test_the_models_were_generated_from_the_served_document(admin: Client) -> None:
    served = admin.openapi()
    committed = Path(MODELS).read_text()
    assert recorded_sha256(committed) == document_sha256(served), HINT
    assert render(served) == committed, HINT


def test_every_schema_of_the_document_has_a_model(admin: Client) -> None:
    for name in admin.openapi()["components"]["schemas"]:
        assert hasattr(models, name), f"no model for {name}"
