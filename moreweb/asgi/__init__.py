"""ASGI glue: the bridge between moreweb's protocols and the application.

Submodules each own one part of the ASGI spec (scope building, the HTTP request/response
cycle, lifespan, ASGI 2 adaptation). This package root must stay empty of imports so that
importing one part never drags in the others.
"""
