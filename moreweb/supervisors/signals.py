"""Signal handling shared by the supervisors: handlers plus a self-pipe that wakes `select`.

A supervisor sleeps in `select()` on its workers' sentinels; a signal must wake it at once,
so the handler only records the signal and `signal.set_wakeup_fd` writes a byte to the pipe.
Everything here is undone by `restore`, so tests can run supervisors in-process.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

Handler = Callable[[int, "FrameType | None"], None]


class SignalWakeup:
    """Mixin: `_install_signals` / `_restore_signals` around a supervisor's main loop."""

    handled_signals: tuple[int, ...] = ()
    _wakeup_r = -1
    _wakeup_w = -1

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        raise NotImplementedError

    def _install_signals(self) -> dict[int, Any]:
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_r, False)
        os.set_blocking(self._wakeup_w, False)
        previous: dict[int, Any] = {sig: signal.signal(sig, self._on_signal)
                                    for sig in self.handled_signals}
        previous[-1] = signal.set_wakeup_fd(self._wakeup_w)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        signal.set_wakeup_fd(previous.pop(-1, -1))
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for fd in (self._wakeup_r, self._wakeup_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wakeup_r = self._wakeup_w = -1
