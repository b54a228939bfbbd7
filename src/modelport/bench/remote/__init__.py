"""Load against any Open Inference Protocol server (modelport, Triton, MLServer) over HTTP or gRPC.

The HTTP client is aiohttp; gRPC uses tritonclient's asyncio client. Both are optional extras.
"""
