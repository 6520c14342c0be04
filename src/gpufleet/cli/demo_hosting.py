"""`gpufleet demo`, model hosting: deploy SmolLM2-135M-Instruct, make a customer's inference
key, ask one question through the real gateway (in-process), show what will be billed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gpufleet.cli.output import console
from gpufleet.domain.access import Principal, TenantKind
from gpufleet.domain.errors import GpufleetError
from gpufleet.hosting.catalog import DEFAULT_MODEL
from gpufleet.hosting.runtime import flush_meters
from gpufleet.hosting.schemas import InferenceKeyCreate
from gpufleet.services import access, hosting
from gpufleet.services.database import Database

CUSTOMER = "demo-chat-customer"
QUESTION = "In one sentence: why do companies rent GPUs instead of buying them?"


@dataclass(frozen=True)
class HostingDemo:
    question: str
    answer: str | None
    error: str | None
    seconds: float
    usage: dict[str, Any]  # the token_usage summary billing will read

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": DEFAULT_MODEL,
            "question": self.question,
            "answer": self.answer,
            "error": self.error,
            "seconds": round(self.seconds, 2),
            "billed": self.usage,
        }


def run_hosting_demo(db: Database, operator: Principal) -> HostingDemo:
    """Deploy the default model, ask it one question with a tenant's key (no output)."""
    from fastapi.testclient import TestClient

    from gpufleet.api.app import create_app

    hosting.ensure_default_model(db)
    access.create_tenant(db, operator, CUSTOMER, TenantKind.EXTERNAL)
    key = hosting.create_inference_key(db, operator, CUSTOMER, InferenceKeyCreate(name="demo"))
    body = {
        "model": DEFAULT_MODEL,
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 60,
        "temperature": 0,
    }
    began = time.perf_counter()
    with TestClient(create_app(db)) as client:
        response = client.post(
            "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key.api_key}"}
        )
    seconds = time.perf_counter() - began
    flush_meters()
    if response.status_code != 200:
        return HostingDemo(QUESTION, None, response.json()["error"]["message"], seconds, {})
    answer = response.json()["choices"][0]["message"]["content"]
    try:
        rows = hosting.usage(db, operator, CUSTOMER)
    except GpufleetError as error:  # pragma: no cover - the tenant was made above
        return HostingDemo(QUESTION, answer, error.message, seconds, {})
    billed = rows[0].model_dump() if rows else {}
    return HostingDemo(QUESTION, answer, None, seconds, billed)


def show_hosting(demo: HostingDemo) -> None:
    console.rule("Model hosting: a customer calls SmolLM2-135M-Instruct through the gateway")
    console.print(f"Q: {demo.question}", highlight=False, markup=False)
    if demo.error:
        console.print(f"[red]the model did not answer:[/] {demo.error}", highlight=False)
        return
    console.print(f"A: {demo.answer}", highlight=False, markup=False)
    u = demo.usage
    console.print(
        f"Billed to {u['tenant']} ({u['key_id']}): {u['input_tokens']} input + "
        f"{u['output_tokens']} output tokens = ${u['cost_usd']:.6f} at the model's prices "
        f"(answered in {demo.seconds:.1f} s on CPU, model load included).\n",
        highlight=False,
    )
