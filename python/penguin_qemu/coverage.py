"""Edge coverage and compare tracking of a Penguin library (penguin_coverage_* and
penguin_cmplog_* of penguin.h): AFL's edge map and AFL++'s cmplog map as memoryviews
of the library's shared memory, the filters, and lap summaries computed in C. No numpy,
no -plugin: every call goes straight to the library through cffi, from any thread
(hypercall handlers included)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .qemu import Qemu

MODES = {"any": 0, "kernel": 1, "user": 2}
FIGURES = ("edges", "hits", "new_edges", "new_buckets", "total_edges", "tbs_instrumented",
           "tbs_filtered", "scan_ns")
HITS_MASK = 0xFFFFFF
TYPE_INS, TYPE_RTN = 1, 2
ENTRY = struct.Struct("<QQQQ")            # struct cmp_operands
FN_ENTRY = struct.Struct("<31sB31sB")     # struct cmpfn_operands


def _error(message: str) -> Exception:
    from .qemu import QemuError     # qemu imports this module
    return QemuError(message)


@dataclass(frozen=True)
class Lap:
    """One lap's figures (penguin.h, penguin_coverage_lap_end)."""
    edges: int
    hits: int
    new_edges: int
    new_buckets: int
    total_edges: int
    tbs_instrumented: int
    tbs_filtered: int
    scan_ns: int


@dataclass(frozen=True)
class CmpEntry:
    """One header of the cmplog map and its logs, oldest first (the last
    PENGUIN_CMPLOG_MAP_H, or RTN_H for routines). kind "ins": operands are (v0, v1)
    integers cut to width bytes; kind "rtn": (bytes, bytes), as many as were mapped."""
    index: int
    pc: int
    kind: str
    width: int
    attribute: int
    hits: int
    operands: list[tuple[Any, Any]]


class Coverage:
    """AFL's edge map, its filters and its laps (Qemu.coverage)."""

    def __init__(self, qemu: "Qemu"):
        self._qemu = qemu

    def _check(self, code: int, what: str) -> int:
        return self._qemu.check(code, what)

    def set_map_size(self, size: int) -> None:
        self._check(self._qemu.lib.penguin_coverage_set_map_size(size),
                    f"coverage map size {size}")

    def arm(self) -> None:
        self._check(self._qemu.lib.penguin_coverage_arm(), "arming coverage")

    def disarm(self) -> None:
        self._check(self._qemu.lib.penguin_coverage_disarm(), "disarming coverage")

    @property
    def armed(self) -> bool:
        return bool(self._qemu.lib.penguin_coverage_armed())

    def clear(self) -> None:
        self._check(self._qemu.lib.penguin_coverage_clear(), "clearing coverage")

    def map(self) -> memoryview:
        """The live map (writable: the library's shared memory); QemuError before the
        first arm. The memory stays mapped for the process's life."""
        lib, ffi = self._qemu.lib, self._qemu.ffi
        base = lib.penguin_coverage_map()
        if base == ffi.NULL:
            raise _error("the coverage map does not exist before the first arm")
        return memoryview(ffi.buffer(base, lib.penguin_coverage_map_size()))

    def counters(self) -> dict[int, int]:
        """The nonzero counters of the map now: {index: hits}."""
        data = bytes(self.map())
        return {i: n for i, n in enumerate(data) if n}

    def fd(self) -> int:
        """A new descriptor of the map's memfd, the caller's to close."""
        return self._check(self._qemu.lib.penguin_coverage_map_fd(), "the map's memfd")

    def add_range(self, lo: int, hi: int) -> None:
        self._check(self._qemu.lib.penguin_coverage_add_range(lo, hi),
                    f"coverage range [{lo:#x}, {hi:#x})")

    def clear_ranges(self) -> None:
        self._check(self._qemu.lib.penguin_coverage_clear_ranges(), "clearing ranges")

    def set_mode(self, mode: str) -> None:
        """"any", "kernel" or "user" code."""
        self._check(self._qemu.lib.penguin_coverage_set_mode(MODES[mode]),
                    f"coverage mode {mode}")

    def current_space(self, cpu) -> int:
        value = self._qemu.ffi.new("uint64_t *")
        self._check(self._qemu.lib.penguin_coverage_current_space(cpu, value),
                    "reading the address space")
        return int(value[0])

    def follow(self, cpu) -> None:
        """Record only the address space cpu runs in now (call from a hypercall
        handler of the process to follow)."""
        self._check(self._qemu.lib.penguin_coverage_follow(cpu), "following a space")

    def follow_space(self, space: int) -> None:
        self._check(self._qemu.lib.penguin_coverage_follow_space(space),
                    f"following space {space:#x}")

    def unfollow(self) -> None:
        self._check(self._qemu.lib.penguin_coverage_unfollow(), "unfollowing")

    def lap_end(self) -> Lap:
        figures = self._qemu.ffi.new("uint64_t[]", len(FIGURES))
        self._check(self._qemu.lib.penguin_coverage_lap_end(figures, len(FIGURES)),
                    "ending a coverage lap")
        return Lap(*(int(v) for v in figures))

    def last_lap(self) -> Lap:
        lib = self._qemu.lib
        return Lap(*(int(lib.penguin_coverage_last_lap(i)) for i in range(len(FIGURES))))

    def reset_virgin(self) -> None:
        self._check(self._qemu.lib.penguin_coverage_reset_virgin(), "resetting laps")

    def clear_on_restore(self, on: bool) -> None:
        self._check(self._qemu.lib.penguin_coverage_set_clear_on_restore(on),
                    "clear-on-restore")


