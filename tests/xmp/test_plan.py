"""The pure merge: what photobrain decides to write, before anything touches a file."""
from __future__ import annotations

from pathlib import Path

from xmp import AITag, FileMetadata, Provenance, TagRequest, XmpSource
from xmp.plan import apply_plan, owned_view, plan_keywords

NOW = "2026-01-02T03:04:05+00:00"


def tag(*path: str, score: float = 0.3) -> AITag:
    return AITag(path=path, score=score, source="clip:test", vocab="v1")


def meta(*sources: XmpSource) -> FileMetadata:
    return FileMetadata(path=Path("/photos/IMG_1.JPG"), sources=list(sources))


def embedded(**fields) -> XmpSource:
    return XmpSource(label="embedded", path=Path("/photos/IMG_1.JPG"), **fields)


def run(m: FileMetadata, *tags: AITag, root: str = "AI", **request):
    plan = plan_keywords(m, TagRequest(tags=tags, **request), root=root, image_name="IMG_1.JPG", now=NOW)
    return plan, [apply_plan(s, plan) for s in m.sources]


def test_new_tags_go_to_every_field_with_the_users_keywords_kept():
    m = meta(embedded(subject=["Anna", "holiday"], hierarchical=["People|Anna"]))
    _, (out,) = run(m, tag("animal", "dog"))
    assert out.subject == ["Anna", "holiday", "dog"]
    # digiKam and darktable read the hierarchy here, where "holiday" never was: it is not promoted into it
    assert out.hierarchical == ["People|Anna", "AI|animal|dog"]
    assert out.tags_list == ["People/Anna", "AI/animal/dog"]
    assert [t.path for t in out.provenance.tags] == [("AI", "animal", "dog")]
    assert out.provenance.subjects == ["dog"]
    assert out.provenance.carried == []


def test_flat_only_keywords_are_carried_since_the_hierarchy_would_hide_them():
    m = meta(embedded(subject=["Anna", "holiday"]))
    _, (out,) = run(m, tag("animal", "dog"))
    # the user's first: digiKam resolves a one-word entry to the first tag of that name it knows
    assert out.hierarchical == ["Anna", "holiday", "AI|animal|dog"]
    assert out.tags_list == ["Anna", "holiday", "AI/animal/dog"]
    assert out.provenance.carried == [("Anna",), ("holiday",)]
    _, (again,) = run(meta(out), tag("animal", "dog"))
    assert owned_view(again) == owned_view(out)  # stable: carried keywords stay the user's, carried


def test_hierarchy_is_the_union_of_all_hierarchical_fields_and_sources():
    stale = embedded(hierarchical=["Places|Paris"], tags_list=["Events/Wedding"], last_keyword_xmp=["Places/Paris"])
    sidecar = XmpSource(label="IMG_1.JPG.xmp", path=Path("/photos/IMG_1.JPG.xmp"), hierarchical=["Things|car"])
    _, (out, side) = run(meta(stale, sidecar), tag("animal", "cat"))
    expected = ["Places/Paris", "Events/Wedding", "Things/car", "AI/animal/cat"]
    assert out.tags_list == expected and side.tags_list == expected
    assert out.last_keyword_xmp == expected
    assert out.hierarchical == ["Places|Paris", "Events|Wedding", "Things|car", "AI|animal|cat"]
    assert side.last_keyword_xmp is None  # optional fields are only kept in sync where they exist


def test_existing_strings_are_kept_verbatim():
    m = meta(embedded(hierarchical=["Bands|AC/DC"], tags_list=["Bands/AC\\DC"]))
    _, (out,) = run(m, tag("music", "guitar"))
    assert out.hierarchical[0] == "Bands|AC/DC"
    assert out.tags_list[0] == "Bands/AC\\DC"
    assert len(out.tags_list) == 2  # the two spellings are one path, not two


