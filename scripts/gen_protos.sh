#!/usr/bin/env bash
# Regenerate the Python modules for the gRPC front end from its .proto files.
# Run from the repository root: scripts/gen_protos.sh
# Uses the grpcio-tools pinned by the `dev` extra so the generated code matches the protobuf
# runtime range we support; set PYTHON to use another interpreter.
set -euo pipefail

PYTHON="${PYTHON:-.venv/bin/python}"
PROTO_DIR="src/modelport/serve/grpc/proto"

if [[ ! -d "${PROTO_DIR}" ]]; then
  echo "run from the repository root: ${PROTO_DIR} not found" >&2
  exit 1
fi

# -I src makes generated imports package-qualified (from modelport.serve.grpc.proto import ...).
"${PYTHON}" -m grpc_tools.protoc \
  -I src \
  --python_out=src \
  --pyi_out=src \
  --grpc_python_out=src \
  "${PROTO_DIR}"/*.proto

echo "generated: $(ls "${PROTO_DIR}"/*_pb2*.py* | tr '\n' ' ')"
