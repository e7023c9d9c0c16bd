"""Noticing source changes for `--reload`: a standard-library mtime poller, or watchfiles.

`PollingWatcher` needs nothing but `os.stat`, and keeps its CPU use bounded on large trees:
a full pass stats every watched file (about 2 microseconds each, so 20 ms for 10,000 files),
and the next full pass is scheduled so that passes take at most `cpu_budget` of one core
(1.5% by default; `bench/reload_cpu.py` measures it). Between full passes, a cheap "hot" pass
every `delay` seconds re-checks the files edited most recently, which are the ones a
developer is editing right now, so a save is usually noticed within `delay` even when a full
pass only runs every second or two. Directories are re-listed only when their own mtime
changes (a file was added, removed or renamed in them).

`WatchfilesWatcher` uses the optional `watchfiles` package (OS notifications, no polling)
when it is installed. Both apply the same `PathFilter`.

Watchers must never import the application, and must never report the first look at a tree
as a change.
"""

from __future__ import annotations

import fnmatch
import heapq
import logging
import os
import select
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DEFAULT_EXCLUDES",
    "DEFAULT_INCLUDES",
    "PathFilter",
    "PollingWatcher",
    "Watcher",
    "WatchfilesWatcher",
    "create_watcher",
]

logger = logging.getLogger("moreweb.error")

DEFAULT_INCLUDES = ("*.py",)
# Hidden files and directories, compiled files, editor swap and backup files.
DEFAULT_EXCLUDES = (".*", "*.py[cod]", "*.sw.*", "~*", "*~")
# Directories that never hold the app's source but can hold very many files.
SKIPPED_DIRECTORIES = frozenset(("__pycache__", "node_modules", "site-packages"))

HOT_FILES = 64  # files re-checked on every hot pass


class Watcher(Protocol):
    """Something that waits for source changes."""

    name: str

    def wait(self, timeout: float) -> set[Path]:
        """Block up to `timeout` seconds; return the changed files (empty if none, or when
        interrupted so the caller can handle a signal)."""

    def close(self) -> None:
        """Release what the watcher holds (threads, descriptors)."""


class PathFilter:
    """Which files and directories are watched: `--reload-include` / `--reload-exclude`.

    A pattern without "/" is matched against a file's or directory's name; a pattern with
    "/" against its whole path (relative paths from the current directory). Exclude patterns
    given explicitly hide directories as well as files; of the defaults only ".*" does (so
    that `*.py[cod]` never hides a package). A file matching an include pattern given
    explicitly is only subject to the excludes given explicitly, so `--reload-include
    '.env'` works despite the default `.*` exclude.
    """

    def __init__(self, includes: Sequence[str] = (), excludes: Sequence[str] = (),
                 roots: Sequence[str] = ()) -> None:
        self.includes = list(dict.fromkeys([*DEFAULT_INCLUDES, *includes]))
        self.explicit_includes = list(includes)
        self.explicit_excludes = list(excludes)
        defaults = [pattern for pattern in DEFAULT_EXCLUDES if pattern not in includes]
        self.excludes = list(dict.fromkeys([*defaults, *excludes]))
        self.directory_excludes = [pattern for pattern in self.excludes
                                   if pattern in excludes or pattern == ".*"]
        self.excluded_paths = {
            os.path.abspath(pattern) for pattern in excludes
            if not _is_glob(pattern) and os.path.isdir(pattern)
        }
        self.roots = [os.path.abspath(root) for root in roots]

    def watches_file(self, path: str) -> bool:
        name = os.path.basename(path)
        if any(_matches(pattern, name, path) for pattern in self.explicit_includes):
            return not any(_matches(pattern, name, path) for pattern in self.explicit_excludes)
        return (any(_matches(pattern, name, path) for pattern in DEFAULT_INCLUDES)
                and not any(_matches(pattern, name, path) for pattern in self.excludes))

    def watches_directory(self, path: str) -> bool:
        name = os.path.basename(path)
        if name in SKIPPED_DIRECTORIES or path in self.excluded_paths:
            return False
        return not any(_matches(pattern, name, path) for pattern in self.directory_excludes)

    def __call__(self, change: Any, path: str) -> bool:
        """The watchfiles filter signature: (change, path) -> watch it?

        Only the directories below the watched root count: a project living under a hidden
        directory (~/.local/src/app) is still watched.
        """
        path = os.path.abspath(path)
        root = max((r for r in self.roots if path.startswith(r.rstrip(os.sep) + os.sep)),
                   key=len, default=os.path.dirname(path))
        directory = os.path.dirname(path)
        while len(directory) > len(root):
            if not self.watches_directory(directory):
                return False
            directory = os.path.dirname(directory)
        return self.watches_file(path)


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def _matches(pattern: str, name: str, path: str) -> bool:
    if "/" in pattern:
        return fnmatch.fnmatchcase(path, os.path.abspath(pattern)) or fnmatch.fnmatchcase(
            path, pattern)
    return fnmatch.fnmatchcase(name, pattern)


