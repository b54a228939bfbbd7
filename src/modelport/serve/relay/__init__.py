"""HTTP front processes (``--http-fronts N``): the HTTP wire and codec in their own processes.

The server's event loop does every request's Python work on one thread; for a small model that
thread, not the model, bounds throughput (benchmarks/README.md). With ``--http-fronts N`` the
model process binds the HTTP socket and starts N front processes that inherit it. Each front
accepts connections, parses HTTP, reads and decompresses bodies, and decodes plain infer
requests; it hands the decoded request to the model process over a socketpair (the *link*) and
encodes the response it gets back. Everything else (health, metadata, repository calls, shared
memory, settings, an infer the front cannot decode on its own) crosses the link as the raw
request and is answered by the model process's own HTTP routes, so its behaviour, errors and
their precedence are exactly those of a server without fronts.

Modules: ``frames`` (the link's framing), ``messages`` (what frames carry), ``link`` (an
asyncio protocol for one end), ``hub`` (the model process's side: start, supervise, answer),
``front`` (the front process: the HTTP wire with a forwarding app).
"""
