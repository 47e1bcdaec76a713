"""The language detector's uncompressed model copy (tripsearch.posts.language): same answers as py3langid,
and a damaged or unwritable copy never changes an answer, only the speed."""

from __future__ import annotations

import json
import re

import py3langid
import pytest

from tripsearch.posts import language

TEXTS = [
    "We spent the afternoon in the observability track; the talk on tracing was the best of the day.",
    "Am Nachmittag waren wir im Observability-Track; der Vortrag über Tracing war der beste des Tages.",
    "Por la tarde fuimos a la sesión de observabilidad; la charla sobre trazas fue la mejor del día.",
    "`kubectl get pods` | grep -v Running  # [notes](http://example.com)",
    "",
]


def _expected(body: str) -> str:
    sample = re.sub(r"[`*_#>\[\]()<>{}|]", " ", body[:4000])
    return py3langid.classify(sample)[0] if sample.strip() else "en"


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty cache folder and no identifier loaded yet in this process."""
    monkeypatch.setenv("TRIPSEARCH_LANGID_CACHE", str(tmp_path / "langid"))
    monkeypatch.setattr(language, "_identifier", None)
    return tmp_path / "langid"


def _reload(monkeypatch):
    monkeypatch.setattr(language, "_identifier", None)
    return [language.detect_language(t) for t in TEXTS]


def test_copy_is_made_once_and_answers_as_py3langid(fresh, monkeypatch):
    first = [language.detect_language(t) for t in TEXTS]
    assert first == [_expected(t) for t in TEXTS]
    assert first[:3] == ["en", "de", "es"]
    (folder,) = fresh.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{name}.npy" for name in language._ARRAYS] + ["probe.json"]
    )
    assert _reload(monkeypatch) == first  # now read from the copy
    assert [p.name for p in fresh.iterdir()] == [folder.name]  # not made again


def test_damaged_copy_falls_back_and_is_replaced(fresh, monkeypatch):
    expected = [language.detect_language(t) for t in TEXTS]
    (folder,) = fresh.iterdir()
    (folder / "nextmove.npy").write_bytes((folder / "nextmove.npy").read_bytes()[:1000])  # truncated
    assert _reload(monkeypatch) == expected
    assert (folder / "nextmove.npy").stat().st_size > 1000  # remade
    probe = json.loads((folder / "probe.json").read_text())
    probe["probe"][1][1] += 1.0  # a copy whose answers differ from the package's is never used
    (folder / "probe.json").write_text(json.dumps(probe))
    assert _reload(monkeypatch) == expected
    assert json.loads((folder / "probe.json").read_text())["probe"][1][1] == probe["probe"][1][1] - 1.0  # remade
    assert _reload(monkeypatch) == expected


def test_unwritable_cache_still_detects(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TRIPSEARCH_LANGID_CACHE", str(blocker / "langid"))
    monkeypatch.setattr(language, "_identifier", None)
    assert [language.detect_language(t) for t in TEXTS] == [_expected(t) for t in TEXTS]


def test_another_py3langid_layout_uses_its_own_loading(fresh, monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "py3langid.langid", types.ModuleType("py3langid.langid"))  # no MODEL_FILE...
    assert [language.detect_language(t) for t in TEXTS[:3]] == ["en", "de", "es"]
    assert not fresh.exists()  # nothing cached for a layout it does not know


def test_corrupt_bytes_the_probes_never_read_are_caught(fresh, monkeypatch):
    """Bytes of the copy damaged where the probe texts never look (rows of ``ptc`` only another text uses)
    must not change that text's language: the probes alone passed such a copy and it answered wrongly."""
    import numpy as np
    from py3langid.langid import visit_counts

    text = "Le matin nous avons assisté à la conférence sur les bases de données, puis nous avons déjeuné ensemble."
    expected = _expected(text)
    assert language.detect_language(text) == expected == "fr"
    ident = language.identifier()

    def rows(t: str) -> set[int]:
        return set(visit_counts(ident.tk_nextmove, ident._rowbase, ident.tk_output, ident._encode(t)))

    unseen = sorted(rows(text) - set().union(*(rows(p) for p in language._PROBES)))
    assert unseen
    (folder,) = fresh.iterdir()
    ptc = np.load(folder / "ptc.npy", mmap_mode="r+")
    wrong = ident.nb_classes.index("ja")
    ptc[unseen, :] = -60.0  # as bit rot or a bad disk block would leave them: the file's size and header intact
    ptc[unseen, wrong] = 0.0
    ptc.flush()
    del ptc
    monkeypatch.setattr(language, "_identifier", None)
    assert language.detect_language(text) == expected
    assert [language.detect_language(t) for t in TEXTS] == [_expected(t) for t in TEXTS]
