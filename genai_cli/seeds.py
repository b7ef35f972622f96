"""The one seed policy of every command that draws random numbers (imagine, toy, invert, generate, chat,
embed train): the --seed flag, then the command's config section `seed`, then `runtime.seed`, then a fresh
random seed. The seed used is always recorded (a stderr line, the JSON record, the PNG's metadata), so any
result can be made again with `--seed N`.

No torch or numpy here: `choose` runs before any model loads.
"""

from __future__ import annotations

from typing import Optional

MAX_SEED = 2**32 - 1  # what every RNG genai seeds accepts (numpy's legacy seed is 32-bit)

SOURCES = ("--seed", "config", "runtime.seed", "random")


def choose(
    flag: Optional[int], section_seed: Optional[int] = None, runtime_seed: Optional[int] = None
) -> tuple[int, str]:
    """(seed, where it came from): the first of flag, section_seed, runtime_seed that is set, else a fresh one.
    `where` is one of SOURCES; "random" means nobody chose it (the line on stderr tells how to repeat the run)."""
    import secrets

    from genai_cli.errors import UsageError

    for value, where in ((flag, "--seed"), (section_seed, "config"), (runtime_seed, "runtime.seed")):
        if value is not None:
            if not 0 <= int(value) <= MAX_SEED:
                raise UsageError(f"{where}: seed must be in 0 .. {MAX_SEED}, got {value}")
            return int(value), where
    return secrets.randbits(32), "random"


def describe(seed: int, where: str) -> str:
    """The stderr line that records a seed: `seed 1234 (random; --seed 1234 repeats this run)`."""
    if where == "random":
        return f"seed {seed} (random; --seed {seed} repeats this run)"
    return f"seed {seed} (from {where})"
