"""The HTTP/1.1 connection state machine: every state and every transition lives in this file.

Both sides of a connection move through the same kind of states; what differs by role is the
table of events each side may send. Code outside this module reads states but never assigns
them, so a reader can check the whole protocol against RFC 9112 here, table by table:

- `EVENT_TRIGGERED`: role -> current state -> event type (or (event type, switch kind)) ->
  next state. An event missing from the table is a protocol violation by whoever sent it.
- `_settle()`: the state-triggered transitions, which depend on both sides at once
  (keep-alive, protocol switches, one side closing).

The machine knows nothing about bytes, headers or sockets.
"""

from __future__ import annotations

from typing import Final

from .errors import LocalProtocolError
from .events import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    Request,
    Response,
)


class State:
    """A named state; compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


IDLE: Final = State("IDLE")
SEND_RESPONSE: Final = State("SEND_RESPONSE")
SEND_BODY: Final = State("SEND_BODY")
DONE: Final = State("DONE")
MUST_CLOSE: Final = State("MUST_CLOSE")
CLOSED: Final = State("CLOSED")
MIGHT_SWITCH_PROTOCOL: Final = State("MIGHT_SWITCH_PROTOCOL")
SWITCHED_PROTOCOL: Final = State("SWITCHED_PROTOCOL")
ERROR: Final = State("ERROR")

CLIENT: Final = 0
SERVER: Final = 1

# The two ways out of HTTP/1.1 (RFC 9110 §7.8 Upgrade, §9.3.6 CONNECT). A client request
# *proposes* a switch; the server's answer accepts it (101, or 2xx to CONNECT) or declines it.
SWITCH_UPGRADE: Final = "upgrade"
SWITCH_CONNECT: Final = "connect"

EVENT_TRIGGERED: Final[dict[int, dict[State, dict[object, State]]]] = {
    CLIENT: {
        IDLE: {Request: SEND_BODY, ConnectionClosed: CLOSED},
        SEND_BODY: {Data: SEND_BODY, EndOfMessage: DONE},
        DONE: {ConnectionClosed: CLOSED},
        MUST_CLOSE: {ConnectionClosed: CLOSED},
        CLOSED: {ConnectionClosed: CLOSED},
        MIGHT_SWITCH_PROTOCOL: {},
        SWITCHED_PROTOCOL: {},
        ERROR: {},
    },
    SERVER: {
        # A server may answer before any request arrived: 408 on a head timeout, 400 on junk.
        IDLE: {ConnectionClosed: CLOSED, Response: SEND_BODY},
        SEND_RESPONSE: {
            InformationalResponse: SEND_RESPONSE,
            Response: SEND_BODY,
            (InformationalResponse, SWITCH_UPGRADE): SWITCHED_PROTOCOL,
            (Response, SWITCH_CONNECT): SWITCHED_PROTOCOL,
        },
        SEND_BODY: {Data: SEND_BODY, EndOfMessage: DONE},
        DONE: {ConnectionClosed: CLOSED},
        MUST_CLOSE: {ConnectionClosed: CLOSED},
        CLOSED: {ConnectionClosed: CLOSED},
        SWITCHED_PROTOCOL: {},
        ERROR: {},
    },
}

_ROLE_NAMES: Final = ("client", "server")
_GOING_AWAY: Final = (MUST_CLOSE, CLOSED)
# Client states in which a state-triggered transition may be due.
_COUPLED: Final = (MUST_CLOSE, CLOSED, MIGHT_SWITCH_PROTOCOL)


class ConnectionState:
    """Both sides' states, plus the facts that couple them (keep-alive, switch proposals)."""

    __slots__ = ("keep_alive", "pending_switch_proposals", "states")

    def __init__(self) -> None:
        self.keep_alive = True
        self.pending_switch_proposals: set[str] = set()
        self.states: list[State] = [IDLE, IDLE]  # indexed by CLIENT / SERVER

    def process_error(self, role: int) -> None:
        self.states[role] = ERROR
        self._settle()

    def process_keep_alive_disabled(self) -> None:
        self.keep_alive = False
        self._settle()

    def process_client_switch_proposal(self, switch: str) -> None:
        self.pending_switch_proposals.add(switch)
        self._settle()

    def process_event(self, role: int, event_type: type, accepted_switch: str | None = None
                      ) -> None:
        """Apply one event sent by `role`; raise if the table does not allow it.

        Hot path: runs four times per request/response cycle (see bench/engine.py).
        """
        states = self.states
        state = states[role]
        key: object = event_type if accepted_switch is None else (event_type, accepted_switch)
        try:
            states[role] = EVENT_TRIGGERED[role][state][key]
        except KeyError:
            raise LocalProtocolError(
                f"can't handle event type {event_type.__name__} when role="
                f"{_ROLE_NAMES[role]} and state={state!r}", 500) from None
        if role == CLIENT:
            if event_type is Request and states[SERVER] is IDLE:
                # A request obliges the server to answer it (RFC 9112 §9.3: in order).
                states[SERVER] = SEND_RESPONSE
        elif accepted_switch is not None:
            if accepted_switch not in self.pending_switch_proposals:
                raise LocalProtocolError(f"the client did not propose {accepted_switch!r}", 500)
            if self.states[CLIENT] is not MIGHT_SWITCH_PROTOCOL:
                # The request (and its body) must be read in full first: otherwise its unread
                # body bytes would be handed to the new protocol as if they belonged to it.
                raise LocalProtocolError("can't switch protocols before the request has ended",
                                         500)
            self.states[CLIENT] = SWITCHED_PROTOCOL
        elif event_type is Response and self.pending_switch_proposals:
            # Any final response that does not accept a switch declines every proposal.
            self.pending_switch_proposals.clear()
        if (self.keep_alive and not self.pending_switch_proposals
                and states[CLIENT] not in _COUPLED and states[SERVER] not in _GOING_AWAY):
            return  # the common keep-alive case: nothing couples the two sides
        self._settle()

    def _settle(self) -> None:
        """Apply state-triggered transitions until nothing changes."""
        states = self.states
        while True:
            before = (states[CLIENT], states[SERVER])
            if self.pending_switch_proposals:
                if states[CLIENT] is DONE:
                    states[CLIENT] = MIGHT_SWITCH_PROTOCOL
            elif states[CLIENT] is MIGHT_SWITCH_PROTOCOL:
                states[CLIENT] = DONE
            if not self.keep_alive:
                for role in (CLIENT, SERVER):
                    if states[role] is DONE:
                        states[role] = MUST_CLOSE
            # Once one side is going away, the other cannot start a new cycle either.
            for role, other in ((CLIENT, SERVER), (SERVER, CLIENT)):
                if states[other] in _GOING_AWAY and states[role] is DONE:
                    states[role] = MUST_CLOSE
            if (states[CLIENT], states[SERVER]) == before:
                return

    def start_next_cycle(self) -> None:
        """Both sides finished a keep-alive cycle: reset them to IDLE (RFC 9112 §9.3)."""
        if self.states[CLIENT] is not DONE or self.states[SERVER] is not DONE:
            raise LocalProtocolError(
                f"not in a reusable state: client={self.states[CLIENT]!r}, "
                f"server={self.states[SERVER]!r}", 500)
        self.states[CLIENT] = IDLE
        self.states[SERVER] = IDLE
