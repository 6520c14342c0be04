"""Backends run a deployment's replicas and generate text: `transformers` on this machine's
CPU (worker threads), `vllm` as an OpenAI-compatible upstream server per replica."""
