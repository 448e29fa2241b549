"""Another program's edits are never lost: one that keeps a file's size and puts its mtime back is still seen, one
made while photobrain writes stops the write; links are written through only inside the library."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES

import xmp.write
from index.catalog import Catalog
from sidecar.tagger import TagOptions, run_tag
from xmp import AITag, ConcurrentChangeError, TagRequest, WriteOptions, read_metadata, summarize, write_tags

BOATS = SAMPLES / "landscapes/boats at evening glow.jpg"  # its user keywords include "Anna"


def edit_like_an_editor(path: Path, old: bytes, new: bytes) -> None:
    """Change ``old`` to ``new`` (same length) the way some editors save: a new file renamed into place, then the
    old mtime put back to the nanosecond. Size and mtime are as they were; the inode and ctime are not."""
    st = path.stat()
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    temp = path.with_name(path.name + ".saving")
    temp.write_bytes(data.replace(old, new))
    os.replace(temp, path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def options(folder: Path, tiny_clip, catalog: Path, **more) -> TagOptions:
    return TagOptions(paths=(folder,), catalog=catalog, model=str(tiny_clip.config_path),
                      pretrained=str(tiny_clip.checkpoint_path), threshold=0.05, jobs=1, library=folder, **more)


def test_an_edit_that_keeps_size_and_mtime_is_read_by_the_next_run(tmp_path, tiny_clip, monkeypatch):
    monkeypatch.setenv("PHOTOBRAIN_CACHE", str(tmp_path / "cache"))
    library = tmp_path / "library"
    library.mkdir()
    photo = library / "boats.jpg"
    shutil.copy2(BOATS, photo)
    run_tag(options(library, tiny_clip, tmp_path / "catalog.db"), log=lambda m: None)
    edit_like_an_editor(photo, b"Anna", b"Emma")
    again = run_tag(options(library, tiny_clip, tmp_path / "catalog.db"), log=lambda m: None)
    assert again.files[0].status != "failed"
    keywords = summarize(read_metadata(photo)).user_keywords
    assert "Emma" in keywords and "Anna" not in keywords  # the edit stands
    with Catalog.open(tmp_path / "catalog.db") as catalog:  # and the catalog read it: "Emma" is found
        assert [p.name for p, _, _ in catalog.keyword_matches("Emma", 5)] == ["boats.jpg"]


def test_an_edit_made_while_photobrain_writes_is_never_overwritten(tmp_path, monkeypatch):
    photo = tmp_path / "boats.jpg"
    shutil.copy2(BOATS, photo)
    real_apply = xmp.write.apply_plan
    edited = []

    def editor_saves_meanwhile(current, plan):  # after photobrain read the file, before it writes
        if not edited:
            edit_like_an_editor(photo, b"Anna", b"Emma")
            edited.append(True)
        return real_apply(current, plan)

    monkeypatch.setattr(xmp.write, "apply_plan", editor_saves_meanwhile)
    request = TagRequest(tags=(AITag(("animal", "dog"), 0.5, "clip:test", "v1"),))
    with pytest.raises(ConcurrentChangeError):
        write_tags(photo, request, WriteOptions(mode="embed"))
    summary = summarize(read_metadata(photo))
    assert "Emma" in summary.user_keywords and not summary.ai_tags  # the editor's file, untouched


DOG = TagRequest(tags=(AITag(("animal", "dog"), 0.5, "clip:test", "v1"),))


def linked_library(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """library/boats.jpg, a link to it in library/albums/, and a photo outside the library: (library, photo, link,
    outside photo)."""
    library = tmp_path / "library"
    (library / "albums").mkdir(parents=True)
    original = library / "boats.jpg"
    shutil.copy2(BOATS, original)
    link = library / "albums/boats.jpg"
    link.symlink_to(original)
    outside = tmp_path / "elsewhere.jpg"
    shutil.copy2(BOATS, outside)
    return library, original, link, outside


@pytest.mark.parametrize("mode", ["embed", "auto"])
def test_a_link_is_written_through_inside_the_library_and_never_replaced(tmp_path, mode):
    library, original, link, outside = linked_library(tmp_path)
    stray = library / "albums/elsewhere.jpg"
    stray.symlink_to(outside)
    request = DOG
    result = write_tags(link, request, WriteOptions(mode=mode, library=library))
    assert link.is_symlink() and result.mode == "embed" and result.targets == [original]
    assert [t["path"] for t in summarize(read_metadata(original)).ai_tags] == ["AI/animal/dog"]
    before = outside.read_bytes()
    if mode == "embed":
        with pytest.raises(xmp.MetadataWriteError, match="outside the library"):
            write_tags(stray, request, WriteOptions(mode=mode, library=library))
    else:  # auto: a sidecar beside the link, the photo it points to untouched
        written = write_tags(stray, request, WriteOptions(mode=mode, library=library))
        assert written.mode == "sidecar" and written.targets == [stray.with_name("elsewhere.jpg.xmp")]
    assert stray.is_symlink() and outside.read_bytes() == before


def test_untag_goes_through_a_link_as_tag_did_and_leaves_a_photo_outside_alone(tmp_path):
    from xmp.untag import remove_tags

    library, original, link, outside = linked_library(tmp_path)
    request = DOG
    write_tags(outside, request, WriteOptions(mode="embed"))  # tagged in a library of its own
    stray = library / "albums/elsewhere.jpg"
    stray.symlink_to(outside)
    write_tags(link, request, WriteOptions(mode="embed", library=library))
    removed = remove_tags(link, library=library)
    assert link.is_symlink() and removed.targets == [original]
    assert not summarize(read_metadata(original)).ai_tags
    before = outside.read_bytes()
    assert not remove_tags(stray, library=library).changed  # not photobrain's to untag from here
    assert stray.is_symlink() and outside.read_bytes() == before
