"""A tag run's cloud side: which photos go to the cloud, waiting for the answers, and what stored answers add.

The tag session hands over each file whose local tags are chosen (a :class:`Job`). A photo the cloud
model has answered (or refused for its content) before is written at once, with the stored answer;
any other is sent, and its file is written when the answer is back. Answers are stored in the catalog
per image and model, so every later run, ``--brain local`` included, writes them again without sending.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmp import AITag
from xmp.errors import PhotobrainError
from xmp.regular import Stamp

from ..brains.gemini import CloudError, CloudStop, CloudWithheld, clean_keywords
from .ledger import Ledger, ledger_path
from .options import CloudOptions
from .runner import Cancelled, CloudRunner, CloudTally

if TYPE_CHECKING:
    from index.catalog import Catalog

    from ..vocab import Vocabulary

#: appended to the settings fingerprint of a file written while its cloud answer is missing: such a file is
#: never "unchanged", so the next run asks again
PENDING = ":cloud-pending"
#: how many photos may wait for their cloud answer before the local pass waits for the cloud
HOLD_LIMIT = 64


class CloudStopped(Exception):
    """The cloud brain must send nothing more (bad key, retired model, daily quota, budget): the run ends."""


@dataclass
class Job:
    """One file whose local tags are chosen, to be written (after its cloud answer, when one is awaited)."""

    path: str
    digest: str
    stamp: Stamp  # the file's size, mtime, ctime and inode when it was read
    status: str
    selected: list[Any]  # select.Selected
    text: tuple[str | None, str | None]


#: writes a job's file: (job, note for the result, whether its cloud answer is still missing)
Writer = Callable[[Job, str | None, bool], None]


class StoredAnswers:
    """Cloud answers from the catalog as AI tags mapped onto the vocabulary, caption and alt text."""

    def __init__(self, catalog: Catalog, vocab: Vocabulary, *, cloud_run: bool):
        self.catalog = catalog
        # most catalogs hold no cloud answer: then a local run asks nothing per file
        self._any = cloud_run or catalog.has_cloud_answers()
        self._paths: dict[str, tuple[str, ...]] = {}
        for concept in vocab.concepts:
            for word in (concept.name, *concept.synonyms):
                self._paths.setdefault(word.lower(), concept.path)
        self._excluded = {c.path for c in vocab.concepts if c.excluded}

    def for_image(self, digest: str) -> tuple[list[AITag], str | None, str | None, str]:
        row = self.catalog.cloud_answer(digest) if self._any else None
        if row is None or row.status != "answered":
            return [], None, None, ""
        tags = [AITag(path, None, row.model) for path in clean_keywords(row.keywords, self._paths)
                if path not in self._excluded]
        return tags, row.caption or None, row.alt_text or None, row.model


class CloudStage:
    """Sends the photos a cloud run has not had answered, and has their files written as the answers come back."""

    def __init__(self, options: CloudOptions, catalog: Catalog, vocab: Vocabulary, *, catalog_path: Path,
                 dry_run: bool, write: Writer):
        self.options, self.catalog, self.write = options, catalog, write
        self.tally = CloudTally()
        self._settled = catalog.cloud_settled(options.source)
        self._held: list[tuple[Future, Job]] = []
        self.runner: CloudRunner | None = None
        if not dry_run:  # a dry run sends nothing: it counts what it would send
            branches = sorted({c.path[0] for c in vocab.concepts if not c.excluded})
            self.runner = CloudRunner(options, Ledger(ledger_path(catalog_path)), branches)
            self.runner.tally = self.tally

    @property
    def waiting(self) -> int:
        return len(self._held)

    def deliver(self, job: Job) -> None:
        """Write the file now, or once its cloud answer is back when the cloud model has not answered it yet."""
        if job.digest in self._settled:
            self.write(job, None, False)
            return
        if self.runner is None:
            self.tally.would_send += 1
            self._settled.add(job.digest)  # counted once per image
            self.write(job, "would send", True)
            return
        future = self.runner.submit(job.digest, Path(job.path))
        if future is None:  # stopped: the budget is spent, or an error that would repeat
            self.write(job, f"not sent: {self.tally.stopped}", True)
            raise CloudStopped()
        self._held.append((future, job))
        self.collect(until=HOLD_LIMIT)

    def collect(self, *, until: int | None = None, stopping: bool = False) -> None:
        """Write the files whose answer is back; with ``until``, first wait until at most that many wait.

        Raises :class:`CloudStopped` once the run must send nothing more (unless ``stopping`` already).
        """
        while self._held:
            ready = [held for held in self._held if held[0].done()]
            if not ready:
                if until is None or len(self._held) <= until:
                    break
                wait([future for future, _ in self._held], return_when=FIRST_COMPLETED)
                continue
            self._held = [held for held in self._held if not held[0].done()]
            for future, job in ready:
                self._answered(future, job)
        self.catalog.commit()
        if self.runner is not None and self.runner.stopped and not stopping:
            raise CloudStopped()

    def close(self, *, interrupted: bool) -> None:
        if self.runner is not None:
            self.runner.shutdown(wait_for_running=not interrupted)

    def _answered(self, future: Future, job: Job) -> None:
        assert self.runner is not None
        tally, source, digest = self.tally, self.options.source, job.digest
        self.runner.forget(digest)
        first = digest not in self._settled  # a duplicate in the same run shares its original's answer
        try:
            answer = future.result()
        except CloudWithheld as exc:
            if first:
                tally.refused += 1
                self.catalog.store_cloud_answer(digest, source, status="refused", reason=exc.reason)
                self._settled.add(digest)
            self.write(job, f"refused: {exc.reason}", False)
        except CloudStop as exc:
            self.write(job, f"not answered: {exc.reason}", True)
        except CloudError as exc:
            tally.unanswered += first
            self.write(job, f"not answered: {exc.reason}", True)
        except (CancelledError, Cancelled):
            self.write(job, "not sent: the run stopped first", True)
        except PhotobrainError as exc:  # the file could not be read or decoded for sending
            self.write(job, f"not sent: {exc.reason}", True)
        except OSError as exc:
            self.write(job, f"not sent: cannot read the file ({exc.strerror or exc})", True)
        else:
            if first:
                tally.answered += 1
                self.catalog.store_cloud_answer(digest, source, status="answered", keywords=answer.keywords,
                                                caption=answer.caption, alt_text=answer.alt_text)
                self._settled.add(digest)
            self.write(job, "answered", False)
