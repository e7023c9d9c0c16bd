"""The vocabulary of the suite: a raw-bytes case, what a server may do with it, and a verdict.

A case states its expectation as a set of acceptable outcomes, each an exact sequence of
responses followed by a connection state, so "accept", "reject and close", "either" and "wait"
are all the same shape and one judge can check them. This module only describes; it must never
do I/O or know about any particular server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class End(Enum):
    """What the connection must look like once the expected responses have arrived."""

    OPEN = "open"
    CLOSED = "closed"
    ANY = "any"


@dataclass(frozen=True)
class Echo:
    """What the echo app must report for an accepted request (None: not checked)."""

    method: str
    target: str | None
    http_version: str | None = "1.1"
    headers: tuple[tuple[str, str], ...] | None = None
    body: bytes = b""
    trailers: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Ok:
    """A 2xx final response; `echo` is checked when the response has a body to check."""

    echo: Echo | None = None
    interim: tuple[int, ...] | None = None  # exact 1xx statuses expected first; None: any


@dataclass(frozen=True)
class Err:
    """An error response with one of `statuses`."""

    statuses: tuple[int, ...] = (400,)
    framed: bool = False  # also require Content-Length/chunked framing and `connection: close`


Step = Ok | Err


@dataclass(frozen=True)
class Outcome:
    responses: tuple[Step, ...]
    end: End


@dataclass(frozen=True)
class Case:
    """One raw-bytes scenario.

    `send` is written in order; when `await_interim` is set, the suite waits (bounded) for a 1xx
    response after the first part before sending the rest, like a client honouring
    `Expect: 100-continue`. `lenient` cases run against the server started in lenient-LF mode.
    """

    name: str
    category: str
    rfc: str
    send: tuple[bytes, ...]
    outcomes: tuple[Outcome, ...]
    note: str = ""
    await_interim: bool = False
    lenient: bool = False
    head_requests: tuple[int, ...] = ()  # indexes of requests whose responses carry no body
    # True where the RFC lets a server choose and the expectation is moreweb's stricter
    # policy; the comparison table marks these rows so peers are not read as non-compliant.
    policy: bool = False

    @property
    def case_id(self) -> str:
        return f"{self.category}/{self.name}"


def accept(*echoes: Echo | Ok, end: End = End.OPEN) -> tuple[Outcome, ...]:
    steps = tuple(step if isinstance(step, Ok) else Ok(step) for step in echoes)
    return (Outcome(steps, end),)


def reject(*statuses: int, before: tuple[Echo | Ok, ...] = ()) -> tuple[Outcome, ...]:
    steps: list[Step] = [step if isinstance(step, Ok) else Ok(step) for step in before]
    steps.append(Err(statuses or (400,)))
    return (Outcome(tuple(steps), End.CLOSED),)


def either(echo: Echo, *statuses: int, end: End = End.OPEN) -> tuple[Outcome, ...]:
    return accept(echo, end=end) + reject(*statuses)


def wait(before: tuple[Echo | Ok, ...] = ()) -> tuple[Outcome, ...]:
    steps = tuple(step if isinstance(step, Ok) else Ok(step) for step in before)
    return (Outcome(steps, End.OPEN),)


@dataclass
class Result:
    """The verdict for one case (or corpus file, or ASGI check) against one server."""

    case_id: str
    category: str
    passed: bool
    seen: str  # short: the statuses seen and the connection state, e.g. "200,400 closed"
    detail: str = ""
    rfc: str = ""
    extra: dict[str, object] = field(default_factory=dict)
