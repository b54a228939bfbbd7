"""The HTTP/REST front: a raw ASGI application served by uvicorn."""
