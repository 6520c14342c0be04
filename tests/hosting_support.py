"""Shared by the hosting tests: a tiny random-weight Llama with a local tokenizer (built once
per session, loads in well under a second), and helpers to deploy models and make keys."""

from __future__ import annotations

import atexit
import functools
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gpufleet.hosting.catalog import DEFAULT_MODEL
from tests.conftest import Actor
from tests.integration.support import expect

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = (
    "The capital of France is Paris. GPUs rent by the hour. A tenant calls a model with a key; "
    "the gateway counts every token and bills it once. Hello world, how are you today? "
) * 20


def build_tiny_model(directory: Path) -> Path:
    """A 2-layer Llama with random weights and a byte-level BPE tokenizer of ~300 tokens."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator([CORPUS], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


@functools.cache
def tiny_model_dir() -> Path:
    """The tiny model, built once per test process (in a directory removed at exit)."""
    directory = Path(tempfile.mkdtemp(prefix="gf-tiny-llama-"))
    atexit.register(shutil.rmtree, directory, True)
    return build_tiny_model(directory)


def deploy(
    operator: httpx.Client,
    name: str,
    source: str,
    *,
    kind: str = "serverless",
    tenant: str | None = None,
    backend: str = "transformers",
    context_length: int = 512,
    prices: tuple[str, str] = ("1.5", "2.25"),
) -> None:
    """A catalog model named `name`-model and a deployment `name`."""
    expect(
        operator.post(
            "/v1/admin/models",
            json={
                "name": f"{name}-model",
                "source": source,
                "backend": backend,
                "context_length": context_length,
                "input_price_per_million": prices[0],
                "output_price_per_million": prices[1],
            },
        ),
        201,
    )
    body: dict[str, Any] = {"name": name, "model": f"{name}-model", "kind": kind, "max_replicas": 2}
    if tenant:
        body["tenant"] = tenant
    expect(operator.post("/v1/admin/deployments", json=body), 201)


def inference_key(operator: httpx.Client, tenant: str) -> str:
    created = expect(operator.post(f"/v1/tenants/{tenant}/inference-keys", json={}), 201)
    token: str = created["api_key"]
    return token


def new_tenant(operator: Actor, client: httpx.Client, name: str) -> str:
    expect(client.post("/v1/tenants", json={"name": name, "kind": "external"}), 201)
    return inference_key(client, name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Any ASGI app on a real socket (uvicorn in a thread); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


__all__ = [
    "DEFAULT_MODEL",
    "build_tiny_model",
    "deploy",
    "inference_key",
    "new_tenant",
    "serve_in_thread",
    "tiny_model_dir",
]
