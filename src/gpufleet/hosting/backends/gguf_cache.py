"""A converted copy of a GGUF model under GPUFLEET_HOME/models, so that only the first load
pays for de-quantizing (about 15 s for SmolLM2-135M on 2 cores; the copy loads in 1–2 s).

The copy holds the model's public weights, configuration and tokenizer — never anything a
caller sent. It is keyed by the GGUF file's path, size and time and the transformers
version, written to a temporary directory and renamed into place, so a reader sees a whole
copy or none. Transformers refuses `save_pretrained` on GGUF-loaded models; the state dict is
saved with torch instead (tied embeddings share storage, which safetensors would refuse).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gpufleet.config import home
from gpufleet.hosting.catalog import ModelFiles

log = logging.getLogger("gpufleet.hosting.gguf_cache")
WEIGHTS = "weights.pt"


def cache_dir(files: ModelFiles) -> Path:
    import transformers

    assert files.gguf_file is not None
    source = files.directory / files.gguf_file
    stat = source.stat()
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{transformers.__version__}"
    return home() / "models" / hashlib.sha256(key.encode()).hexdigest()[:24]


def load_cached(files: ModelFiles) -> tuple[Any, Any] | None:
    """(tokenizer, model) from the converted copy, or None when there is none."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    directory = cache_dir(files)
    if not (directory / WEIGHTS).is_file():
        return None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        config = AutoConfig.from_pretrained(str(directory), local_files_only=True)
        model: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
        state = torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.tie_weights()
    except Exception as error:  # a damaged copy: convert again from the GGUF file
        log.warning("ignoring the converted model copy in %s: %s", directory, type(error).__name__)
        return None
    return tokenizer, model


def save_cached(files: ModelFiles, tokenizer: Any, model: Any) -> None:
    import torch

    directory = cache_dir(files)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".converting-", dir=directory.parent))
        tokenizer.save_pretrained(str(scratch))
        model.config.save_pretrained(str(scratch))
        torch.save(model.state_dict(), scratch / WEIGHTS)
        try:
            os.rename(scratch, directory)
        except OSError:  # another process got there first: its copy is as good
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError as error:  # a read-only home only costs the next load its time
        log.warning("cannot keep a converted model copy: %s", type(error).__name__)
