"""Device and precision choice (CPU here), seeding, and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from genai_cli import runtime
from genai_cli.errors import UsageError


def test_auto_falls_back_to_cpu_fp32():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rt = runtime.setup("auto", "auto", seed=None)
    assert rt.device.type == "cpu" and rt.precision == "fp32" and rt.dtype == torch.float32
    assert rt.describe() == "using cpu (fp32)"


def test_explicit_choices_are_checked():
    import torch

    cpu = torch.device("cpu")
    assert runtime.choose_precision(cpu, "bf16") == "bf16"
    with pytest.raises(UsageError, match="fp16 is not supported on the cpu"):
        runtime.choose_precision(cpu, "fp16")
    with pytest.raises(UsageError, match="unknown precision"):
        runtime.choose_precision(cpu, "fp8")
    with pytest.raises(UsageError, match="unknown device"):
        runtime.choose_device("tpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            runtime.choose_device("cuda:0")


def test_seed_makes_torch_and_numpy_repeatable():
    import numpy as np
    import torch

    runtime.setup("cpu", "fp32", seed=123)
    a = (torch.rand(3).tolist(), np.random.rand(3).tolist())
    runtime.setup("cpu", "fp32", seed=123)
    b = (torch.rand(3).tolist(), np.random.rand(3).tolist())
    assert a == b


def test_ctrl_c_exits_130_and_keeps_answers():
    """Interrupted while waiting on stdin: what was answered stays on stdout, exit code 130."""
    exe = os.path.join(os.path.dirname(sys.executable), "genai")
    # SIGINT back to its default in the child: a shell's background job ignores it, and children inherit that
    p = subprocess.Popen(
        [exe, "embed", "similar", "-n", "1", "--vectors", "slide"],
        stdin=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    p.stdin.write("paris\n")
    p.stdin.flush()
    first = p.stdout.readline()  # the answer arrives before EOF: each answer is flushed
    assert first.split()[0] in {"london", "italy", "rome", "france", "england"}
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130
    assert "Traceback" not in err
