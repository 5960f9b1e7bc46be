"""Shared fixtures: where the shared corpora live (``../shared`` beside the checkout, or $W2V_SHARED)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("W2V_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared data not found at {SHARED}; set W2V_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def small_corpus(shared_dir) -> Path:
    return shared_dir / "corpora" / "real-en" / "small" / "small.txt"


@pytest.fixture(scope="session")
def eval_dir(shared_dir) -> Path:
    return shared_dir / "corpora" / "eval"
