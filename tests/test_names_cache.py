"""The given-name list is read from gender-guesser once and then kept in the cache folder."""

from __future__ import annotations

import tripsearch.answer.names as names


def test_given_names_are_cached_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIPSEARCH_CACHE", str(tmp_path))
    monkeypatch.setattr(names, "_given_names", None)
    assert names.given_name("Sarah") and names.given_name("godfrey") and not names.given_name("Kubernetes")
    (cached,) = tmp_path.glob("given-names-*.txt")
    cached.write_text("zyxwv", encoding="utf-8")  # what is read next time is the file, not the detector
    monkeypatch.setattr(names, "_given_names", None)
    assert names.given_name("Zyxwv") and not names.given_name("Sarah")


def test_an_unwritable_cache_still_gives_the_names(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("TRIPSEARCH_CACHE", str(blocker / "sub"))  # a folder under a file cannot be made
    monkeypatch.setattr(names, "_given_names", None)
    assert names.given_name("Sarah")