def test_previous_ai_tags_are_replaced_but_user_keywords_survive():
    first_plan, (first,) = run(meta(embedded(subject=["dog"])), tag("animal", "dog"), tag("animal", "cat"))
    assert first.provenance.subjects == ["cat"]  # "dog" was the user's already
    _, (second,) = run(meta(first), tag("vehicle", "car"))
    assert "AI|animal|cat" not in second.hierarchical and "AI|animal|dog" not in second.hierarchical
    assert "cat" not in second.subject
    assert "dog" in second.subject  # the user's own flat keyword stays...
    assert "dog" in second.hierarchical  # ...and is now carried, having lost its AI twin
    assert second.subject[-1] == "car"


def test_a_tag_the_user_deleted_in_lightroom_is_rejected_for_good():
    _, (tagged,) = run(meta(embedded()), tag("animal", "dog"), tag("scene", "beach"))
    # Lightroom rewrites lr:hierarchicalSubject and dc:subject but leaves digiKam's TagsList stale.
    tagged.hierarchical = [h for h in tagged.hierarchical if h != "AI|animal|dog"]
    tagged.subject = [s for s in tagged.subject if s != "dog"]
    plan, (again,) = run(meta(tagged), tag("animal", "dog"), tag("scene", "beach"))
    assert plan.newly_rejected == [("AI", "animal", "dog")]
    assert "AI/animal/dog" not in again.tags_list
    assert ("AI", "animal", "dog") in again.provenance.rejected
    _, (later,) = run(meta(again), tag("animal", "dog"))
    assert "AI|animal|dog" not in later.hierarchical


def test_a_tag_deleted_in_digikam_is_rejected():
    _, (tagged,) = run(meta(embedded()), tag("animal", "dog"))
    tagged.tags_list, tagged.hierarchical, tagged.subject = [], [], []
    plan, (again,) = run(meta(tagged), tag("animal", "dog"))
    assert plan.newly_rejected == [("AI", "animal", "dog")]
    assert again.subject == [] and again.tags_list == []


def test_writing_the_same_tags_twice_changes_nothing():
    m = meta(embedded(subject=["Anna"], description={"x-default": "mine"}))
    _, (first,) = run(m, tag("animal", "dog", score=0.31234), caption="a dog")
    plan, (second,) = run(meta(first), tag("animal", "dog", score=0.31234), caption="a dog")
    assert owned_view(second) == owned_view(first)
    assert plan.added == [] and plan.removed == []


def test_a_new_score_updates_the_provenance_date():
    _, (first,) = run(meta(embedded()), tag("animal", "dog", score=0.3))
    plan = plan_keywords(meta(first), TagRequest(tags=(tag("animal", "dog", score=0.5),)), root="AI",
                         image_name="IMG_1.JPG", now="2027-01-01T00:00:00+00:00")
    (entry,) = plan.provenance.tags
    assert entry.score == 0.5 and entry.date.startswith("2027")


def test_a_score_that_moved_only_in_its_last_digit_is_no_change():
    """Scoring one image or a thousand at a time rounds differently in float32: 0.2014 may come back as 0.2013."""
    _, (first,) = run(meta(embedded()), tag("animal", "dog", score=0.20135))
    for noise in (0.20134, 0.2013, 0.2015):
        plan, (second,) = run(meta(first), tag("animal", "dog", score=noise))
        assert owned_view(second) == owned_view(first), noise
    plan, _ = run(meta(first), tag("animal", "dog", score=0.2020))
    assert plan.provenance.tags[0].score == 0.202


def test_tag_names_are_sanitised_for_every_field():
    _, (out,) = run(meta(embedded()), tag("food", "fish | chips/fries", score=0.2), tag("x" * 100, "ok"))
    assert "AI|food|fish - chips-fries" in out.hierarchical
    assert all(len(part.encode()) <= 64 for h in out.hierarchical for part in h.split("|"))


def test_the_root_is_configurable():
    _, (out,) = run(meta(embedded()), tag("animal", "dog"), root="Auto")
    assert out.tags_list == ["Auto/animal/dog"]


