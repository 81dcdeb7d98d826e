"""Stores to the Arm doorbell that must not ring it (a hostile-user pass, 2026-12-07).

The doorbell (target/arm/penguin-doorbell.c) rings for the guest's own single-register
32- or 64-bit store at its offset 0, the store KVM hands to user space. Before this
test, under TCG it also rang for a store-pair, a write-back store, an exclusive or LSE
atomic store (which KVM cannot emulate: the guest aborts there), for fw_cfg's DMA
writing into the page (a hypercall with whatever the registers held, x0 overwritten),
and for the host callback's own write at an address the guest passed, which called the
callback again with the same registers, without end. The guest
(tests/guests/doorbell-misuse-aarch64.S) tries each; only the plain store, the
write-back call and the final call may ring.
"""

from __future__ import annotations

import json

from conftest import run_helper, stage_lib
from guests.guests import OUT_DIR, _gnu, build_if_changed, HERE as GUESTS_DIR

NR_PROBE, NR_WRITE_BACK, NR_DONE = 0x50454E90, 0x50454E91, 0x50454E92
DOORBELL = 0x09FFF000
WRITE_BACK_ANSWER = 0x600D


def build_guest():
    source = GUESTS_DIR / "doorbell-misuse-aarch64.S"
    out = OUT_DIR / "doorbell-misuse-aarch64"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    script = " && ".join(_gnu("aarch64-linux-gnu-", "", "-Ttext=0x40000000"))
    script = script.replace("SRC", str(source)).replace("OBJ", f"{out}.o")
    script = script.replace("OUT", str(out))
    return build_if_changed("guest doorbell-misuse-aarch64", script, [source],
                            OUT_DIR / "doorbell-misuse-aarch64.stamp", out)


def test_only_the_guests_plain_stores_ring_the_doorbell(tmp_path):
    result = tmp_path / "result.json"
    spec = {"library": str(stage_lib("aarch64")), "kernel": str(build_guest()),
            "result": str(result), "timeout": 60}
    proc = run_helper("doorbell_misuse.py", json.dumps(spec), timeout=120)
    assert proc.returncode == 0 and result.exists(), proc.stderr[-3000:]
    seen = json.loads(result.read_text())
    calls = [(c["nr"], c["a0"]) for c in seen["calls"]]
    assert calls == [(NR_PROBE, 1), (NR_WRITE_BACK, DOORBELL),
                     (NR_DONE, WRITE_BACK_ANSWER)], \
        f"calls (nr, a0): {[(hex(n), a) for n, a in calls]}\n{proc.stderr[-2000:]}"
    assert seen["status"] == 0, seen["status"]
