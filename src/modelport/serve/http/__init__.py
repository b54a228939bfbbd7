"""The HTTP/REST front: a raw ASGI application served by modelport's lean HTTP/1.1 server (wire)."""
