"""The Intel id table: loads, has the ids people own, and rejects its own mistakes."""

from __future__ import annotations

import pytest

from ipex_integration.hardware import intel_ids


@pytest.mark.parametrize(
    "device_id, family, integrated, name_part",
    [
        (0x56A0, "Arc Alchemist", False, "A770"),
        (0x56A1, "Arc Alchemist", False, "A750"),
        (0x5690, "Arc Alchemist", False, "A770M"),
        (0xE20B, "Arc Battlemage", False, "B580"),
        (0xE20C, "Arc Battlemage", False, "B570"),
        (0x0BD5, "Data Center GPU Max", False, "1550"),
        (0x0BDA, "Data Center GPU Max", False, "1100"),
        (0x56C0, "Data Center GPU Flex", False, "170"),
        (0x56C1, "Data Center GPU Flex", False, "140"),
        (0x7D55, "Meteor Lake", True, "Meteor Lake"),
        (0x7DD5, "Meteor Lake", True, "Meteor Lake"),
        (0x64A0, "Lunar Lake", True, "Lunar Lake"),
        (0x7D51, "Arrow Lake", True, "Arrow Lake"),
        (0x7D67, "Arrow Lake", True, "Arrow Lake"),
        (0x46A6, "Alder Lake", True, "Iris Xe"),
        (0x4680, "Alder Lake", True, "770"),
        (0xA7A0, "Raptor Lake", True, "Iris Xe"),
        (0xA780, "Raptor Lake", True, "770"),
        (0x9A49, "Tiger Lake", True, "Iris Xe"),
    ],
)
def test_known_ids(device_id, family, integrated, name_part):
    info = intel_ids.lookup(device_id)
    assert info is not None
    assert (info.family, info.integrated) == (family, integrated)
    assert name_part in info.name


def test_unknown_id():
    assert intel_ids.lookup(0x0001) is None


def test_table_is_big_and_has_both_kinds():
    ids = intel_ids.known_ids()
    assert len(ids) > 200
    kinds = {intel_ids.lookup(i).integrated for i in ids}
    assert kinds == {True, False}


def test_duplicate_id_in_table_is_an_error():
    text = """
[[family]]
family = "A"
integrated = true
default_name = "a"
ids = ["0x1234"]
[[family]]
family = "B"
integrated = false
default_name = "b"
ids = ["0x1234"]
"""
    with pytest.raises(ValueError, match="0x1234 listed twice"):
        intel_ids.parse_table(text)


def test_name_for_id_outside_family_is_an_error():
    text = """
[[family]]
family = "A"
integrated = true
default_name = "a"
ids = ["0x1234"]
[family.names]
"0x9999" = "stray"
"""
    with pytest.raises(ValueError, match="0x9999"):
        intel_ids.parse_table(text)
