"""penguin_qmp_emit_event: QMP events of Penguin's own (issue 25, item 1).

Through the aarch64 library of the unpacked release archive and the client
(python/penguin_qemu), with Penguin's `-qmp unix:<path>,server,nowait` twice: one client
negotiates, the other never does (tests/helpers/qmp_events.py). Events emitted from the
main thread (a QMP command's handler), from the guest's hypercall handler on its vCPU
thread and from a plain thread, the last two at the same time, reach the negotiated
client exactly once each, in the order of the emit calls, as {"event", "data",
"timestamp"}, without "data" for None and ""; the last one is emitted just before the
shutdown request and still arrives. The client that never negotiated gets none. Bad
names and data, and an emit before qemu_init, are refused with their reason, and
nothing of them reaches a client.
"""

from __future__ import annotations

import errno
import json

import pytest

from conftest import run_helper
from test_snapshot import GUEST

BURST = 200
EVENT = "PENGUIN_TEST_EVENT"


@pytest.fixture(scope="module")
def seen(release_prefix, tmp_path_factory) -> dict:
    """One run for every test below."""
    tmp_path = tmp_path_factory.mktemp("qmp-events")
    sockets = [str(tmp_path / "qmp.sock"), str(tmp_path / "quiet.sock")]
    spec = {"prefix": str(release_prefix), "name": "aarch64", "burst": BURST,
            "qmp": sockets, "result": str(tmp_path / "result.json"),
            "args": ["-M", "virt", "-cpu", "cortex-a57", "-m", "128", "-nodefaults",
                     "-display", "none", "-kernel", str(GUEST.build()),
                     *[a for path in sockets
                       for a in ("-qmp", f"unix:{path},server,nowait")]]}
    proc = run_helper("qmp_events.py", json.dumps(spec), timeout=120)
    result = tmp_path / "result.json"
    assert proc.returncode == 0 and result.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return json.loads(result.read_text())


def test_events_from_every_thread_in_order(seen):
    assert seen["status"] == 0
    assert "no VM yet" in seen["early"], seen["early"]
    sent = seen["sent"]
    sources = [s["from"] for s in sent]
    assert sources.count("vcpu") == sources.count("thread") == BURST, sources
    assert sources[0] == "main" and sources.count("main") == 2
    assert seen["threads"]["x-emit"] is True           # the handler ran on the main thread
    vcpu_threads = {s["thread"] for s in sent if s["from"] == "vcpu"}
    assert vcpu_threads and not vcpu_threads & {"MainThread", "plain"}, vcpu_threads
    # Both bursts overlapped: the calls interleave, so the order below is across threads.
    firsts = [sources.index("vcpu"), sources.index("thread")]
    lasts = [len(sources) - 1 - sources[::-1].index(s) for s in ("vcpu", "thread")]
    assert max(firsts) < min(lasts), "the two bursts did not overlap"

    ours = [e for e in seen["events"] if e["event"] == EVENT]
    others = [e["event"] for e in seen["events"] if e["event"] != EVENT]
    assert "PENGUIN_BAD_DATA" not in others, others          # no refused event was sent
    want = [s["data"] if s["data"] not in (None, "") else "absent" for s in sent]
    got = [e.get("data", "absent") for e in ours]
    assert got == want, f"received {len(got)} events, sent {len(want)}"
    for event in ours:
        assert set(event) <= {"event", "data", "timestamp"}, event
        stamp = event["timestamp"]
        assert stamp["seconds"] > 0 and 0 <= stamp["microseconds"] < 10**6, event
    assert sources[-1] == "last"                     # emitted right before the shutdown


def test_client_that_never_negotiated_gets_nothing(seen):
    greeting, *rest = seen["silent"]
    assert "QMP" in json.loads(greeting), greeting
    assert not any(EVENT in line for line in rest), rest


def test_bad_names_and_data_are_refused(seen):
    for what, rc, reason in seen["bad"]:
        assert rc == -errno.EINVAL, (what, rc, reason)
        assert reason.startswith("penguin: QMP event"), (what, reason)
    reasons = {what: reason for what, _, reason in seen["bad"]}
    assert "is not valid" in reasons["9lives"] and "(null)" in reasons["null-name"]
    assert "must be a JSON object" in reasons["[1, 2]"]
    assert "not JSON" in reasons["not json"]
