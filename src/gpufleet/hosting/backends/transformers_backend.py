"""The `transformers` backend: replicas are worker threads on this machine's CPU.

Replicas of a deployment share one loaded model (weights are read-only during generation)
and take jobs from one queue, so the event loop never runs the model: it only relays text
the workers hand over with `call_soon_threadsafe`. The model loads when the first replica
starts (ADR 0012: with the deployment for min_replicas >= 1, else with the first request).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from gpufleet.domain.errors import GpufleetError, InvalidInput, Issue, Unavailable
from gpufleet.hosting.backends import gguf_cache
from gpufleet.hosting.backends.base import (
    DEFAULT_MAX_TOKENS,
    GenerationRequest,
    OnceUsage,
    ReplicaLedger,
    UsageCallback,
    record_start,
)
from gpufleet.hosting.backends.textstream import TextStream
from gpufleet.hosting.catalog import ModelFiles
from gpufleet.hosting.metering import Usage

log = logging.getLogger("gpufleet.hosting.transformers")
CLOSE_WAIT_S = 30.0  # a generation still running at shutdown gets this long to finish


@dataclass
class LoadedModel:
    tokenizer: Any
    model: Any


def load_model(files: ModelFiles) -> LoadedModel:
    """Load from local files only (HF_HUB_OFFLINE: nothing is downloaded at run time)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": True}
    if files.gguf_file:
        cached = gguf_cache.load_cached(files)
        if cached is not None:
            cached[1].eval()
            return LoadedModel(*cached)
        kwargs["gguf_file"] = files.gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(files.directory), **kwargs)
    model: Any = AutoModelForCausalLM.from_pretrained(
        str(files.directory), dtype=torch.float32, **kwargs
    )
    model.eval()
    if files.gguf_file:
        gguf_cache.save_cached(files, tokenizer, model)
    return LoadedModel(tokenizer, model)


_LOADED: dict[ModelFiles, LoadedModel] = {}
_LOADING = threading.Lock()


def load_model_once(files: ModelFiles) -> LoadedModel:
    """One copy of a model's weights per process, whatever uses it (deployments of the same
    model, the apps of a test session): weights are read-only while generating."""
    with _LOADING:
        if files not in _LOADED:
            _LOADED[files] = load_model(files)
        return _LOADED[files]


_END = object()


@dataclass
class _Job:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    on_usage: UsageCallback
    items: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    ready: asyncio.Future[int] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def send(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.items.put_nowait, item)

    def resolve(self, result: int | BaseException) -> None:
        def settle() -> None:
            assert self.ready is not None
            if self.ready.done():
                return
            if isinstance(result, BaseException):
                self.ready.set_exception(result)
            else:
                self.ready.set_result(result)

        self.loop.call_soon_threadsafe(settle)


class TransformersGeneration:
    def __init__(self, job: _Job) -> None:
        self._job = job
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            item = await self._job.items.get()
            if item is _END:
                return
            if isinstance(item, tuple):  # (finish_reason, usage)
                self.finish_reason, self.usage = item
                continue
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> None:
        self._job.cancelled.set()


