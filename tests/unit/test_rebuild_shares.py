"""How a rebuild deals the provinces out over its processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pls.deadlines import DEFAULT_RULES, WorkingCalendar, load_rules
from pls.rebuild import Store, split_origins
from pls.rebuild_command import ShardFailed, Target, rebuild_into
from pls.settings import CommonSettings
from pls.sqlstore import Database
from services.ministry_hub.adapters.readmodel import SHARD_TABLES, NationalReadModel
from services.ministry_hub.application.projection import NationalProjection


def test_provinces_are_dealt_out_in_turn_and_no_process_gets_none() -> None:
    provinces = ["110000", "120000", "130000", "140000", "150000"]
    assert split_origins(provinces, 2) == [
        ["110000", "130000", "150000"],
        ["120000", "140000"],
    ]
    assert split_origins(provinces[:3], 8) == [["110000"], ["120000"], ["130000"]]
    assert split_origins(provinces, 1) == [provinces]
    assert split_origins(provinces, 0) == [provinces]
    dealt = split_origins(provinces, 3)
    assert sorted(p for share in dealt for p in share) == provinces


def test_a_worker_that_fails_fails_the_rebuild_and_leaves_no_shard(tmp_path: Path) -> None:
    def projection_over(db: Database) -> NationalProjection:
        if "shard" in str(getattr(db, "path", "")):
            raise RuntimeError("the shard's disk is full")
        return NationalProjection(
            NationalReadModel(db), load_rules(DEFAULT_RULES), WorkingCalendar()
        )

    target = Target(
        title="the national read model",
        service="hub",
        live=Store(str(tmp_path / "national.db"), "hub"),
        projection_over=projection_over,
        origins=["440000", "510000", "330000"],
        journal=None,
        common=CommonSettings(),
        service_url="",
        operator_token=None,
        put=lambda live, fresh, keep: None,
        shard_tables=SHARD_TABLES,
    )
    fresh = target.live.beside()
    with pytest.raises(ShardFailed, match="the shard's disk is full"):
        rebuild_into(target, fresh, use_streams=False, workers=2)
    assert not fresh.beside("shard1").exists()

    one = rebuild_into(target, fresh, use_streams=False, workers=1)  # no shard: no failure
    assert list(one["sources"]) == ["440000", "510000", "330000"]
