"""moreweb's black-box conformance suite: HTTP/1.1 request handling and ASGI behaviour.

It drives a live server started from a command line (moreweb or any peer) with raw bytes over
TCP and with a real client, and reports, case by case, what the server did. It must never be
imported by `moreweb` itself and never depend on anything but the standard library (httpx is
used for the ASGI checks when installed).
"""
