#!/usr/bin/env bash
# Regenerate the Python modules for the gRPC front end from its .proto files.
# Run from the repository root: scripts/gen_protos.sh
# Uses the grpcio-tools pinned by the `dev` extra so the generated code matches the protobuf
# runtime range we support; set PYTHON to use another interpreter.
set -euo pipefail

PYTHON="${PYTHON:-.venv/bin/python}"
PROTO_DIR="src/modelport/serve/grpc/proto"
SCHEMA="src/modelport/repository/model_config.proto"  # the model config lives with the repository

if [[ ! -d "${PROTO_DIR}" ]]; then
  echo "run from the repository root: ${PROTO_DIR} not found" >&2
  exit 1
fi

# -I src makes generated imports package-qualified (from modelport.serve.grpc.proto import ...).
"${PYTHON}" -m grpc_tools.protoc \
  -I src \
  --python_out=src \
  --pyi_out=src \
  "${SCHEMA}" "${PROTO_DIR}"/*.proto

# Stubs only for health.proto. grpc_service.proto is package modelport.inference (so it can share
# a process with tritonclient's `inference`), and stubs generated from it would call
# /modelport.inference.GRPCInferenceService/...; the server registers its handlers itself under
# the wire name inference.GRPCInferenceService. model_config.proto declares no service.
"${PYTHON}" -m grpc_tools.protoc \
  -I src \
  --grpc_python_out=src \
  "${PROTO_DIR}/health.proto"

echo "generated: $(ls "${PROTO_DIR}"/*_pb2*.py* "${SCHEMA%.proto}"_pb2.py* | tr '\n' ' ')"
