"""The fatbin parser against shared libraries built by nvcc 13.0 for known targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from probe_helpers import FIXTURES, manifest

from modelport.probe.fatbin import read_fatbin
from modelport.probe.gpucode import GpuCode

MANIFEST = manifest()


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_linked_code_is_exactly_what_nvcc_was_asked_for(name: str) -> None:
    """The runnable SASS and PTX targets equal the -gencode targets of the recipe."""
    result = read_fatbin(FIXTURES / name)
    assert result.error is None
    linked = result.linked_entries()
    assert sorted({e.target for e in linked if e.kind == "sass"}) == sorted(MANIFEST[name]["sass"])
    assert sorted({e.target for e in linked if e.kind == "ptx"}) == sorted(MANIFEST[name]["ptx"])


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_ptx_isa_and_compression_match_the_recipe(name: str) -> None:
    """PTX carries nvcc 13's ISA 9.0; each kind is compressed as --compress-mode asked."""
    expected = MANIFEST[name]
    entries = read_fatbin(FIXTURES / name).linked_entries()
    for entry in entries:
        if entry.kind == "ptx":
            assert list(entry.version) == expected["ptx_isa"]
        want = expected["compression"].get(entry.kind)
        if want is not None and entry.target in expected[entry.kind]:
            assert entry.compression == want, entry


def test_compressed_entries_report_their_uncompressed_size() -> None:
    """LZ4 and zstd entries are smaller than the size they expand to."""
    for name in ("compress_speed.so", "compress_size.so"):
        for entry in read_fatbin(FIXTURES / name).entries:
            if entry.compression != "none":
                assert 0 < entry.payload_size < entry.uncompressed_size


def test_arch_specific_and_family_flags() -> None:
    """sm_90a carries the arch-specific flag, sm_100f the family flag, sm_120 neither."""
    entries = {e.target: e for e in read_fatbin(FIXTURES / "arch_family.so").entries}
    assert entries["sm_90a"].variant == "a"
    assert entries["compute_90a"].variant == "a"
    assert entries["sm_100f"].variant == "f"
    assert entries["sm_120"].variant == ""


def test_debug_build_is_flagged_and_named() -> None:
    """-G cubins carry the debug flag and the source file's name."""
    entries = read_fatbin(FIXTURES / "debug.so").entries
    assert entries and all(e.debug for e in entries)
    assert {e.object_name for e in entries} == {"add.cu"}
    assert not any(e.debug for e in read_fatbin(FIXTURES / "sass_ptx.so").entries)


def test_rdc_keeps_relocatable_code_apart() -> None:
    """-rdc=true: the linked section has SASS only; each TU's code sits in __nv_relfatbin."""
    result = read_fatbin(FIXTURES / "rdc.so")
    expected = MANIFEST["rdc.so"]["relocatable"]
    relocatable = [c for c in result.containers if c.section == "__nv_relfatbin"]
    assert len(relocatable) == expected["containers"]
    for container in relocatable:
        sass = sorted(e.target for e in container.entries if e.kind == "sass")
        ptx = sorted(e.target for e in container.entries if e.kind == "ptx")
        assert (sass, ptx) == (expected["sass"], expected["ptx"])
    code = GpuCode.from_fatbins([result])
    assert "compute_89" in code.relocatable
    assert not code.ptx


def test_several_translation_units_give_several_containers() -> None:
    """Two .cu files linked together leave more containers than one, with the same targets."""
    one = read_fatbin(FIXTURES / "sass_ptx.so").containers
    two = read_fatbin(FIXTURES / "multi_tu.so").containers
    assert len(one) == 2 and len(two) == 3
    assert all({e.target for e in c.entries} == {"sm_75", "sm_89"} for c in two)


def test_renamed_section_is_found_by_scanning() -> None:
    """With .nv_fatbin renamed, the .nvFatBinSegment wrapper triggers a magic scan."""
    result = read_fatbin(FIXTURES / "renamed_section.so")
    assert result.sections == ()
    code = GpuCode.from_fatbins([result])
    assert sorted(str(s) for s in code.sass) == MANIFEST["renamed_section.so"]["sass"]
    assert sorted(str(p) for p in code.ptx) == MANIFEST["renamed_section.so"]["ptx"]


def test_entry_offsets_point_at_entry_headers(fixtures_dir: Path) -> None:
    """Reported offsets are file offsets: the bytes there start a header of the right kind."""
    data = (fixtures_dir / "sass_ptx.so").read_bytes()
    for entry in read_fatbin(fixtures_dir / "sass_ptx.so").entries:
        kind = int.from_bytes(data[entry.offset : entry.offset + 2], "little")
        assert kind == {"ptx": 1, "sass": 2}[entry.kind]
        payload = data[entry.offset + entry.header_size : entry.offset + entry.header_size + 4]
        if entry.kind == "sass":
            assert payload == b"\x7fELF"


def test_gpu_code_description_names_the_range() -> None:
    """The no-GPU summary lists the SASS CC range and where the PTX reaches."""
    text = GpuCode.from_fatbins([read_fatbin(FIXTURES / "sass_ptx.so")]).describe()
    assert text.startswith("SASS 7.5-8.0")
    assert "PTX compute_90 ISA 9.0 → any CC ≥ 9.0 via JIT with driver ≥ 580" in text
