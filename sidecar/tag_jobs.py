"""Tag runs a client starts through the service and follows to the end: what the Lightroom plug-in's
"Tag selected photos" does (``integrations/lightroom``).

A client hands the service a list of photos (and the AI keywords the user removed from some of them since the
last run); the service records those removals as rejections, runs one ``photobrain tag --json`` over the photos
that lie in a library (with each library's own profile, as every tag run), and tells the client how far it is
(``photobrain-progress`` lines) until the end, when it hands over each photo's AI keywords (the catalog's tags
for the library's model, less the rejections). One run at a time; a client may cancel it (photos already tagged
keep their tags, and their keywords are handed over too). Photos in no library are named, never tagged: a
library's settings (where tags are written) are the user's decision, made once with ``photobrain tag FOLDER``.

The service stays torch-free: the model loads in the ``tag`` child, as for the watcher's batches.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from index.catalog import Catalog, CatalogInUseError, LibraryRow, deepest_library

from .progress import follow

IN_USE_WAIT = 600.0     # seconds a run waits for another photobrain command holding the catalog
KEPT_JOBS = 20          # finished runs whose answer is still kept for their client


def keywords_for(catalog_path: Path, paths: Iterable[Path]) -> dict:
    """Each photo's AI keywords as lists of components (``["AI", "animal", "dog"]``), best first, from the
    catalog: the tags of its library's model (a cloud brain's answer where the library uses one), less the
    keywords the user rejected. ``roots``: each photo's keyword root (its library's); ``outside``: photos in no
    library; ``untagged``: photos the catalog has no tags for yet (never tagged, or not an image photobrain reads)."""
    answer: dict = {"keywords": {}, "roots": {}, "outside": [], "untagged": []}
    catalog = Catalog.open_readonly(catalog_path)
    if catalog is None:
        answer["outside"] = [str(p) for p in paths]
        return answer
    try:
        libraries = catalog.libraries()
        for path in paths:
            library = deepest_library(libraries, path)
            if library is None:
                answer["outside"].append(str(path))
                continue
            answer["roots"][str(path)] = str(library.profile.get("keyword_root") or "AI")
            tags = _tags_of(catalog, library, path)
            if tags is None:
                answer["untagged"].append(str(path))
            else:
                answer["keywords"][str(path)] = tags
    finally:
        catalog.close()
    return answer


def _tags_of(catalog: Catalog, library: LibraryRow, path: Path) -> list[list[str]] | None:
    digest = catalog.hash_of(path)
    model_id = catalog.find_model(str(library.profile.get("model_fingerprint") or ""))
    if digest is None:
        return None
    root = str(library.profile.get("keyword_root") or "AI")
    names: list[str] = []
    brain = library.profile.get("brain") or "local"
    # tagged: the model saw the image (its embedding is stored), or the cloud brain answered for it. A file the
    # catalog knows only by its hash (a run interrupted before the model reached it) is not: no keywords yet,
    # which is not "no keywords" (the plug-in would take the photo's away)
    seen = False
    if brain != "gemini" and model_id is not None and catalog.embedding(digest, model_id) is not None:
        seen = True
        names += [name for name, _score, _implied in catalog.tags_of(digest, model_id)]
    if brain != "local":
        cloud = catalog.cloud_answer(digest)
        if cloud is not None and cloud.status == "answered":
            seen = True
            names += ["/".join((root, *words)) for words in cloud.keywords]
    if not seen:
        return None
    rejected = set(catalog.rejections_of(digest))
    return [name.split("/") for name in dict.fromkeys(names) if name not in rejected]


def record_rejections(catalog: Catalog, rejected: dict[Path, list[list[str]]]) -> int:
    """Remember the AI keywords the user removed (the next run leaves them out, and takes them out of the file
    photobrain wrote: the photo counts as untagged until then); those outside the photo's library's keyword
    root are not photobrain's and are ignored. How many were recorded."""
    libraries = catalog.libraries()
    count = 0
    for path, keywords in rejected.items():
        library = deepest_library(libraries, path)
        digest = catalog.hash_of(path)
        if library is None or digest is None:
            continue
        root = str(library.profile.get("keyword_root") or "AI")
        names = ["/".join(words) for words in keywords if len(words) >= 2 and words[0] == root]
        if names:
            catalog.add_rejections(digest, names)
            catalog.forget_tags(path)
        count += len(names)
    catalog.commit()
    return count


@dataclass
class Job:
    id: str
    paths: list[Path]
    rejected: dict[Path, list[list[str]]]
    state: str = "waiting"       # waiting | running | done | failed | cancelled
    label: str = "starting"
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    summary: dict = field(default_factory=dict)
    failed: list[dict] = field(default_factory=list)
    error: str | None = None
    keywords: dict | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen | None = None

    def to_dict(self) -> dict:
        finished = self.state in ("done", "failed", "cancelled")
        return {"job": self.id, "state": self.state, "label": self.label, "done": self.done, "total": self.total,
                "seconds": round(self.seconds if self.seconds is not None else time.monotonic() - self.started, 1),
                "summary": self.summary, "failed": self.failed, "error": self.error,
                **((self.keywords or {}) if finished else {})}


