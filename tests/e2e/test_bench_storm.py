"""scripts/bench-storm with 10 clients, one round, every kind and transport: it must
complete with no failure, one key-server request per kid, and print every figure.
Not timed: the latency targets are the benchmark's to judge, not this test's."""

import math
import re
import subprocess
import sys

from harness import REPO, native_module, prosody_binary

HEADS = ["p50 ms", "p95 ms", "p99 ms", "max ms", "joins/s", "failures", "Prosody CPU s",
         "peak RSS MB", "client CPU s"]


def test_storm_with_ten_clients_completes_and_prints_every_figure():
    native_module(), prosody_binary()  # a clear failure when either is missing
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench-storm"), "--clients", "10", "--rounds", "1",
         "--transports", "ws,bosh", "--timeout", "60"],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    text = out.stdout
    assert "load average (1/5/15 min) before" in text, text
    for transport in ("ws", "bosh"):
        section = text.split(f"\n{transport}: ", 1)[1].split("\n\n", 1)[0]
        header = section.splitlines()[1]
        for head in HEADS:
            assert head in header, section
        for kind in ("anonymous", "HS256", "RS256"):
            row = re.search(rf"^  {kind} +(.*)$", section, re.M)
            assert row, section
            cells = [float(c) for c in row.group(1).split()]
            assert len(cells) == len(HEADS) and all(math.isfinite(c) for c in cells), row.group(0)
            assert cells[HEADS.index("failures")] == 0, row.group(0)
        for kind in ("HS256", "RS256"):
            for fig in ("p50", "p99", "joins/s", "cpu"):
                assert re.search(rf"^    {kind} {re.escape(fig)} +median [\d.]+ \(best [\d.]+, spread ",
                                 section, re.M), section
    targets = text.split("targets (judged on the median of rounds):", 1)[1]
    assert re.search(r"^  met +one key-server request per kid: \d+ kids, requests per kid min 1 max 1$",
                     targets, re.M), targets
    assert re.search(r"^  met +no failures in any kind: 0$", targets, re.M), targets
    for target in ("ws HS256 p99", "ws HS256 joins/s", "ws RS256 p99", "bosh HS256 p99",
                   "bosh HS256 joins/s", "bosh RS256 p99"):
        # One round: no interval of the median, and the line says so rather than judge quietly.
        assert re.search(rf"^  (met|NOT MET) +{re.escape(target)} .*: median [\d.]+ \(.*\); "
                         r"too few rounds for a 95% interval of the median$", targets, re.M), targets
    assert re.search(r"^  (met|NOT MET) +Prosody RSS after the storms, less the free memory in glibc's heap, "
                     r"within 10% of before them .*: [\d.]+ MB before, [\d.]+ MB after \([\d.]+x\)$",
                     targets, re.M), targets
    # After each storm: the memory Prosody holds, never more than its RSS, and above the
    # Lua heap (which it contains).
    held = re.search(r"^Prosody RSS less the free memory in glibc's heap, after each storm, MB: ([\d. ]+); ",
                     text, re.M)
    rss = re.search(r"^Prosody RSS after each storm, MB \(.*\): ([\d. ]+); ", text, re.M)
    assert held and rss, text
    held, rss = ([float(v) for v in m.group(1).split()] for m in (held, rss))
    assert len(held) == len(rss) == 6 and all(0 < h <= r for h, r in zip(held, rss)), (held, rss)
    # Every storm started from a collected heap, whose size after each storm is printed.
    heap = re.search(r"^Prosody's Lua heap after each storm, collected, MB .*: ([\d. ]+); after the warm-up ",
                     text, re.M)
    assert heap and len(heap.group(1).split()) == 6, text  # 2 transports x 3 kinds x 1 round
    assert all(h > float(lua) for h, lua in zip(held, heap.group(1).split())), (held, heap.group(1))
