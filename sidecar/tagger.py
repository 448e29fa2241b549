"""The main job: tag a library on-device and write the tags into XMP.

``run_tag(TagOptions) -> TagResult``. The command line, the launcher and the
plug-ins call this one function and read the same result.

Pipeline: scan (stat only) -> skip files whose size, mtime, ctime and inode
are unchanged since they were tagged with the same settings (or failed to
read: reported again, not read again) -> worker processes read,
hash, decode (draft mode) and embed the rest in batches, one torch thread
each, so both cores stay busy with decode and inference -> the main process
picks tags, writes XMP and commits the catalog after every batch.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import numpy as np

from index.catalog import Catalog
from xmp import AITag, PhotobrainError, TagRequest, WriteOptions, content_hash, is_image, read_metadata, write_tags
from xmp.errors import reason_about
from xmp.regular import Stamp, UnreadableError, kind_of, stamp
from xmp.view import summarize

from .brains.spec import ModelSpec
from .cloud import CloudOptions, CloudTally, consent_given
from .cloud.stage import PENDING, CloudStage, CloudStopped, Job, StoredAnswers

if TYPE_CHECKING:
    from .brains.local import LocalBrain
from .decode import DEFAULT_MAX_MEGAPIXELS, decode, header_digest, read_image
from .files import remove_leftovers, scan
from .models import resolve
from .progress import Progress
from .select import Selected, SelectionRule, select
from .vocab import Vocabulary, load_vocabulary


@dataclass(frozen=True)
class TagOptions:
    paths: tuple[Path, ...]
    catalog: Path
    model: str | None = None
    pretrained: str | None = None
    write: str = "auto"  # embed | sidecar | auto | none
    sidecar_name: str = "ext"
    root: str = "AI"
    vocab: Path | None = None
    threshold: float = 0.5
    max_tags: int = 10
    dry_run: bool = False
    jobs: int | None = None
    keep_mtime: bool = False
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
    batch_size: int = 8  # per worker task: small enough that the last tasks keep both cores busy
    #: retag: only files the catalog knows (all of them when ``paths`` is empty); new files are skipped
    catalogued_only: bool = False
    #: the brain(s) whose tags are written; the on-device model always computes the embedding for search
    cloud: CloudOptions = CloudOptions()
    #: forget the tags the user rejected (in the files and the catalog): they may be written again
    forget_rejections: bool = False
    #: the library root the run works in: with no ``paths``, every file the catalog knows below it
    library: Path | None = None


@dataclass
class FileOutcome:
    path: str
    status: str  # tagged | unchanged | moved | duplicate | failed | skipped
    tags: list[str] = field(default_factory=list)
    reason: str | None = None
    hint: str | None = None
    written: list[str] = field(default_factory=list)  # files whose XMP changed (or would, with --dry-run)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    cloud: str | None = None  # with a cloud brain: answered | refused: ... | not answered: ... | would send
    note: str | None = None  # where the XMP went other than asked, and why (a raw's name.xmp, a read-only file)


@dataclass
class TagResult:
    model: str
    vocabulary: str
    files: list[FileOutcome] = field(default_factory=list)
    embedded: int = 0  # images that went through the model this run
    seconds: float = 0.0
    #: of ``seconds``: preparing the model, once: the vocabulary's text embeddings and the text tower for search
    preparation_seconds: float = 0.0
    #: images/s once the workers are running: from the first finished batch to the last (start-up excluded)
    steady_images_per_second: float | None = None
    dry_run: bool = False
    interrupted: bool = False
    cleaned: int = 0  # temporary files of an interrupted earlier write, removed
    cloud: CloudTally | None = None  # with --brain gemini|both: what was sent, answered, refused, spent
    library: str | None = None  # the library root the run worked in
    jobs: int = 0  # worker processes that read and embedded photos (1: in the main process)
    #: peak resident memory in bytes: "main" (this process), "worker" (the largest worker), "total" (their sum at most)
    memory: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]

    def summary(self) -> dict[str, int]:
        counts = {s: self.count(s) for s in ("tagged", "unchanged", "moved", "duplicate", "failed", "skipped")}
        counts["written"] = sum(1 for f in self.files if f.written and f.status != "failed")
        return counts

    @property
    def images_per_second(self) -> float | None:
        """Images through the model per second of the run, the vocabulary's one-time preparation left out."""
        seconds = self.seconds - self.preparation_seconds
        return round(self.embedded / seconds, 2) if self.embedded and seconds > 0 else None

    def changes_by_tag(self) -> dict[str, dict[str, int]]:
        """For each AI tag, in how many files it was (or, with --dry-run, would be) added and removed."""
        changes: dict[str, dict[str, int]] = {}
        for outcome in self.files:
            for kind, tags in (("added", outcome.added), ("removed", outcome.removed)):
                for tag in tags:
                    changes.setdefault(tag, {"added": 0, "removed": 0})[kind] += 1
        return dict(sorted(changes.items()))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["summary"] = self.summary()
        data["changes_by_tag"] = self.changes_by_tag()
        data["images_per_second"] = self.images_per_second
        return data


