"""Samples a server with py-spy while it is under load, and summarizes where its time goes.

py-spy's raw output has one line per distinct stack, `frame;frame;...;leaf count`.
The summary counts each function once per sample, as the innermost frame (self time)
and anywhere on the stack (inclusive time).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec

_ADDRESS = re.compile(r"^0x[0-9a-f]+ ")


class FrameShare(msgspec.Struct, frozen=True):
    frame: str
    share: float  # of all samples


class ProfileSummary(msgspec.Struct, frozen=True):
    mode: str
    samples: int
    self_time: list[FrameShare]
    inclusive_time: list[FrameShare]
    raw_path: str


def record(pid: int, seconds: float, output: Path, gil_only: bool) -> subprocess.Popen[bytes]:
    """Starts py-spy on `pid` for `seconds`; native frames show the Rust and C++ underneath.

    With `gil_only`, only samples of the thread holding the GIL are kept: the
    interpreter's serial part.
    """
    py_spy = Path(sys.executable).parent / "py-spy"
    command = [
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(output),
        "--native",
    ]
    if gil_only:
        command.append("--gil")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _frame_name(frame: str) -> str:
    # Unsymbolized native frames: keep the library, drop the address.
    return _ADDRESS.sub("", frame)


def summarize_profile(path: Path, mode: str, top: int = 12) -> ProfileSummary:
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        total += count
        leaf[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    denominator = max(total, 1)

    def shares(counter: Counter[str]) -> list[FrameShare]:
        return [FrameShare(frame, n / denominator) for frame, n in counter.most_common(top)]

    return ProfileSummary(mode, total, shares(leaf), shares(inclusive), str(path))
