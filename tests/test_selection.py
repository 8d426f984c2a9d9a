"""Encoder selection (Figure 15): the sample set, the corruptions and the separation measures."""
import numpy as np
import pytest

from ainkit.reproduction.analyses import corrupt, selection


def test_sample_set_is_big_enough_and_clean():
    good = selection.load_samples()
    assert len(good) >= 100 and len({r["id"] for r in good}) == len(good)
    assert all(r["en"].strip() and r["ar"].strip() for r in good)
    assert sum("ar_wrong_gender" in r for r in good) >= 5


def test_corruptions_are_documented_and_change_the_arabic():
    good = selection.load_samples()
    poor = corrupt.make_poor(good, seed=1)
    assert len(poor) == len(good)
    assert {p["corruption"] for p in poor} == set(corrupt.KINDS)
    by_id = {g["id"]: g for g in good}
    for p in poor:
        assert p["ar"] != by_id[p["source_id"]]["ar"] and p["en"] == by_id[p["source_id"]]["en"]
    assert corrupt.make_poor(good, seed=1) == poor  # deterministic


@pytest.mark.parametrize("good, poor, auc", [
    ([0.9, 0.8], [0.1, 0.2], 1.0), ([0.1, 0.2], [0.9, 0.8], 0.0), ([0.5, 0.5], [0.5, 0.5], 0.5), ([0.9, 0.2], [0.5], 0.5),
])
def test_roc_auc(good, poor, auc):
    assert selection.roc_auc(np.array(good), np.array(poor)) == pytest.approx(auc)
