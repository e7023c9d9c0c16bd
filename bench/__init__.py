"""moreweb's benchmarks: the engine micro-benchmark and the server benchmark tool.

`python -m bench.engine` times the sans-IO HTTP/1.1 engine against h11 and httptools;
`python -m bench` drives moreweb and every installed peer server with wrk and hey.

Nothing here is a dependency of moreweb, and nothing here may be imported by moreweb: the peers
(uvicorn, httptools, h11, hypercorn, granian, uvloop) are optional and each missing one is
skipped with a note. Benchmarks are never timed unit tests and never run in CI.
"""
