"""The SQLite product store: replacement diffs, lookups, image outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.catalog.models import Product
from lookalike.catalog.store import ImageRecord, ProductStore
from lookalike.errors import NotFoundError


def test_replace_catalog_reports_added_changed_removed(tmp_path: Path) -> None:
    with ProductStore(tmp_path / "p.sqlite") as store:
        first = store.replace_catalog([Product("a", "A"), Product("b", "B"), Product("a", "dup")])
        assert first.as_dict() == {
            "added": 2,
            "changed": 0,
            "removed": 0,
            "unchanged": 0,
            "duplicates": 1,
        }
        assert store.get("a").title == "A"  # the first record of a duplicated id wins
        second = store.replace_catalog([Product("b", "B2"), Product("c", "C"), Product("a", "A")])
        assert (second.added, second.changed, second.removed) == (["c"], ["b"], [])
        third = store.replace_catalog([Product("c", "C")])
        assert sorted(third.removed) == ["a", "b"]
        assert store.ids() == ["c"]
        with pytest.raises(NotFoundError, match="unknown product 'a'"):
            store.get("a")


def test_lookups_by_title_url_and_search(tmp_path: Path) -> None:
    with ProductStore(tmp_path / "p.sqlite") as store:
        store.replace_catalog(
            [
                Product("1", "Red  Summer DRESS", url="https://s/1"),
                Product("2", "Blue hat", url="https://s/2/"),
            ]
        )
        assert [p.id for p in store.find_by_title("red summer dress")] == ["1"]
        assert [p.id for p in store.find_by_url("https://s/2")] == ["2"]
        assert [p.id for p in store.search("hat")] == ["2"]
        assert store.get_many(["2", "zzz"]).keys() == {"2"}


def test_image_records_roundtrip_and_prune(tmp_path: Path) -> None:
    with ProductStore(tmp_path / "p.sqlite") as store:
        store.replace_catalog([Product("1", images=["/x.jpg"])])
        store.record_images(
            [
                ImageRecord("/x.jpg", "ok", "ab", None, None),
                ImageRecord("/gone.jpg", "failed", None, "missing_file", "no such file"),
            ]
        )
        assert store.image_records()["/gone.jpg"].reason == "missing_file"
        assert store.prune_images() == 1
        assert set(store.image_records()) == {"/x.jpg"}
        assert store.stats()["images"] == {"ok": 1}
