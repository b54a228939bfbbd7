"""The JSON schema of ``modelport probe --json`` (version 1.0) and a small validator for it.

The schema is JSON Schema (draft 2020-12) restricted to ``type``, ``properties``, ``required``,
``items`` and ``enum``, so it can be checked here without a dependency and by any standard tool.
Adding fields is a minor change; removing or renaming one bumps ``schema_version``'s major.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


def _arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_FOUND = {
    "type": ["object", "null"],
    "required": ["version", "source"],
    "properties": {"version": _STR, "source": _STR},
}
_VERDICTS = ["ok", "ok via PTX JIT", "fail", "not applicable", "not installed"]

LIBRARY = _obj(
    {
        "key": _STR,
        "title": _STR,
        "installed": _BOOL,
        "version": _NSTR,
        "distributions": _arr(_obj({"name": _STR, "version": _STR})),
        "discovered": _BOOL,
        "cuda_mode": {"enum": ["bundled", "jit", "system", "none"]},
        "cuda_build": _FOUND,
        "cudnn_build": _FOUND,
        "declared_archs": _NSTR,
        "pins": _arr(
            _obj({"dist": _STR, "spec": _STR, "extra": _NSTR, "installed": _NSTR, "ok": _BOOL})
        ),
        "gpu_code": _obj(
            {
                "sass": _arr(_STR),
                "ptx": _arr(_obj({"target": _STR, "isa": _STR})),
                "relocatable": _arr(_STR),
                "compression": _arr(_STR),
                "files": _arr(_STR),
                "containers": _INT,
                "coverage": _STR,
                "errors": _arr(_STR),
            }
        ),
        "abi": _obj(
            {
                "files": _INT,
                "needed": _arr(
                    _obj({"soname": _STR, "needed_by": _STR, "path": _NSTR, "via": _STR})
                ),
                "missing": _arr(_obj({"soname": _STR, "needed_by": _STR})),
                "env_only": _arr(_obj({"soname": _STR, "needed_by": _STR})),
                "driver_libraries": _arr(_STR),
                "requires": {"type": "object"},
                "version_problems": _arr(
                    _obj({"version": _STR, "needed_by": _STR, "provider": _STR})
                ),
                "loads": _arr(
                    _obj(
                        {
                            "role": _STR,
                            "soname": _STR,
                            "path": _NSTR,
                            "via": _STR,
                            "version": _NSTR,
                            "shadows": _NSTR,
                        }
                    )
                ),
            }
        ),
        "verdict": {"enum": _VERDICTS},
        "reasons": _arr(
            _obj({"code": _STR, "severity": {"enum": ["fail", "warn", "info"]}, "detail": _STR})
        ),
        "sentence": _STR,
        "production": _obj({"ready": {"type": ["boolean", "null"]}, "text": _STR}),
        "runtime": {"type": ["object", "null"]},
    },
    {"note": _STR},
)

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "modelport probe report",
    **_obj(
        {
            "schema_version": {"enum": ["1.0"]},
            "elapsed_s": {"type": "number"},
            "what_if": _BOOL,
            "host": _obj(
                {
                    "os": _STR,
                    "kernel": _STR,
                    "machine": _STR,
                    "glibc": _NSTR,
                    "libstdcxx": _NSTR,
                    "glibcxx": _NSTR,
                    "cxxabi": _NSTR,
                    "python": _STR,
                    "python_executable": _STR,
                    "ld_library_path": _STR,
                },
                {"site_packages": _arr(_STR), "python_source": _STR},
            ),
            "driver": _obj(
                {
                    "present": _BOOL,
                    "version": _NSTR,
                    "cuda": _NSTR,
                    "kernel_module": _NSTR,
                    "libcuda": _NSTR,
                    "compat_libcuda": _NSTR,
                    "cu_init": {"type": ["integer", "null"]},
                    "cu_init_meaning": _NSTR,
                    "gpus": _arr(_obj({"name": _STR, "cc": _STR})),
                    "evidence": _arr(_STR),
                    "assumed": _BOOL,
                }
            ),
            "libraries": _arr(LIBRARY),
            "summary": _obj(
                {
                    "ready": _INT,
                    "cuda_libraries": _INT,
                    "no_cuda": _INT,
                    "counts": {"type": "object"},
                    "line": _STR,
                }
            ),
            "notes": _arr(_STR),
            "exit_code": {"enum": [0, 1]},
        }
    ),
}

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def validate(instance: Any, schema: dict[str, Any] = SCHEMA, where: str = "$") -> list[str]:
    """Check ``instance`` against ``schema``.

    Args:
        instance: decoded JSON.
        schema: a schema using the keywords listed in the module docstring.
        where: the JSON path of ``instance``, used in messages.

    Returns:
        One message per violation; empty when the instance conforms.
    """
    errors: list[str] = []
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{where}: {instance!r} is not one of {schema['enum']}")
    if "type" in schema and not _is_type(instance, schema["type"]):
        return [*errors, f"{where}: expected {schema['type']}, got {type(instance).__name__}"]
    if isinstance(instance, dict):
        errors += [
            f"{where}: missing {key!r}" for key in schema.get("required", ()) if key not in instance
        ]
        for key, sub in schema.get("properties", {}).items():
            if key in instance:
                errors += validate(instance[key], sub, f"{where}.{key}")
    if isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            errors += validate(item, schema["items"], f"{where}[{index}]")
    return errors


def _is_type(value: Any, wanted: str | list[str]) -> bool:
    names = [wanted] if isinstance(wanted, str) else wanted
    for name in names:
        if name in ("integer", "number") and isinstance(value, bool):
            continue
        if isinstance(value, _TYPES[name]):
            return True
    return False
