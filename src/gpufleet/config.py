"""Settings from GPUFLEET_* environment variables, with the embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("GPUFLEET_HOME", "~/.gpufleet")).expanduser()


@dataclass(frozen=True)
class Settings:
    database_url: str
    max_body_bytes: int

    @classmethod
    def from_env(cls) -> Settings:
        default_db = f"sqlite:///{home() / 'gpufleet.db'}"
        return cls(
            database_url=os.environ.get("GPUFLEET_DATABASE_URL", default_db),
            max_body_bytes=int(os.environ.get("GPUFLEET_MAX_BODY_BYTES", 16 * 1024 * 1024)),
        )


def client_url() -> str:
    return os.environ.get("GPUFLEET_URL", "http://127.0.0.1:8080")


def client_key() -> str | None:
    return os.environ.get("GPUFLEET_API_KEY")
