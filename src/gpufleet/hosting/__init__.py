"""Model hosting: a catalog of models, deployments with replicas, and an OpenAI-compatible
gateway with tenant keys, limits and exact token metering (ADR 0008).

    catalog.py     the types: HostedModel, Deployment, and where a model's files are
    repo.py        their rows (SQLAlchemy Core)
    keys.py        gateway authentication (scope `inference`), cached for a few seconds
    limits.py      requests/min, tokens/min and budgets, in-process or shared through Redis
    metering.py    token_usage rows, written once per request off the event loop
    backends/      `transformers` (worker threads on CPU) and `vllm` (an OpenAI upstream)
    runtime.py     the running deployments of one gateway process, and their scaling
    openai_api.py  OpenAI's request and response shapes, errors and server-sent events

No prompt or completion text is ever written anywhere: not to the database, not to logs.
"""
