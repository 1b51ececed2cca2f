"""scripts/bench-lua and scripts/bench-logins at tiny sizes: they must run and print
every figure as median, best and spread, and their targets judged on the median; and
the harness's figures the benchmarks judge by (the median's interval, glibc's free heap).
Not timed: the targets are the benchmarks' to judge on a quiet machine, not this test's."""

import re
import subprocess
import sys

from harness import REPO, Rounds, judge, heap_free_kb, memory_kb, native_module, prosody_binary

NUM = r"\d+\.\d+"
# What harness.Rounds.show prints: median, best, quartile spread, rounds.
SHOWN = (rf"median (?P<median>{NUM}) \(best (?P<best>{NUM}), spread (?P<q1>{NUM})-(?P<q3>{NUM}), "
         r"(?P<rounds>\d+) rounds\)")
# A row of bench-lua's table: the same figures as columns.
ROW = rf"(?P<median>{NUM}) +(?P<best>{NUM}) +(?P<q1>{NUM})-(?P<q3>{NUM}) +(?P<rounds>\d+)"


def run(script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(REPO / "scripts" / script), *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return out.stdout


def shown(text: str, pattern: str, higher_is_better: bool = False, rounds: int | None = None) -> re.Match:
    """The line `pattern` matches (SHOWN or ROW where its figures are), checked for
    best, quartiles and median in a sane order and, if given, the number of rounds."""
    m = re.search(pattern, text, re.M)
    assert m, f"no line matching {pattern!r} in:\n{text}"
    median, best, q1, q3 = (float(m.group(g)) for g in ("median", "best", "q1", "q3"))
    assert q1 <= median <= q3, m.group(0)
    assert (best >= q3) if higher_is_better else (0 <= best <= q1), m.group(0)
    if rounds is not None:
        assert int(m.group("rounds")) == rounds, m.group(0)
    return m


def noise(text: str, when: str, rounds: int | None = None) -> None:
    shown(text, rf"^machine noise: the pure-Lua reference loop, timed {re.escape(when)}, in µs {SHOWN}; "
                rf"median at {NUM}x the best, q3 at {NUM}x q1$", rounds=rounds)


def test_bench_lua_prints_median_best_spread_and_the_key_server_path():
    native_module()  # a clear failure when the build is missing
    text = run("bench-lua", "--seconds", "0.2", "--passes", "2", "--openssl-seconds", "1")
    assert re.search(r"^  µs per call from lua5\.4 +median +best +spread q1-q3 +rounds$", text, re.M), text
    for name in ("HS256", "RS256-2048", "RS256-key-server-path", "ES256", "reference loop (noise)"):
        row = shown(text, rf"^  {re.escape(name)} +{ROW}$")
        assert int(row["rounds"]) >= 2, row.group(0)  # at least one per pass
    # openssl runs exactly once after each pass of Lua rounds.
    shown(text, rf"^  openssl rsa2048 verify +{ROW}$", rounds=2)
    noise(text, "after every round of every algorithm")
    # The plugin's path does the direct verify and more: it cannot be much faster.
    path = shown(text, rf"^RS256 key-server path \(cached key\) / direct verify with the PEM, per pass: "
                       rf"{SHOWN}$", rounds=2)
    assert float(path["median"]) > 0.8, path.group(0)
    targets = text.split("targets (judged on the median):\n", 1)[1]
    shown(targets, rf"^  (met|NOT MET) +HS256 from Lua < 5 µs: {SHOWN}$")
    shown(targets, r"^  (met|NOT MET) +RS256 from Lua <= 1\.3x the interleaved openssl verify, per pass: "
                   rf"{SHOWN}; ratio of the medians {NUM}$", rounds=2)


def test_bench_logins_prints_median_best_spread_per_kind_and_ratio():
    native_module(), prosody_binary()
    text = run("bench-logins", "--seconds", "0.2", "--rounds", "2")
    noise(text, "after every round", rounds=2)
    for kind in ("token auth (HS256)", "anonymous auth", "anonymous, same URLs", "token only when opening"):
        shown(text, rf"^  {re.escape(kind)} +logins/s +{SHOWN}$", higher_is_better=True, rounds=2)
        cpu = text.split(f"  {kind} ", 1)[1].splitlines()[1]  # the line after its logins/s
        shown(cpu, rf"^ +CPU ms/login +{SHOWN}; all rounds together {NUM}$", rounds=2)
    for what in ("token/anonymous", "token/anonymous, same URLs (what the token check costs)",
                 "token only when opening/anonymous"):
        shown(text, rf"^ratio {re.escape(what)}: by wall clock, per round {SHOWN}; "
                    rf"by Prosody CPU, all rounds {NUM}$", higher_is_better=True, rounds=2)
    # Two rounds are too few for an interval of their median: the target line says so.
    assert re.search(rf"^target token/anonymous >= 0\.95 by wall clock on the median round: (met|NOT MET); "
                     rf"{SHOWN}; too few rounds for a 95% interval of the median$", text, re.M), text


def test_median_interval_takes_the_order_statistics_of_the_binomial_table():
    # The ranks every table of distribution-free median intervals gives at 95%:
    # n=6 the extremes (96.9%), n=12 the 3rd and 10th (96.1%), n=20 the 6th and 15th (95.9%).
    assert Rounds([float(i) for i in range(1, 6)]).median_interval() is None
    for n, (lo, hi) in ((6, (1, 6)), (12, (3, 10)), (20, (6, 15))):
        shuffled = [float((7 * i) % n + 1) for i in range(n)]  # order must not matter
        assert Rounds(shuffled).median_interval() == (lo, hi), n


def test_judge_says_when_the_limit_lies_inside_the_interval():
    wide = Rounds([0.80, 0.90, 0.94, 0.96, 1.00, 1.15], higher_is_better=True)
    met, text = judge(wide, 0.95)
    assert met and "95% interval of the median 0.800-1.150, which holds the limit: undecided" in text, text
    met, text = judge(wide, 0.75)
    assert met and text.endswith("95% interval of the median 0.800-1.150"), text
    met, text = judge(Rounds([1.2, 1.3, 1.25, 1.4, 1.22, 1.31]), 1.10)
    assert not met and text.endswith("interval of the median 1.200-1.400"), text


# A process that takes 20 MB in 1-kB blocks from glibc's main arena, frees the older
# half (one free run below live blocks, which glibc cannot return) and, on the next
# line, calls malloc_trim(0), which returns it.
FRAGMENTED = """
import ctypes, sys
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
older = [libc.malloc(1024) for _ in range(10000)]
newer = [libc.malloc(1024) for _ in range(10000)]
for p in older + newer:
    ctypes.memset(p, 1, 1024)
print("allocated", flush=True); sys.stdin.readline()
for p in older:
    libc.free(p)
print("freed", flush=True); sys.stdin.readline()
libc.malloc_trim(0)
print("trimmed", flush=True); sys.stdin.readline()
"""


def test_heap_free_is_what_malloc_trim_returns():
    child = subprocess.Popen([sys.executable, "-c", FRAGMENTED], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        def step() -> tuple[int, int]:
            child.stdout.readline()
            figures = memory_kb(child.pid), heap_free_kb(child.pid)
            child.stdin.write("\n")
            child.stdin.flush()
            return figures
        rss_allocated, free_allocated = step()
        rss_freed, free_freed = step()
        rss_trimmed, free_trimmed = step()
    finally:
        child.kill()
        child.wait()
    assert free_allocated < 2048, free_allocated
    assert rss_freed > rss_allocated - 2048, (rss_allocated, rss_freed)  # free() returned none of it
    assert 9000 < free_freed < 11500, free_freed  # the 10 MB freed
    assert abs((rss_freed - rss_trimmed) - free_freed) < 1024, (rss_freed, rss_trimmed, free_freed)
    assert free_trimmed < 1024, free_trimmed