class Cmplog:
    """AFL++'s cmplog map of the guest's compares and routines (Qemu.cmplog)."""

    def __init__(self, qemu: "Qemu"):
        self._qemu = qemu

    def _check(self, code: int, what: str) -> int:
        return self._qemu.check(code, what)

    def arm(self) -> None:
        self._check(self._qemu.lib.penguin_cmplog_arm(), "arming compare tracking")

    def disarm(self) -> None:
        self._check(self._qemu.lib.penguin_cmplog_disarm(), "disarming compare tracking")

    @property
    def armed(self) -> bool:
        return bool(self._qemu.lib.penguin_cmplog_armed())

    def clear(self) -> None:
        self._check(self._qemu.lib.penguin_cmplog_clear(), "clearing the compare log")

    def map(self) -> memoryview:
        lib, ffi = self._qemu.lib, self._qemu.ffi
        base = lib.penguin_cmplog_map()
        if base == ffi.NULL:
            raise _error("the compare log does not exist before the first arm")
        return memoryview(ffi.buffer(base, lib.PENGUIN_CMPLOG_MAP_SIZE))

    def fd(self) -> int:
        return self._check(self._qemu.lib.penguin_cmplog_map_fd(), "the log's memfd")

    def add_routine(self, addr: int) -> None:
        self._check(self._qemu.lib.penguin_cmplog_add_routine(addr),
                    f"routine at {addr:#x}")

    def clear_routines(self) -> None:
        self._check(self._qemu.lib.penguin_cmplog_clear_routines(), "clearing routines")

    def written(self) -> list[int]:
        """Indices of the headers written since the last clear."""
        lib, ffi = self._qemu.lib, self._qemu.ffi
        n = self._check(lib.penguin_cmplog_written(ffi.NULL, 0), "the written headers")
        indices = ffi.new("uint32_t[]", max(n, 1))
        n = self._check(lib.penguin_cmplog_written(indices, n), "the written headers")
        return sorted(set(indices[0:n]))

    def entries(self) -> list[CmpEntry]:
        """Every header written since the last clear, with its logs."""
        lib = self._qemu.lib
        data = self.map()
        width, height = lib.PENGUIN_CMPLOG_MAP_W, lib.PENGUIN_CMPLOG_MAP_H
        return [self._entry(data, i, width, height) for i in self.written()]

    def _entry(self, data: memoryview, index: int, width: int, height: int) -> CmpEntry:
        header = int.from_bytes(data[index * 8:index * 8 + 8], "little")
        hits = header & HITS_MASK
        kind = TYPE_RTN if (header >> 53) & 3 == TYPE_RTN else TYPE_INS
        base = width * 8 + index * height * ENTRY.size
        rows = self._qemu.lib.PENGUIN_CMPLOG_RTN_H if kind == TYPE_RTN else height
        count = min(hits, rows)
        order = [(hits - count + i) % rows for i in range(count)]
        if kind == TYPE_RTN:
            operands = [self._fn_operands(data, base + slot * FN_ENTRY.size)
                        for slot in order]
        else:
            operands = [ENTRY.unpack_from(data, base + slot * ENTRY.size)[:2]
                        for slot in order]
        return CmpEntry(index, int(self._qemu.lib.penguin_cmplog_site(index)),
                        "rtn" if kind == TYPE_RTN else "ins", ((header >> 48) & 31) + 1,
                        (header >> 55) & 15, hits, operands)

    @staticmethod
    def _fn_operands(data: memoryview, offset: int) -> tuple[bytes, bytes]:
        v0, len0, v1, len1 = FN_ENTRY.unpack_from(data, offset)
        return v0[:len0], v1[:len1]