# --- worker side: read, hash, decode, embed --------------------------------------------------

@dataclass
class _Item:
    path: str
    stamp: Stamp | None = None
    digest: str | None = None
    vector: np.ndarray | None = None
    facts: tuple[int, int, str] | None = None
    header: str | None = None  # header_digest of a file that decoded (or matched a decoded one's)
    reason: str | None = None
    hint: str | None = None
    keywords: str | None = None  # the user's own keywords and captions, for the keyword search
    caption: str | None = None
    #: another file with the same image data is being embedded in this run: this one waits for its vector
    deferred: bool = False
    #: it failed for a reason that may pass (an I/O error, memory): tried again on the next run
    transient: bool = False


class _Embedder:
    """Runs in each worker (or in-process with --jobs 1). Loads the model on first need."""

    def __init__(self, spec: ModelSpec, known: Mapping[str, str | None], max_megapixels: float, threads: int | None,
                 claims: MutableMapping[str, int] | None = None):
        self.spec, self.known, self.max_megapixels, self.threads = spec, known, max_megapixels, threads
        #: image hashes some worker of this run embeds (shared between workers): one model call per image
        self.claims: MutableMapping[str, int] = {} if claims is None else claims
        self.brain: LocalBrain | None = None

    def _claim(self, digest: str) -> bool:
        """True when this worker is the first of the run to embed ``digest``."""
        me = os.getpid()
        if self.claims.get(digest) == me:
            return False  # a file earlier in this worker's batches has the same image data
        return self.claims.setdefault(digest, me) == me

    def process(self, paths: list[str]) -> list[_Item]:
        items, pending = [], []
        for raw in paths:
            item = _Item(raw)
            items.append(item)
            path = Path(raw)
            try:
                data, st = read_image(path, max_megapixels=self.max_megapixels)
                item.stamp = stamp(st)
                item.digest = content_hash(path, data)
                item.keywords, item.caption = keyword_text(path, data)
                header = header_digest(path, data)
                known = item.digest in self.known
                if known and header is not None and header == self.known[item.digest]:
                    item.header = header  # a move, a copy, a metadata edit: decodes as the file embedded did
                    continue
                # a known image whose header differs (a copy with a damaged Huffman table shares the good file's
                # hash) is decoded first: a file that does not decode is never tagged
                claimed = not known and self._claim(item.digest)
                min_side = self._brain().input_size if claimed else (self.brain.input_size if self.brain else 224)
                decoded = decode(path, data, min_side=min_side, max_megapixels=self.max_megapixels)
                del data
                item.header = header
                if known:
                    continue
                if not claimed:
                    item.deferred = True
                    continue
                item.facts = (decoded.width, decoded.height, decoded.format)
                pending.append((item, decoded.image))
            except PhotobrainError as exc:
                item.reason, item.hint = reason_about(exc, path), exc.hint
                item.transient = isinstance(exc, UnreadableError)
            except OSError as exc:
                item.reason, item.transient = f"cannot read the file ({exc.strerror or exc})", True
            except MemoryError:
                item.reason, item.transient = "out of memory decoding the image", True
                item.hint = "lower --max-megapixels or --jobs, or tag it on a machine with more memory"
        if pending:
            vectors = self._brain().embed_images([image for _, image in pending])
            for (item, _), vector in zip(pending, vectors, strict=True):
                item.vector = vector
        return items

    def _brain(self) -> LocalBrain:
        if self.brain is None:
            from .brains.local import LocalBrain

            self.brain = LocalBrain(self.spec, threads=self.threads, image_only=True)
        return self.brain


