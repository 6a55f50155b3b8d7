"""Samples a server with py-spy while it is under load, and summarizes where its time goes.

py-spy's raw output has one line per distinct stack, `frame;frame;...;leaf count`.
The summary counts each function once per sample, as the innermost frame (self time)
and anywhere on the stack (inclusive time). A thread waiting to take the GIL shows as
pthread_cond_timedwait right under the C function that wants it back (CPython 3.11's
take_gil has no symbol of its own); those samples are also grouped by that function and
the nearest Python frame of ours, which is where contention for the interpreter shows.
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
    gil_wait: float  # share of samples waiting to take the GIL
    gil_wait_sites: list[FrameShare]  # where those waits are, by the frame that waits
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


_GIL_WAIT = "pthread_cond_timedwait"
_NOT_GIL = ("grpc", "absl", "std::")  # waits of gRPC's own queues and locks
_OURS = ("flightserver/", "Middleware")


def _gil_wait_site(frames: list[str]) -> str | None:
    """`waiting frame [in our nearest frame]` if this stack waits for the GIL, else None."""
    index = next((i for i, frame in enumerate(frames) if frame.startswith(_GIL_WAIT)), None)
    if not index or any(part in frames[index - 1] for part in _NOT_GIL):
        return None
    waiting = frames[index - 1]
    ours = next((f for f in reversed(frames[:index]) if any(p in f for p in _OURS)), None)
    return waiting if ours is None or ours == waiting else f"{waiting} [in {ours}]"


def summarize_profile(path: Path, mode: str, top: int = 12) -> ProfileSummary:
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    waits: Counter[str] = Counter()
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
        site = _gil_wait_site(frames)
        if site is not None:
            waits[site] += count
    denominator = max(total, 1)

    def shares(counter: Counter[str]) -> list[FrameShare]:
        return [FrameShare(frame, n / denominator) for frame, n in counter.most_common(top)]

    return ProfileSummary(
        mode,
        total,
        shares(leaf),
        shares(inclusive),
        waits.total() / denominator,
        shares(waits),
        str(path),
    )