def test_a_users_caption_is_never_replaced_but_ours_is_updated():
    _, (user,) = run(meta(embedded(description={"x-default": "Grandma's garden"})), caption="a garden")
    assert user.description == {"x-default": "Grandma's garden"} and user.provenance.caption is None
    _, (ours,) = run(meta(embedded()), caption="a garden", alt_text="flowers in a garden")
    assert ours.description == {"x-default": "a garden"} and ours.provenance.caption == "a garden"
    assert ours.alt_text == {"x-default": "flowers in a garden"}
    _, (updated,) = run(meta(ours), caption="a sunny garden")
    assert updated.description == {"x-default": "a sunny garden"}
    ours.description = {"x-default": "edited by me"}
    _, (edited,) = run(meta(ours), caption="a garden again")
    assert edited.description == {"x-default": "edited by me"} and edited.provenance.caption is None


def test_iim_keywords_are_kept_and_gain_no_ai_leaves():
    _, (without,) = run(meta(embedded(subject=["a"])), tag("animal", "dog"))
    assert without.iptc_keywords is None
    _, (with_iim,) = run(meta(embedded(subject=["a"], iptc_keywords=["a", "b"])), tag("animal", "dog"))
    # AI leaves stay out of IIM: darktable imports each IIM keyword as a top-level tag
    assert with_iim.iptc_keywords == ["a", "b"]


def test_a_sidecar_an_earlier_photobrain_shared_keeps_the_other_images_tags():
    shared = XmpSource(label="IMG_1.xmp", path=Path("/photos/IMG_1.xmp"), hierarchical=["AI|animal|cat"],
                       tags_list=["AI/animal/cat"], subject=["cat"],
                       provenance=Provenance(tags=[AITag(("AI", "animal", "cat"), 0.4, "clip:test", "v1",
                                                         NOW, image="IMG_1.CR2")], subjects=["cat"]))
    plan = plan_keywords(meta(shared), TagRequest(tags=(tag("animal", "dog"),)), root="AI",
                         image_name="IMG_1.JPG", now=NOW)
    out = apply_plan(shared, plan)
    assert out.tags_list == ["AI/animal/cat", "AI/animal/dog"]
    # new entries name no image: a name.xmp is one image's now (the raw's, when there is one)
    assert [(t.path[-1], t.image) for t in out.provenance.tags] == [("cat", "IMG_1.CR2"), ("dog", "")]
    assert plan.removed == []


def test_a_carried_keyword_with_separators_stays_one_keyword_in_every_field_and_view():
    from xmp import summarize

    m = meta(embedded(subject=["c/d", "a|b", "x\\y"]))
    _, (out,) = run(m, tag("animal", "dog"))
    # verbatim in each field: how digiKam (splitting on "/") and darktable (on "|") read dc:subject before
    assert out.tags_list[:3] == ["c/d", "a|b", "x\\y"] and out.hierarchical[:3] == ["c/d", "a|b", "x\\y"]
    view = summarize(FileMetadata(path=Path("/photos/IMG_1.JPG"), sources=[out]))
    assert view.user_keywords == ["c/d", "a|b", "x\\y"] and view.user_hierarchy == []
    _, (again,) = run(meta(out), tag("animal", "dog"))
    assert owned_view(again) == owned_view(out)  # read back as the keywords they are, not as paths


def test_lightroom_parent_words_and_synonyms_are_not_promoted():
    m = meta(embedded(subject=["Anna", "Family", "People", "Annie"], hierarchical=["People|Family|Anna"]))
    _, (out,) = run(m, tag("people", "portrait"))
    assert out.hierarchical == ["People|Family|Anna", "AI|people|portrait"]
    assert out.subject == ["Anna", "Family", "People", "Annie", "portrait"]


def test_parent_words_an_earlier_photobrain_carried_are_taken_out_again():
    earlier = embedded(subject=["Anna", "Family", "People"], hierarchical=["People|Family|Anna", "Family", "People"],
                       tags_list=["People/Family/Anna", "Family", "People"],
                       provenance=Provenance(carried=[("Family",), ("People",)]))
    _, (out,) = run(meta(earlier), tag("people", "portrait"))
    assert out.tags_list == ["People/Family/Anna", "AI/people/portrait"] and out.provenance.carried == []
