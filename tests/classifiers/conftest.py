"""Generated annotation data for classifier tests (no files from ../shared)."""

from __future__ import annotations

import random

import pytest

EDU_WORDS = (
    "photosynthesis energy cell molecule theorem proof equation derivative integral chemistry reaction velocity "
    "acceleration gravity orbit planet evolution species ecosystem algorithm variable function history empire "
    "treaty democracy grammar sentence vocabulary experiment hypothesis observation measurement fraction"
).split()
SPAM_WORDS = (
    "buy cheap discount click now free bonus casino win jackpot offer sale deal shipping order viagra pills "
    "promo code limited hot singles subscribe cookies login cart price best online shop"
).split()
MID_WORDS = "today people said yesterday city team game weather local police news announced week market".split()
FILLER = "the a of and to in is that it for with as on by this".split()


def make_text(rng: random.Random, vocab: list[str], n_words: int = 60) -> str:
    words = [rng.choice(vocab) if rng.random() < 0.6 else rng.choice(FILLER) for _ in range(n_words)]
    lines = [" ".join(words[i : i + 15]) + "." for i in range(0, n_words, 15)]
    return "\n".join(lines)


def make_annotations(n_per_class: int = 60, seed: int = 0) -> tuple[list[str], list[float]]:
    """Levels 0-1 from spam words, 2 from news words, 4-5 from educational words."""
    rng = random.Random(seed)
    texts, labels = [], []
    for level, vocab in ((0, SPAM_WORDS), (1, SPAM_WORDS), (2, MID_WORDS), (4, EDU_WORDS), (5, EDU_WORDS)):
        for _ in range(n_per_class):
            texts.append(make_text(rng, vocab))
            labels.append(float(level))
    return texts, labels


@pytest.fixture(scope="session")
def annotations() -> tuple[list[str], list[float]]:
    return make_annotations()


@pytest.fixture(scope="session")
def heldout() -> tuple[list[str], list[float]]:
    return make_annotations(n_per_class=20, seed=99)


@pytest.fixture(scope="session")
def annotation_factory():
    return make_annotations
