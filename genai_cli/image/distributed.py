"""Several processes, one run: `torchrun --nproc_per_node N -m genai_cli imagine ...` or `accelerate launch`.

Every process plans the same jobs (the seed and first file number come from process 0),
`split_between_processes` gives each its share, and each writes its own images: none twice,
none missing. Without a GPU the state is built with cpu=True, so torch.distributed uses gloo.
"""

from __future__ import annotations

import os
from typing import Any


def launched() -> bool:
    """Started by torchrun / accelerate launch with more than one process."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def state() -> Any | None:
    """accelerate's PartialState when launched with several processes, else None."""
    if not launched():
        return None
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def from_main(st: Any | None, value: Any) -> Any:
    """Process 0's `value`, on every process (a seed drawn there, the next free file number)."""
    if st is None or st.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def my_share(st: Any | None, jobs: list) -> list:
    """This process's part of `jobs` (all of them when there is one process)."""
    if st is None or st.num_processes == 1:
        return list(jobs)
    with st.split_between_processes(list(jobs)) as mine:
        return list(mine)


def finish(st: Any | None) -> None:
    """Wait for the others, then leave the process group cleanly."""
    if st is None or st.num_processes == 1:
        return
    import torch.distributed as dist

    st.wait_for_everyone()
    if dist.is_initialized():
        dist.destroy_process_group()
