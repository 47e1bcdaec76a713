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