class TransformersPool:
    """One deployment's replicas (threads) and their shared model."""

    def __init__(
        self, loader: Callable[[], LoadedModel], context_length: int, ledger: ReplicaLedger
    ) -> None:
        self._loader = loader
        self._context = context_length
        self._ledger = ledger
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._model: LoadedModel | None = None
        self._load_lock = threading.Lock()
        self._scaling = asyncio.Lock()  # requests finding no replica at once start one
        self._busy = 0

    def loaded(self) -> LoadedModel:
        with self._load_lock:
            if self._model is None:
                self._model = self._loader()
            return self._model

    def _load_for_serving(self) -> None:
        try:
            self.loaded()
        except GpufleetError:
            raise
        except Exception as error:  # only the type: a message could name local paths
            log.error("model failed to load: %s", type(error).__name__)
            raise Unavailable(f"the model could not start: {type(error).__name__}") from error

    async def generate(self, request: GenerationRequest, on_usage: UsageCallback) -> Any:
        while not self._threads:  # the scaler may take the last one away meanwhile
            await self.scale_to(1)
        loop = asyncio.get_running_loop()
        job = _Job(request, loop, OnceUsage(on_usage), ready=loop.create_future())
        self._jobs.put(job)
        assert job.ready is not None
        await job.ready  # the prompt is tokenized and fits, or this raises
        return TransformersGeneration(job)

    def queue_depth(self) -> int:
        return self._jobs.qsize() + self._busy

    def replica_count(self) -> int:
        return len(self._threads)

    async def scale_to(self, replicas: int) -> None:
        async with self._scaling:
            await self._scale_to(replicas)

    async def _scale_to(self, replicas: int) -> None:
        while len(self._threads) < replicas:
            replica_id = await record_start(self._ledger)
            try:
                # The weights load before the replica counts as running, so a replica
                # started ahead of use (min_replicas) spares its first caller the wait.
                await asyncio.to_thread(self._load_for_serving)
                await asyncio.to_thread(self._ledger.ready, replica_id, None)
            except BaseException:
                await asyncio.shield(asyncio.to_thread(self._ledger.stopped, replica_id))
                raise
            thread = threading.Thread(
                target=self._work,
                args=(replica_id,),
                daemon=True,
                name=f"gpufleet-replica-{replica_id}",
            )
            self._threads.append(thread)
            thread.start()
        while len(self._threads) > replicas:
            self._threads.pop()
            self._jobs.put(None)  # the next idle worker takes it and stops

    async def close(self) -> None:
        """Stop every worker and wait until each has recorded its replica stopped: at the
        app's shutdown the database may go away right after."""
        workers = list(self._threads)
        await self.scale_to(0)
        for thread in workers:
            await asyncio.to_thread(thread.join, CLOSE_WAIT_S)

    def _work(self, replica_id: int) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                self._busy += 1
                try:
                    self._run(job)
                finally:
                    self._busy -= 1
        finally:
            self._ledger.stopped(replica_id)

    def _run(self, job: _Job) -> None:
        try:
            loaded = self.loaded()
            prompt_ids = self._prompt_ids(loaded.tokenizer, job.request)
        except GpufleetError as error:
            job.resolve(error)
            return
        except Exception as error:  # never the prompt text in the log: only the type
            log.error("model failed before generating: %s", type(error).__name__)
            job.resolve(Unavailable(f"the model could not start: {type(error).__name__}"))
            return
        limit = self._context - len(prompt_ids)
        max_new = min(job.request.max_tokens or DEFAULT_MAX_TOKENS, limit)
        job.resolve(len(prompt_ids))
        stream = TextStream(loaded.tokenizer, job.request.stop, job.send)
        try:
            _generate(loaded, prompt_ids, max_new, job, stream)
        except Exception as error:
            log.error("generation failed: %s", type(error).__name__)
            job.send(Unavailable(f"generation failed: {type(error).__name__}"))
        finally:
            stream.flush()
            usage = Usage(len(prompt_ids), stream.generated)
            job.on_usage(usage)
            reason = "stop" if stream.stopped or stream.generated < max_new else "length"
            job.send((reason, usage))
            job.send(_END)

    def _prompt_ids(self, tokenizer: Any, request: GenerationRequest) -> list[int]:
        if request.messages is not None:
            encoded = tokenizer.apply_chat_template(
                request.messages, add_generation_prompt=True, tokenize=True, return_dict=True
            )
            ids = list(encoded["input_ids"])
        else:
            ids = list(tokenizer(request.prompt or "")["input_ids"])
        if not ids:
            raise InvalidInput("empty prompt", [Issue("messages", "the prompt has no tokens")])
        if len(ids) >= self._context:
            raise InvalidInput(
                "prompt too long",
                [
                    Issue(
                        "messages",
                        f"the prompt has {len(ids)} tokens; this model's context "
                        f"is {self._context} tokens and needs room for at least one more",
                    )
                ],
            )
        return ids


def _generate(
    loaded: LoadedModel, prompt_ids: list[int], max_new: int, job: _Job, stream: TextStream
) -> None:
    import torch
    from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

    class _Halt(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            halt = job.cancelled.is_set() or stream.stopped
            return torch.full((input_ids.shape[0],), halt, dtype=torch.bool)

    request = job.request
    tokenizer = loaded.tokenizer
    sampling = request.temperature > 0
    config = GenerationConfig(  # type: ignore[no-untyped-call]
        max_new_tokens=max_new,
        do_sample=sampling,
        temperature=request.temperature if sampling else None,
        top_p=request.top_p if sampling else None,
        top_k=None,
        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id or 0,
        eos_token_id=tokenizer.eos_token_id,
    )
    ids = torch.tensor([prompt_ids])
    with torch.inference_mode():
        loaded.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            generation_config=config,
            streamer=stream,
            stopping_criteria=StoppingCriteriaList([_Halt()]),
        )
