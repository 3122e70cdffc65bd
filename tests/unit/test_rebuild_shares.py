"""How a rebuild deals the provinces out over its processes."""

from __future__ import annotations

from pls.rebuild import split_origins


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