def _interrupt(process: subprocess.Popen) -> None:
    """An interrupt, as Ctrl-C: the run stops after the photo it is writing (writes are atomic anyway)."""
    process.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)


class TagJobs:
    """The service's tag runs: one at a time, each followed by its client until it ends."""

    def __init__(self, catalog: Path, *, command: list[str] | None = None, log=lambda m: None):
        self.catalog = catalog
        self.command = command or [sys.executable, "-m", "sidecar"]
        self.log = log
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, paths: list[Path], rejected: dict[Path, list[list[str]]]) -> dict:
        """Start a run over the photos in a library; what is not in one is named in ``outside``."""
        catalog = Catalog.open_readonly(self.catalog)
        libraries = catalog.libraries() if catalog is not None else []
        if catalog is not None:
            catalog.close()
        inside: list[Path] = []
        outside: list[str] = []
        for path in dict.fromkeys(paths):
            if deepest_library(libraries, path) is not None:
                inside.append(path)
            else:
                outside.append(str(path))
        chosen = set(inside)
        with self._lock:
            if any(j.state in ("waiting", "running") for j in self._jobs.values()):
                return {"error": "a tag run started from another window is still going: wait for it to end",
                        "busy": True}
            if not inside:
                return {"job": None, "outside": outside}
            job = Job(secrets.token_hex(8), inside, {p: k for p, k in rejected.items() if p in chosen},
                      total=len(inside))
            self._jobs[job.id] = job
            for old in [j for j in self._jobs.values() if j.state not in ("waiting", "running")][:-KEPT_JOBS]:
                del self._jobs[old.id]
        threading.Thread(target=self._run, args=(job,), daemon=True, name="photobrain-tag-job").start()
        return {"job": job.id, "outside": outside, "total": job.total}

    def status(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.to_dict()

    def cancel(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.cancelled.set()
            process = job.process
        if process is not None and process.poll() is None:
            _interrupt(process)
        return job.to_dict()

    # -- the run ------------------------------------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        try:
            if job.rejected and not self._wait_for_catalog(job, lambda c: record_rejections(c, job.rejected)):
                return
            while not job.cancelled.is_set():
                code, output, errors = self._tag(job)
                if code != 0 and any("in use by another photobrain command" in line for line in errors):
                    job.label = "waiting for another photobrain command"
                    if time.monotonic() - job.started > IN_USE_WAIT:
                        job.error = errors[-1]
                        break
                    job.cancelled.wait(1.0)
                    continue
                self._outcome(job, output, code, errors)
                break
            job.keywords = keywords_for(self.catalog, job.paths)
        except Exception as exc:  # the client must hear of it; the service goes on
            job.error = f"the tag run failed: {exc}"
            self.log(f"photobrain serve: {job.error}")
        finally:
            job.process = None
            job.seconds = time.monotonic() - job.started
            job.state = "cancelled" if job.cancelled.is_set() else "failed" if job.error else "done"

    def _wait_for_catalog(self, job: Job, work) -> bool:
        deadline = time.monotonic() + IN_USE_WAIT
        while not job.cancelled.is_set():
            try:
                with Catalog.open(self.catalog) as catalog:
                    work(catalog)
                return True
            except CatalogInUseError as exc:
                if time.monotonic() > deadline:
                    job.error = exc.reason
                    return False
                job.label = "waiting for another photobrain command"
                job.cancelled.wait(0.5)
        return False

    def _tag(self, job: Job) -> tuple[int, str, list[str]]:
        # the list in a file: a selection of thousands of photos is longer than a command line (32 767 characters
        # on Windows)
        listed = tempfile.NamedTemporaryFile(prefix="photobrain-tag-", suffix=".paths", delete=False)
        with listed:
            listed.write(b"\0".join(os.fsencode(p) for p in job.paths))
        words = [*self.command, "tag", "--catalog", str(self.catalog), "--json", "--paths-from", listed.name]
        try:
            return self._follow(job, words)
        finally:
            os.unlink(listed.name)

    def _follow(self, job: Job, words: list[str]) -> tuple[int, str, list[str]]:
        errors: list[str] = []

        def started(process: subprocess.Popen) -> None:
            job.process, job.state = process, "running"
            if job.cancelled.is_set():
                _interrupt(process)

        def progress(label: str, done: int, total: int) -> None:
            job.label, job.done, job.total = label, done, total

        code, output = follow(words, progress=progress, started=started,
                              line=lambda text: errors.append(text) if text.strip() else None)
        return code, output, errors

    def _outcome(self, job: Job, output: str, code: int, errors: list[str]) -> None:
        try:
            data = json.loads(output)
        except ValueError:
            if job.cancelled.is_set():  # stopped before it had anything to say: what the user asked for
                return
            job.error = (errors or [f"the tag run ended with exit code {code}"])[-1].removeprefix("error: ")
            self.log(f"photobrain serve: a client's tag run failed: {job.error}")
            return
        for run in data.get("libraries", [data]):
            for key, value in (run.get("summary") or {}).items():
                job.summary[key] = job.summary.get(key, 0) + int(value)
            job.failed += [{"path": f["path"], "reason": f.get("reason"), "hint": f.get("hint")}
                           for f in run.get("files") or [] if f.get("status") == "failed"]
        job.done = job.total if not job.cancelled.is_set() else job.done
