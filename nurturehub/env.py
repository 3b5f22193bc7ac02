"""The one reader of the environment: Django's settings and gunicorn's config both load it, so they agree.

Real environment variables win; then the env file: `ENV_FILE` when set (relative to the project), else `.env`.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent


def env_file() -> Path:
    """The env file read at start-up (it need not exist: the process environment may carry everything)."""
    path = Path(os.environ.get("ENV_FILE") or ".env")
    return path if path.is_absolute() else BASE_DIR / path


def load_env() -> environ.Env:
    """Fill os.environ from the env file (without overriding what is set) and return a typed reader of it."""
    path = env_file()
    if path.is_file():
        environ.Env.read_env(path, overwrite=False)
    return environ.Env()
