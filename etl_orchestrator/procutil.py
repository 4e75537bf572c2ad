"""Process helpers for what `dev` starts: tie a child to its parent, signal a process group."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
# Resolved once in the parent: the hook below runs between fork and exec, where importing or
# looking anything up could deadlock on a lock another thread held at fork time.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` that has the kernel send `sig` to the child when the starting thread dies.

    This is what stops children if the supervisor itself is killed with SIGKILL. Call it, and
    start the child, from a thread that lives as long as the child should (the main thread).
    """
    parent = os.getpid()
    number = int(sig)

    def hook() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, number)
        if os.getppid() != parent:
            # The parent died before the request above was in place: nobody would stop us.
            os._exit(1)

    return hook


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send `sig` to every process of group `pgid`; False if the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # A zombie leader with no other members can report EPERM: the group is effectively gone.
        return False
    return True
