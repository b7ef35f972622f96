"""The seed policy (genai_cli/seeds.py): flag, then the section's seed, then runtime.seed, then random."""

import pytest

from genai_cli import seeds
from genai_cli.errors import UsageError


def test_flag_wins_then_section_then_runtime():
    assert seeds.choose(7, 8, 9) == (7, "--seed")
    assert seeds.choose(None, 8, 9) == (8, "config")
    assert seeds.choose(None, None, 9) == (9, "runtime.seed")
    assert seeds.choose(0, 8, 9) == (0, "--seed")  # 0 is a seed, not "unset"


def test_random_when_nobody_chose():
    drawn = {seeds.choose(None, None, None) for _ in range(5)}
    assert all(where == "random" and 0 <= seed <= seeds.MAX_SEED for seed, where in drawn)
    assert len({seed for seed, _ in drawn}) > 1
    assert "--seed" in seeds.describe(12, "random") and "12" in seeds.describe(12, "random")


@pytest.mark.parametrize("bad", [-1, 2**32, 10**12])
def test_out_of_range_is_refused_naming_its_source(bad):
    with pytest.raises(UsageError, match="config: seed must be"):
        seeds.choose(None, bad)
