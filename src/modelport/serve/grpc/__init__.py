"""gRPC front end speaking the Open Inference Protocol (Triton-compatible)."""
