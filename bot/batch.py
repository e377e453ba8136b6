"""Many headlines at once (`gatebot classify` of a file or a pipe): the same verdicts, in the same
order, as one by one, spread over the machine's cores.

Classification is plain Python, so one process uses one core. A long input is cut into blocks; the
first block decides: a short input is classified in this process (a pool costs more than it saves),
a long one by `jobs` worker processes forked from this one after the rules and models are loaded,
so they start at once and share the loaded tables. Blocks keep memory bounded for an input of any
length, and results come back in input order. Where fork is not available, everything runs here.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from .classifier import Classifier
from .models import Verdict

__all__ = ["BLOCK", "classify_all", "default_jobs"]

BLOCK = 4096  # headlines read ahead at a time; an input shorter than one block stays in this process
CHUNK = 128  # headlines per task sent to a worker
MAX_JOBS = 8

T = TypeVar("T")
# What a worker runs, inherited from the parent at fork: the classifier and what to make of a verdict.
_work: tuple[Classifier, Callable[[str, Verdict], Any]] | None = None


def _classify_chunk(texts: list[str]) -> list[Any]:
    assert _work is not None  # set by the parent before the pool forks
    classifier, then = _work
    return [then(text, classifier.classify(text)) for text in texts]


def default_jobs() -> int:
    """Worker processes for a long input: the cores this process may use, at most MAX_JOBS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_JOBS))


def classify_all(classifier: Classifier, texts: Iterable[str], then: Callable[[str, Verdict], T],
                 jobs: int | None = None, block: int = BLOCK, chunk: int = CHUNK) -> Iterator[T]:
    """`then(text, verdict)` for each text, in order; `then` runs where the text was classified (a
    worker: so printing's formatting is spread too). `jobs`: worker processes for a long input
    (default: the cores)."""
    global _work
    jobs = default_jobs() if jobs is None else max(1, jobs)
    source = iter(texts)
    first = list(islice(source, block))
    if len(first) < block or jobs == 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from (then(text, classifier.classify(text)) for text in first)
        yield from (then(text, classifier.classify(text)) for text in source)
        return
    _work = (classifier, then)
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            texts_now = first
            while texts_now:
                chunks = [texts_now[i:i + chunk] for i in range(0, len(texts_now), chunk)]
                for results in pool.imap(_classify_chunk, chunks):
                    yield from results
                texts_now = list(islice(source, block))
    finally:
        _work = None
