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


@pytest.fixture
def job_folders(monkeypatch) -> list:
    """The shared-memory folders the jobs of this test made (``training.shm.create`` recorded, in
    the driver's process), so that a test can check its own jobs removed theirs: other w2v-dist
    jobs on the machine may add or leave folders of the same prefix meanwhile."""
    from w2v_dist.training import shm

    made: list = []
    create = shm.create

    def recording(job):
        folder, token = create(job)
        made.append(folder)
        return folder, token

    monkeypatch.setattr(shm, "create", recording)
    return made