class PollingWatcher:
    """The standard-library watcher: periodic `os.stat`, with a CPU budget (module docstring)."""

    name = "StatReload"

    def __init__(self, roots: Iterable[str | os.PathLike[str]], path_filter: PathFilter,
                 delay: float = 0.25, cpu_budget: float = 0.015,
                 interrupt_fd: int | None = None) -> None:
        self.roots = [os.path.abspath(root) for root in roots]
        self.filter = path_filter
        self.delay = max(delay, 0.01)
        self.cpu_budget = cpu_budget
        self.interrupt_fd = interrupt_fd
        self._files: dict[str, tuple[int, int]] = {}  # path -> (mtime_ns, size)
        self._dirs: dict[str, int] = {}  # directory -> mtime_ns when last listed
        self._dir_files: dict[str, set[str]] = {}
        self._dir_subdirs: dict[str, set[str]] = {}
        self._hot: list[str] = []
        self.full_passes = 0
        self.last_pass_cpu = 0.0
        self._baseline()
        # One throw-away pass measures what a full pass costs here (listing the tree for the
        # baseline costs several times more, and would space the passes too far apart).
        self._full_pass()
        now = time.monotonic()
        self._next_full = now + self._full_interval()
        self._next_hot = now + self.delay

    # -- public ------------------------------------------------------------------------------

    def wait(self, timeout: float) -> set[Path]:
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if now >= self._next_full:
                changed = self._full_pass()
                now = time.monotonic()
                self._next_full = now + self._full_interval()
                self._next_hot = now + self.delay
            elif now >= self._next_hot:
                changed = self._hot_pass()
                self._next_hot = now + self.delay
            else:
                changed = set()
            if changed:
                self._promote(changed)
                return {Path(path) for path in changed}
            sleep = min(self._next_full, self._next_hot, deadline) - time.monotonic()
            if time.monotonic() >= deadline:
                return set()
            if self._sleep(max(sleep, 0.0)):
                return set()  # interrupted: let the caller handle its signal

    def close(self) -> None:
        self._files.clear()
        self._dirs.clear()

    @property
    def watched_files(self) -> int:
        return len(self._files)

    # -- scanning ----------------------------------------------------------------------------

    def _baseline(self) -> None:
        for root in self.roots:
            if os.path.isdir(root):
                self._list_directory(root, report=None)
        # The most recently modified files are the likeliest to be saved again soon.
        newest = heapq.nlargest(HOT_FILES, self._files.items(), key=lambda item: item[1][0])
        self._hot = [path for path, _ in newest]

    def _list_directory(self, directory: str, report: set[str] | None) -> None:
        """(Re)list one directory: record its files and recurse into new subdirectories."""
        try:
            mtime = os.stat(directory).st_mtime_ns
            entries = list(os.scandir(directory))
        except OSError:
            self._forget_directory(directory, report)
            return
        self._dirs[directory] = mtime
        files: set[str] = set()
        subdirs: set[str] = set()
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if self.filter.watches_directory(entry.path):
                    subdirs.add(entry.path)
            elif self.filter.watches_file(entry.path):
                files.add(entry.path)
        old_files = self._dir_files.get(directory, set())
        for path in files - old_files:
            try:
                stat = os.stat(path)
            except OSError:
                continue
            self._files[path] = (stat.st_mtime_ns, stat.st_size)
            if report is not None:
                report.add(path)  # a new file
        for path in old_files - files:
            self._files.pop(path, None)
            if report is not None:
                report.add(path)  # a deleted or renamed file
        self._dir_files[directory] = files
        old_subdirs = self._dir_subdirs.get(directory, set())
        self._dir_subdirs[directory] = subdirs
        for gone in old_subdirs - subdirs:
            self._forget_directory(gone, report)
        for new in subdirs - old_subdirs:
            self._list_directory(new, report)

    def _forget_directory(self, directory: str, report: set[str] | None) -> None:
        self._dirs.pop(directory, None)
        for path in self._dir_files.pop(directory, set()):
            self._files.pop(path, None)
            if report is not None:
                report.add(path)
        for sub in self._dir_subdirs.pop(directory, set()):
            self._forget_directory(sub, report)

    def _full_pass(self) -> set[str]:
        start = time.process_time()
        changed: set[str] = set()
        stat = os.stat
        for directory, mtime in list(self._dirs.items()):
            try:
                current = stat(directory).st_mtime_ns
            except OSError:
                current = -1
            if current != mtime and directory in self._dirs:
                self._list_directory(directory, changed)
        files = self._files
        for path, known in list(files.items()):
            try:
                result = stat(path)
            except OSError:
                continue  # gone: its directory's listing reports it
            if (result.st_mtime_ns, result.st_size) != known:
                files[path] = (result.st_mtime_ns, result.st_size)
                changed.add(path)
        self.full_passes += 1
        self.last_pass_cpu = time.process_time() - start
        return changed

    def _hot_pass(self) -> set[str]:
        changed: set[str] = set()
        files = self._files
        for path in self._hot:
            known = files.get(path)
            if known is None:
                continue
            try:
                result = os.stat(path)
            except OSError:
                continue
            if (result.st_mtime_ns, result.st_size) != known:
                files[path] = (result.st_mtime_ns, result.st_size)
                changed.add(path)
        return changed

    def _promote(self, changed: set[str]) -> None:
        """Changed files become the hottest: they are checked on every hot pass from now on."""
        hot = [path for path in changed if path in self._files]
        self._hot = (hot + [path for path in self._hot if path not in changed])[:HOT_FILES]

    def _full_interval(self) -> float:
        """How long until the next full pass, so that passes stay within the CPU budget."""
        if self.cpu_budget <= 0:
            return self.delay
        return max(self.delay, self.last_pass_cpu / self.cpu_budget)

    def _sleep(self, seconds: float) -> bool:
        """Sleep; return True if the interrupt descriptor became readable first."""
        if self.interrupt_fd is None:
            time.sleep(seconds)
            return False
        readable, _, _ = select.select([self.interrupt_fd], [], [], seconds)
        return bool(readable)


