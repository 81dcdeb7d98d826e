"""The DWARF of the library through pyelftools: opening it (type sections only when
possible), reading DIEs, and finding CPUArchState and sizeof(CPUState)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import CPU_STATE_NAME, ENV_NAME, EnvGenError
from .dwarf_index import UnitHeader, UnitNamer, candidate_units, iter_unit_headers

QUALIFIER_TAGS = {"DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type",
                  "DW_TAG_atomic_type", "DW_TAG_immutable_type"}
RECORD_TAGS = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}


@dataclass
class DwarfSource:
    path: Path
    handle: Any
    dwarf: Any
    units: list[UnitHeader]
    namer: UnitNamer
    pyelftools_version: str


def import_elftools() -> tuple[Any, str]:
    try:
        import elftools
        from elftools.elf.elffile import ELFFile
    except ImportError as exc:
        raise EnvGenError("pyelftools is required (Debian: python3-pyelftools): "
                          f"{exc}") from exc
    return ELFFile, getattr(elftools, "__version__", "?")


# The sections a walk of types needs; the others (line tables, location and range
# lists, frames: most of the bytes) are never read.
TYPE_SECTIONS = {".debug_info": "debug_info_sec", ".debug_abbrev": "debug_abbrev_sec",
                 ".debug_str": "debug_str_sec", ".debug_line_str": "debug_line_str_sec",
                 ".debug_str_offsets": "debug_str_offsets_sec",
                 ".debug_addr": "debug_addr_sec"}


def type_sections_dwarf(elf: Any) -> tuple[Any, dict[str, bytes]] | None:
    """A pyelftools DWARFInfo over the type sections only (None: use get_dwarf_info)."""
    import inspect
    from io import BytesIO
    from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DWARFInfo, DwarfConfig
    if elf.header["e_type"] == "ET_REL":
        return None                          # needs relocations
    raw: dict[str, bytes] = {}
    kwargs: dict[str, Any] = {name: None for name in inspect.signature(DWARFInfo).parameters
                              if name.endswith("_sec")}
    for name, param in TYPE_SECTIONS.items():
        section = elf.get_section_by_name(name)
        if section is None:
            continue
        if section.compressed or param not in kwargs:
            return None
        raw[name] = data = section.data()
        # BytesIO(bytes) shares the buffer until written to: no copy.
        kwargs[param] = DebugSectionDescriptor(BytesIO(data), name, section["sh_offset"],
                                               len(data), section["sh_addr"])
    config = DwarfConfig(little_endian=elf.little_endian,
                         machine_arch=elf.get_machine_arch(),
                         default_address_size=elf.elfclass // 8)
    try:
        return DWARFInfo(config=config, **kwargs), raw
    except TypeError:                        # another pyelftools' constructor
        return None


def full_dwarf(elf: Any) -> tuple[Any, dict[str, bytes]]:
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=elf.header["e_type"] == "ET_REL")
    raw = {}
    for name, param in TYPE_SECTIONS.items():
        section = getattr(dwarf, param, None)
        raw[name] = b"" if section is None else bytes(section.stream.getbuffer())
    return dwarf, raw


def open_dwarf(path: Path) -> DwarfSource:
    elf_file_cls, version = import_elftools()
    if not path.is_file():
        raise EnvGenError(f"{path}: no such library")
    handle = path.open("rb")
    try:
        elf = elf_file_cls(handle)
        if elf.get_section_by_name(".debug_info") is None:
            raise EnvGenError(f"{path} has no .debug_info: it was built or stripped "
                              "without DWARF")
        dwarf, raw = type_sections_dwarf(elf) or full_dwarf(elf)
        units = list(iter_unit_headers(raw[".debug_info"], elf.little_endian))
        namer = UnitNamer(raw[".debug_info"], raw.get(".debug_abbrev", b""),
                          raw.get(".debug_str", b""), raw.get(".debug_line_str", b""),
                          "little" if elf.little_endian else "big")
    except EnvGenError:
        handle.close()
        raise
    except Exception as exc:  # pyelftools raises many kinds
        handle.close()
        raise EnvGenError(f"pyelftools {version} cannot read {path}: "
                          f"{type(exc).__name__}: {exc}") from exc
    return DwarfSource(path, handle, dwarf, units, namer, version)


def die_name(die: Any) -> str | None:
    attr = die.attributes.get("DW_AT_name")
    if attr is None:
        return None
    value = attr.value
    return value.decode() if isinstance(value, bytes) else str(value)


def die_int(die: Any, name: str) -> int | None:
    attr = die.attributes.get(name)
    return None if attr is None or not isinstance(attr.value, int) else attr.value


def type_die(die: Any) -> Any | None:
    if "DW_AT_type" not in die.attributes:
        return None
    return die.get_DIE_from_attribute("DW_AT_type")


def strip_to_record(die: Any) -> Any | None:
    while die is not None and (die.tag == "DW_TAG_typedef" or die.tag in QUALIFIER_TAGS):
        die = type_die(die)
    return die if die is not None and die.tag in RECORD_TAGS else None


def is_complete(die: Any) -> bool:
    return "DW_AT_declaration" not in die.attributes and "DW_AT_byte_size" in die.attributes


@dataclass
class FoundTypes:
    env_die: Any
    env_typedef: Any
    cpu_state_size: int
    unit_name: str


def find_arch_state(src: DwarfSource) -> FoundTypes:
    """Finds the typedef CPUArchState (with a complete struct) and sizeof(CPUState)."""
    env = env_typedef = None
    cpu_size: int | None = None
    unit_name = ""
    for unit in candidate_units(src.units, src.namer):
        cu = src.dwarf.get_CU_at(unit.offset)
        for child in cu.get_top_DIE().iter_children():
            tag = child.tag
            if env is None and tag == "DW_TAG_typedef" and die_name(child) == ENV_NAME:
                record = strip_to_record(child)
                if record is not None and is_complete(record):
                    env, env_typedef = record, child
                    unit_name = src.namer.name(unit) or f"unit at {unit.offset:#x}"
            elif (cpu_size is None and tag == "DW_TAG_structure_type"
                  and die_name(child) == CPU_STATE_NAME and is_complete(child)):
                cpu_size = die_int(child, "DW_AT_byte_size")
            if env is not None and cpu_size is not None:
                return FoundTypes(env, env_typedef, cpu_size, unit_name)
    if env is None:
        raise EnvGenError(f"{src.path}: no compile unit defines the typedef {ENV_NAME} "
                          "with a complete struct")
    raise EnvGenError(f"{src.path}: no compile unit defines struct {CPU_STATE_NAME}")
