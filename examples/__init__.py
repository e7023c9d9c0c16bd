"""Example ASGI apps for moreweb: `moreweb examples.hello:app`. Nothing here is imported by
moreweb itself, and nothing here may depend on moreweb internals."""