class WatchfilesWatcher:
    """OS file notifications through the optional `watchfiles` package."""

    name = "WatchFiles"

    def __init__(self, roots: Iterable[str | os.PathLike[str]], path_filter: PathFilter,
                 delay: float = 0.25, tick: float = 0.25) -> None:
        import watchfiles

        self.roots = [os.path.abspath(root) for root in roots]
        self._iterator = iter(watchfiles.watch(
            *self.roots, watch_filter=path_filter, debounce=int(delay * 1000) or 1,
            step=50, rust_timeout=int(tick * 1000) or 1, yield_on_timeout=True,
            raise_interrupt=False,
        ))

    def wait(self, timeout: float) -> set[Path]:
        try:
            changes = next(self._iterator)
        except StopIteration:
            return set()
        return {Path(path) for _, path in changes}

    def close(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()


def create_watcher(roots: Sequence[str], includes: Sequence[str] = (),
                   excludes: Sequence[str] = (), delay: float = 0.25,
                   interrupt_fd: int | None = None, use_watchfiles: bool | None = None
                   ) -> Watcher:
    """The best available watcher: watchfiles when installed (unless told otherwise)."""
    path_filter = PathFilter(includes, excludes, roots)
    if use_watchfiles is not False:
        try:
            return WatchfilesWatcher(roots, path_filter, delay)
        except ImportError:
            if use_watchfiles:
                raise
    return PollingWatcher(roots, path_filter, delay, interrupt_fd=interrupt_fd)