_worker: _Embedder | None = None


def _record(catalog: Catalog, path: Path, read_as: Stamp, **fields) -> None:
    size, mtime_ns, ctime_ns, inode = read_as
    catalog.record_file(path, size=size, mtime_ns=mtime_ns, ctime_ns=ctime_ns, inode=inode, **fields)


def keyword_text(path: Path, data: bytes) -> tuple[str | None, str | None]:
    """The user's keywords (flat and hierarchical) and captions of a file, as text; (None, None) if unreadable."""
    try:
        summary = summarize(read_metadata(path, data))
    except PhotobrainError:
        return None, None
    keywords = " ; ".join([*summary.user_keywords, *(p.replace("/", " ") for p in summary.user_hierarchy)])
    return keywords, " ; ".join(summary.captions.values())


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _init_worker(spec: ModelSpec, known: Mapping[str, str | None], max_megapixels: float,
                 claims: MutableMapping[str, int]) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it saves and stops
    os.environ["OMP_NUM_THREADS"] = "1"
    _worker = _Embedder(spec, known, max_megapixels, threads=1, claims=claims)


def _work(paths: list[str]) -> list[_Item]:
    assert _worker is not None
    return _worker.process(paths)


# --- main side --------------------------------------------------------------------------------

def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def settings_fingerprint(model_fp: str, vocab: Vocabulary, rule: SelectionRule, options: TagOptions) -> str:
    """What a file's tags depend on besides its pixels: a file tagged under the same one is unchanged."""
    fingerprint = (f"{model_fp}:{vocab.fingerprint()}:{vocab.rules_fingerprint()}:{rule.fingerprint()}:"
                   f"{options.root}:{options.write}:{options.sidecar_name}")
    if options.cloud.uses_cloud:
        fingerprint += f":{options.cloud.brain}:{options.cloud.source}"
    return fingerprint


