"""ASGI middleware that the server itself applies to the app, each in its own module.

Only middleware that needs to know about the connection (what the server saw on the socket)
belongs here; anything an app could do for itself belongs in the app. This package must never
import a middleware that the configuration did not ask for.
"""
