"""Several processes, one run: `torchrun --nproc_per_node N -m genai_cli imagine ...` or `accelerate launch`.

Shared by every capability that runs under a launcher: imagine (genai_cli/image/run.py), invert's data-parallel
training, and text generation. For imagine, every process plans the same jobs (the seed and first file number
come from process 0), `share` gives each its contiguous part (as accelerate's `split_between_processes` would),
and each writes its own images: none twice, none missing. Without a GPU the state is built with cpu=True, so
torch.distributed uses gloo.

The process-to-GPU rule: process k of a machine uses GPU k (LOCAL_RANK). With more processes on a machine than
it has GPUs (torchrun --nproc_per_node 2 on a 1-GPU box) NCCL would fail ("Duplicate GPU detected"): the run then
uses gloo on the CPU, with a warning, rather than sharing a GPU between processes.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")  # read when torch loads: see genai_cli/runtime.py


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
    from accelerate import PartialState

    return PartialState(cpu=cpu_only())


def local_processes() -> int:
    """Processes on this machine (torchrun's LOCAL_WORLD_SIZE; WORLD_SIZE when that is not set)."""
    for key in ("LOCAL_WORLD_SIZE", "WORLD_SIZE"):
        try:
            return max(1, int(os.environ[key]))
        except (KeyError, ValueError):
            continue
    return 1


def cpu_only() -> bool:
    """Whether a several-process run must use gloo on the CPU: no CUDA, or more processes on this machine than
    GPUs (warned about once, by process 0)."""
    import torch

    if not torch.cuda.is_available():
        return True
    procs, gpus = local_processes(), torch.cuda.device_count()
    if procs <= gpus:
        return False
    if os.environ.get("RANK", "0") == "0":
        from genai_cli import console

        console.warn(
            f"{procs} processes but {gpus} GPU(s) on this machine: NCCL needs one GPU per process, "
            "so this run uses gloo on the CPU (launch at most one process per GPU to use them)"
        )
    return True


def from_main(st: Any | None, value: Any) -> Any:
    """Process 0's `value`, on every process (a seed drawn there, the next free file number)."""
    if st is None or st.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def share(st: Any | None, total: int) -> tuple[int, int]:
    """(first, stop): this process's contiguous part of items 0..total-1, the split accelerate's
    `split_between_processes` makes (the first `total % N` processes take one more), without a list."""
    if st is None or st.num_processes == 1:
        return 0, total
    per, extra = divmod(total, st.num_processes)
    i = st.process_index
    first = i * per + min(i, extra)
    return first, first + per + (1 if i < extra else 0)


def finish(st: Any | None) -> None:
    """Wait for the others, then leave the process group cleanly."""
    if st is None or st.num_processes == 1:
        return
    import torch.distributed as dist

    st.wait_for_everyone()
    if dist.is_initialized():
        dist.destroy_process_group()