def run_tag(options: TagOptions, *, progress: Progress | None = None,
            log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> TagResult:
    """Tag every image under ``options.paths``. Raises before touching any file if the model is unavailable."""
    started = time.monotonic()
    spec = resolve(options.model, options.pretrained, log=log,  # may download; fails early without weights
                   progress=progress.another("downloading", "MB") if progress else None)
    vocab = load_vocabulary(options.vocab)
    rule = SelectionRule(threshold=options.threshold, max_tags=options.max_tags)
    model_fp = spec.fingerprint()
    tagset = settings_fingerprint(model_fp, vocab, rule, options)
    result = TagResult(model=spec.label, vocabulary=vocab.version, dry_run=options.dry_run)
    opened = Catalog.snapshot(options.catalog) if options.dry_run else Catalog.open(options.catalog)
    with opened as catalog:
        if options.cloud.uses_cloud and not options.dry_run and consent_given(catalog) is None:
            raise PhotobrainError(options.catalog, "no consent to send photos to the cloud is recorded for this "
                                  "library", f"run 'photobrain tag --brain {options.cloud.brain}' in a terminal to "
                                  "read what is sent and agree, or add --yes-cloud")
        run = catalog.start_run("tag") if not options.dry_run else None
        session = _Session(options, spec, vocab, rule, model_fp, tagset, catalog, run, result, log)
        try:
            try:
                session.run(progress)
            except CloudStopped:
                assert session.cloud is not None
                session.cloud.collect(until=0, stopping=True)  # answers already paid for are written
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            if session.cloud is not None:
                session.cloud.close(interrupted=result.interrupted)
            if not options.dry_run:  # a dry run works on an in-memory copy, dropped here
                catalog.commit()
                assert run is not None
                catalog.finish_run(run, json.dumps(result.summary()))
        if not options.dry_run and not result.interrupted and session._model_id is not None:
            # the search index is derived from the catalog: bring it up to date with what this run stored
            # (imported here: the worker processes, which import this module, never need FAISS)
            from index.store import update_index

            update_index(catalog, session._model_id, model_fp, log=log)
            if result.embedded:  # a first run: the text tower search and the service use, made once
                from .vocab_embed import ensure_tower

                preparing = time.monotonic()
                ensure_tower(spec, model_fp, log=log)
                result.preparation_seconds += round(time.monotonic() - preparing, 1)
    result.seconds = time.monotonic() - started
    from .memory import peak_memory

    result.memory = peak_memory(result.jobs)
    return result


class _Session:
    def __init__(self, options: TagOptions, spec: ModelSpec, vocab: Vocabulary, rule: SelectionRule, model_fp: str,
                 tagset: str, catalog: Catalog, run: int | None, result: TagResult, log: Callable[[str], None]):
        self.options, self.spec, self.vocab, self.rule = options, spec, vocab, rule
        self.model_fp, self.tagset, self.catalog, self.run_id, self.result, self.log = (
            model_fp, tagset, catalog, run, result, log)
        #: what reading a file depends on: a file that failed to read is read again only when this changes
        self.readset = f"read:{options.max_megapixels:g}"
        self._concepts: np.ndarray | None = None
        self._model_id: int | None = catalog.find_model(model_fp)
        self._claims: MutableMapping[str, int] = {}
        self._deferred: dict[str, list[_Item]] = {}  # image hash -> files waiting for its vector
        self._embedded_now: set[str] = set()
        self._roots = sorted((Path(os.path.abspath(p)) for p in options.paths if Path(p).is_dir()),
                             key=lambda p: -len(p.parts))  # the deepest root a file is under names its folders
        self.write_options = None if options.write == "none" else WriteOptions(
            mode=cast(Literal["embed", "sidecar", "auto"], options.write),
            sidecar_name=cast(Literal["ext", "base", "both"], options.sidecar_name), root=options.root,
            keep_mtime=options.keep_mtime, dry_run=options.dry_run,
            library=options.library or (self._roots[0] if len(self._roots) == 1 else None))
        # every run writes stored cloud answers, --brain local too
        self.answers = StoredAnswers(catalog, vocab, cloud_run=options.cloud.uses_cloud)
        self.cloud: CloudStage | None = None
        if options.cloud.uses_cloud:
            self.cloud = CloudStage(options.cloud, catalog, vocab, catalog_path=options.catalog,
                                    dry_run=options.dry_run, write=self._write)
            result.cloud = self.cloud.tally

    # -- what to do ----------------------------------------------------------------------------

    def run(self, progress: Progress | None) -> None:
        leftovers: list[Path] = []
        if self.options.paths:
            roots = [Path(os.path.abspath(p)) for p in self.options.paths]
            known_rows = self.catalog.files_under(roots)
            candidates = scan(self.options.paths, None if self.options.dry_run else leftovers)
        else:  # retag with no PATH: every file the catalog knows (in the library): no folder is walked
            rows = (self.catalog.files_under([self.options.library]).values() if self.options.library is not None
                    else self.catalog.iter_files())
            known_rows = {row.path: row for row in rows if row.status != "missing"}
            candidates = ((path, _stat(path)) for path in known_rows)
        with_embedding = self.catalog.hashes_with_embedding(self._model_id) if self._model_id is not None else set()
        to_read: list[str] = []
        to_retag: list[tuple[Path, os.stat_result, str]] = []
        seen: set[Path] = set()
        vanished: list[Path] = []  # catalogued files named on this run that are gone
        stamped: list[tuple[Path, int, int]] = []  # rows from before schema 6, still the same by size and mtime
        for path, st in candidates:
            absolute = Path(os.path.abspath(path))
            seen.add(absolute)
            if st is None:
                if absolute in known_rows:
                    if known_rows[absolute].status != "missing":
                        vanished.append(absolute)
                else:
                    self._fail(path, "no such file", None)
                continue
            if not stat.S_ISREG(st.st_mode):  # only named on the command line: a folder walk passes these by
                self._fail(path, f"not a regular file: this is {kind_of(st.st_mode)}",
                           "photobrain reads only regular files")
                continue
            if not is_image(path):
                self._fail(path, "not an image format photobrain reads", "photo files only: JPEG, PNG, TIFF, WebP, "
                           "HEIC, DNG and raw formats")
                continue
            row = known_rows.get(absolute)
            if self.options.catalogued_only and row is None:
                self.result.files.append(FileOutcome(str(path), "skipped", reason="not tagged yet",
                                                     hint="run 'photobrain tag' on it first"))
                continue
            if row is not None and row.same_file(st):
                if row.ctime_ns is None:
                    stamped.append((absolute, st.st_ctime_ns, st.st_ino))
                if row.status == "failed" and row.hash is None and row.tagset == self.readset:
                    # it could not be read or decoded, and neither it nor the reading settings changed since
                    self.result.files.append(FileOutcome(str(path), "failed", reason=row.error, hint=row.hint))
                    continue
                if row.status == "ok" and row.hash:
                    if row.tagset == self.tagset and not self.options.forget_rejections:
                        self.result.files.append(FileOutcome(str(path), "unchanged"))
                        continue
                    if row.hash in with_embedding:
                        to_retag.append((path, st, row.hash))
                        continue
            to_read.append(str(path))
        self.catalog.fill_stamps(stamped)
        if leftovers:
            self.result.cleaned = remove_leftovers(leftovers)
            self.log(f"photobrain: removed {self.result.cleaned} temporary file(s) an interrupted run left behind")
        # the scan already stat'ed every file it found: only catalogued files it did not find need a look
        gone = [p for p, row in known_rows.items() if p not in seen and row.status != "missing" and not p.exists()]
        self.catalog.mark_missing(gone + vanished)
        total = len(to_read) + len(to_retag)
        if total:  # before the first file: its own progress line, and no tagging rate that includes it
            self._concept_matrix(progress)
        if progress:
            progress.start(total)
        self._retag(to_retag, progress)
        if to_read:
            self._read_and_embed(to_read, progress)
        if progress:
            progress.done()
        if self.cloud is not None and self.cloud.waiting:
            self.log(f"photobrain: waiting for the cloud's answers for {self.cloud.waiting} photo(s)")
            self.cloud.collect(until=0)
        noted = [f for f in self.result.files if f.note]
        if noted:  # once per run, not once per file
            self.log(f"photobrain: {len(noted)} file(s) got their XMP elsewhere than asked, e.g. "
                     f"{noted[0].path}: {noted[0].note} (see 'photobrain tag --json', files[].note)")

    def _retag(self, files: list[tuple[Path, os.stat_result, str]], progress: Progress | None,
               chunk: int = 1024) -> None:
        """New tags from stored embeddings: no file is read to score, and scoring goes a thousand images at a time."""
        assert self._model_id is not None or not files
        for start in range(0, len(files), chunk):
            part = files[start:start + chunk]
            vectors = self.catalog.embeddings_of([digest for _, _, digest in part], self._model_id or 0)
            chosen = select(np.stack([vectors[digest] for _, _, digest in part]), self._concept_matrix(), self.vocab,
                            self.rule)
            for (path, st, digest), selected in zip(part, chosen, strict=True):
                # "tagged" only where the tags changed: a retag that writes nothing leaves the file unchanged
                self._finish(str(path), digest, stamp(st), vector=None, selected=selected,
                             status="tagged" if self.write_options is None else "unchanged")
                if progress:
                    progress.update(1)
            self.catalog.commit()
            if self.cloud is not None:
                self.cloud.collect()

    def _read_and_embed(self, paths: list[str], progress: Progress | None) -> None:
        size = max(1, self.options.batch_size)
        chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
        jobs = self.options.jobs or self._default_jobs()
        jobs = max(1, min(jobs, len(chunks)))
        self.result.jobs = jobs
        if jobs == 1:
            embedder = _Embedder(self.spec, self._known(), self.options.max_megapixels, threads=None)
            self._consume(map(embedder.process, chunks), progress)
        else:
            manager = SyncManager(ctx=multiprocessing.get_context("spawn"))
            manager.start(initializer=_ignore_sigint)  # Ctrl-C is the main process's to handle, as for the workers
            with manager:
                self._claims = manager.dict()  # shared by every worker of this run
                remaining = chunks
                while remaining:
                    broken = self._pooled(remaining, jobs, progress)
                    if not broken:
                        break
                    # A worker died (a decoder crash on a damaged file, or out of memory). Its batch is among
                    # those the workers had been handed: the first jobs + 1 unfinished ones, as the pool dispatches
                    # in order and keeps one queued. Those files go through one at a time to find it; the rest
                    # carry on as before.
                    handed = broken[:jobs + 1]
                    self._isolate([path for chunk in handed for path in chunk], progress)
                    remaining = broken[jobs + 1:]
        waiting = [item.path for items in self._deferred.values() for item in items]
        if waiting:
            # the file they waited for failed (or its worker died): read them on their own, here
            self._deferred.clear()
            embedder = _Embedder(self.spec, self._known(), self.options.max_megapixels, threads=None)
            self._consume([embedder.process(waiting)], None)
            for item in [item for items in self._deferred.values() for item in items]:
                self._fail(Path(item.path), "its image data could not be embedded (another file with the same image "
                           "data failed)", None, item.stamp)
            self._deferred.clear()

    def _default_jobs(self) -> int:
        """One worker per core, as many as the free memory holds (an 8 GB laptop must not swap)."""
        from .memory import workers_that_fit

        cores = os.cpu_count() or 1
        fits, each, free = workers_that_fit(self.spec, self.options.max_megapixels)
        if fits is None or free is None:
            return cores
        if fits < cores:
            self.log(f"photobrain: {fits} worker(s) rather than {cores}: each needs about {each / 1e9:.1f} GB and "
                     f"{free / 1e9:.1f} GB is free (--jobs sets the number)")
        return min(cores, fits)

    def _known(self) -> dict[str, str | None]:
        """Hashes already embedded with this model, with their header digests: workers skip the model for them,
        and the decoding too when the header matches."""
        model_id = self._model_id
        return self.catalog.headers_with_embedding(model_id) if model_id is not None else {}

    def _pool(self, jobs: int) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch or sqlite
        return ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                   initargs=(self.spec, self._known(), self.options.max_megapixels, self._claims))

    @contextmanager
    def _workers(self, jobs: int) -> Iterator[ProcessPoolExecutor]:
        """A pool of worker processes, shut down on the way out; on Ctrl-C or an error its workers are stopped at
        once rather than after their queued batches."""
        pool = self._pool(jobs)
        try:
            yield pool
        except BaseException:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _pooled(self, chunks: list[list[str]], jobs: int, progress: Progress | None) -> list[list[str]]:
        """Read and embed ``chunks`` in ``jobs`` worker processes; returns the chunks lost to a dead worker."""
        broken: list[list[str]] = []
        with self._workers(jobs) as pool:
            futures = [pool.submit(_work, chunk) for chunk in chunks]

            def results():
                for chunk, future in zip(chunks, futures, strict=True):
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken.append(chunk)

            self._consume(results(), progress)
        return broken

    def _isolate(self, paths: list[str], progress: Progress | None) -> None:
        """Read and embed ``paths`` one at a time in one worker: a file its worker dies on fails, alone."""
        waiting = list(paths)
        while waiting:
            with self._workers(1) as pool:  # a new worker after each one that died
                while waiting:
                    path = waiting.pop(0)
                    try:
                        items = pool.submit(_work, [path]).result()
                    except BrokenProcessPool:
                        self._fail(Path(path), "photobrain's worker process died reading this file (a decoder crash "
                                   "on damaged data, or out of memory)", "check the file in another program; the "
                                   "next run tries it again")
                        if progress:
                            progress.update(1)
                        break
                    self._consume([items], progress)

    def _consume(self, results, progress: Progress | None) -> None:
        first_batch_at, embedded_then = None, 0
        for items in results:
            for item in items:
                if item.reason is not None or item.digest is None:
                    self._fail(Path(item.path), item.reason or "unreadable", item.hint, item.stamp,
                               remember=not item.transient)
                    continue
                if item.deferred:
                    self._deferred.setdefault(item.digest, []).append(item)
                else:
                    self._finish(item.path, item.digest, item.stamp, vector=item.vector, facts=item.facts,
                                 header=item.header, status=None, text=(item.keywords, item.caption))
                if item.vector is not None or item.deferred:
                    self._finish_waiting(item.digest)
            self.catalog.commit()  # a crash or Ctrl-C loses at most this batch
            if self.cloud is not None:
                self.cloud.collect()
            if first_batch_at is None:
                first_batch_at, embedded_then = time.monotonic(), self.result.embedded
            elif self.result.embedded > embedded_then:
                elapsed = time.monotonic() - first_batch_at
                self.result.steady_images_per_second = round((self.result.embedded - embedded_then) / elapsed, 2)
            if progress:
                progress.update(len(items))

    def _finish_waiting(self, digest: str) -> None:
        """Files with the same image data as one embedded in this run: duplicates, once its vector is stored."""
        if digest not in self._deferred or digest not in self._embedded_now:
            return
        for item in self._deferred.pop(digest):
            self._finish(item.path, digest, item.stamp, vector=None, status="duplicate", header=item.header,
                         text=(item.keywords, item.caption))

    # -- per file ------------------------------------------------------------------------------

    def _finish(self, path: str, digest: str, read_as: Stamp | None, *, vector: np.ndarray | None,
                status: str | None, facts: tuple[int, int, str] | None = None, header: str | None = None,
                text: tuple[str | None, str | None] = (None, None), selected: list[Selected] | None = None) -> None:
        catalog = self.catalog
        if vector is not None:
            self.result.embedded += 1
            self._embedded_now.add(digest)
            catalog.store_embedding(digest, self._ensure_model(len(vector)), vector)
            if facts:
                catalog.record_image(digest, *facts)
        if header is not None:
            catalog.set_header(digest, header)  # it decoded: the next copy or move of it need not be
        model_id = self._model_id
        if vector is not None or selected is not None:
            stored: np.ndarray | None = vector
        else:
            stored = catalog.embedding(digest, model_id) if model_id is not None else None
        if (stored is None and selected is None) or model_id is None:
            self._fail(Path(path), "no embedding could be computed", None, read_as)
            return
        if status is None:
            here = Path(os.path.abspath(path))
            others = [p for p in catalog.paths_of(digest, include_missing=True) if p != here]
            if vector is not None:
                status = "tagged"
            elif not others:
                status = "unchanged"  # known image data (a metadata edit, a touch): "tagged" once written
            elif any(not p.exists() for p in others):
                status = "moved"
                catalog.mark_missing(p for p in others if not p.exists())
            else:
                status = "duplicate"
        if selected is None:
            assert stored is not None
            (selected,) = select(stored[None, :], self._concept_matrix(), self.vocab, self.rule)
        root = self.options.root
        catalog.replace_tags(digest, model_id, [("/".join((root, *t.path)), t.score, t.implied) for t in selected],
                             self.spec.label, self.vocab.version)
        assert read_as is not None
        job = Job(path, digest, read_as, status, selected, text)
        if self.cloud is not None:
            self.cloud.deliver(job)
        else:
            self._write(job, None, False)

    # -- writing -------------------------------------------------------------------------------

    def _write(self, job: Job, note: str | None, pending: bool) -> None:
        """Write the file's XMP (local tags and any stored cloud answer) and record it in the catalog."""
        catalog, path, root = self.catalog, job.path, self.options.root
        recorded = job.stamp
        local = [] if self.options.cloud.brain == "gemini" else [
            AITag(t.path, t.score, self.spec.label, self.vocab.version) for t in job.selected]
        cloud, caption, alt_text, source = self.answers.for_image(job.digest)
        forget = self.options.forget_rejections
        if forget and not self.options.dry_run:
            catalog.forget_rejections(job.digest)
        rejected = () if forget else tuple(tuple(p.split("/")) for p in catalog.rejections_of(job.digest))
        request = TagRequest(tags=tuple(local + cloud), caption=caption, alt_text=alt_text, caption_source=source,
                             rejected=rejected, forget_rejections=forget)
        names = list(dict.fromkeys("/".join((root, *t.path)) for t in request.tags))
        outcome = FileOutcome(path, job.status, tags=names, cloud=note)
        if self.write_options is not None:
            try:
                written = write_tags(Path(path), request, self.write_options)
            except PhotobrainError as exc:
                self.result.files.append(FileOutcome(path, "failed", outcome.tags, reason_about(exc, Path(path)), exc.hint,
                                                     cloud=note))
                _record(catalog, Path(path), recorded, digest=job.digest, status="failed", error=reason_about(exc, Path(path)),
                        hint=exc.hint, run=self.run_id)
                return
            outcome.written = [str(t) for t in written.targets]
            outcome.note = written.note
            if outcome.status == "unchanged" and written.changed:
                outcome.status = "tagged"
            outcome.added, outcome.removed = written.added, written.removed
            if written.rejections and not self.options.dry_run:
                catalog.add_rejections(job.digest, written.rejections)
            if written.changed and not self.options.dry_run and written.mode == "embed":
                recorded = stamp(os.stat(path))  # our own write must not make the file look new next time
        self.result.files.append(outcome)
        _record(catalog, Path(path), recorded, digest=job.digest, status="ok",
                            tagset=self.tagset + (PENDING if pending else ""), run=self.run_id)
        ai_text = [" ".join(t.path) for t in request.tags] + [text for text in (caption, alt_text) if text]
        catalog.set_text(Path(path), folders=self._folders(path), keywords=job.text[0], caption=job.text[1],
                         tags=" ; ".join(ai_text))

    def _folders(self, path: str) -> str | None:
        """The folders between the tagged root and the file: searchable words ("2024 Norway trip").

        None (keep what the catalog has) when the file was not reached through a folder given on this run.
        """
        here = Path(os.path.abspath(path)).parent
        for root in self._roots:
            try:
                return " ".join(here.relative_to(root).parts)
            except ValueError:
                continue
        return None

    def _fail(self, path: Path, reason: str, hint: str | None, read_as: Stamp | None = None, *,
              remember: bool = False) -> None:
        """A file that failed: reported and recorded. With ``remember`` (the file itself could not be read or
        decoded) the next run reports it again without reading it, as long as it and the reading settings stay
        the same; other failures are tried again."""
        self.result.files.append(FileOutcome(str(path), "failed", reason=reason, hint=hint))
        if read_as is None:
            try:
                read_as = stamp(os.stat(path))
            except OSError:
                return
        _record(self.catalog, path, read_as, digest=None, status="failed", error=reason, hint=hint,
                tagset=self.readset if remember else None, run=self.run_id)

    # -- model-dependent state ------------------------------------------------------------------

    def _ensure_model(self, dim: int) -> int:
        model_id = self._model_id
        if model_id is None:
            model_id = self._model_id = self.catalog.model_id(self.model_fp, self.spec.label, dim)
        return model_id

    def _concept_matrix(self, progress: Progress | None = None) -> np.ndarray:
        if self._concepts is None:
            from .vocab_embed import concepts_for

            started = time.monotonic()
            self._concepts = concepts_for(self.spec, self.model_fp, self.vocab, log=self.log,
                                          progress=progress.another("preparing the vocabulary", "prompts")
                                          if progress else None)
            self.result.preparation_seconds += round(time.monotonic() - started, 1)
        return self._concepts

