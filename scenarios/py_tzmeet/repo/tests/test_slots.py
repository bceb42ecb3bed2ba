from tzmeet import Slot, common_window, overlap

ANA = Slot.parse("09:00+02:00", "17:00+02:00")
BEN = Slot.parse("09:00-08:00", "17:00-08:00")
CY = Slot.parse("10:00+03:00", "18:00+03:00")
DEV = Slot.parse("13:00+02:00", "20:00+02:00")


def test_same_zone():
    assert overlap(ANA, DEV) == (11 * 60, 15 * 60)
    assert common_window([ANA, DEV]) == "11:00-15:00 UTC"


def test_different_zones_same_utc_hours():
    assert common_window([ANA, CY]) == "07:00-15:00 UTC"


def test_no_overlap_across_the_atlantic():
    assert overlap(ANA, BEN) is None
    assert common_window([ANA, BEN]) is None


def test_three_people():
    assert common_window([ANA, CY, DEV]) == "11:00-15:00 UTC"
