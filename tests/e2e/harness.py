"""A real Prosody on loopback, with clients for BOSH and WebSocket, a counting key
server, and token minting with PyJWT.

Everything here talks to the real thing: Debian's prosody, the freshly built
`jitsi_tokens.so`, the repository's plugins. Missing pieces make tests fail with a
message that says what to build or install; nothing is skipped silently.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import math
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import jwt
import pytest
import websocket

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "prosody-plugins"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
BOSH_NS = "http://jabber.org/protocol/httpbind"
CLIENT = "jabber:client"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
JITMEET = "http://jitsi.org/jitmeet"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
HTTP_TIMEOUT = 15  # larger than BOSH `wait`, so a hang fails instead of blocking


def native_module() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    so = target / "release" / "libjitsi_tokens.so"
    if not so.is_file():
        pytest.fail(f"{so} is missing: run `cargo build --release` at the repository root first")
    return so


def prosody_binary() -> str:
    path = shutil.which("prosody")
    if not path:
        pytest.fail("prosody is not installed: `apt-get install -y prosody` (Debian's package)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_options(run_dir: Path, log_path: Path, c2s_port: int, http_port: int) -> str:
    """Global options that keep a test Prosody inside `run_dir` and on loopback."""
    return f"""pidfile = {lua_string(str(run_dir / "prosody.pid"))}
data_path = {lua_string(str(run_dir / "data"))}
certificates = {lua_string(str(run_dir / "certs"))}
log = {{ info = {lua_string(str(log_path))} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s_port} }}
c2s_direct_tls_ports = {{}}
http_interfaces = {{ "127.0.0.1" }}
http_ports = {{ {http_port} }}
https_ports = {{}}
https_interfaces = {{}}
modules_disabled = {{ "s2s", "offline" }}
consider_bosh_secure = true
prosodyctl_service_warnings = false"""


def lua_string(s: str) -> str:
    """A Lua long-bracket-free quoted string (the values we write are plain ASCII)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


GLOBAL_MODULES = ("saslauth", "disco", "bosh", "websocket", "ping")
PER_HOST_HTTP_MODULES = ("saslauth", "disco", "ping")  # bosh/websocket go in a host


class Prosody:
    """One private Prosody instance: its own temp dir, ports, log and plugins."""

    def __init__(self, hosts_config: str, global_config: str = "", native: bool = True,
                 global_modules: tuple[str, ...] = GLOBAL_MODULES, http_host: str | None = None,
                 plugin_dirs: list | None = None, extra_modules: list | None = None):
        self.hosts_config = hosts_config
        # Test modules beside the repository's plugins, and global modules to add.
        self.global_modules = (*global_modules, *(extra_modules or []))
        self.plugin_dirs = [PLUGINS, *(plugin_dirs or [])]
        # The Host header the readiness probe sends: BOSH enabled only in a
        # VirtualHost's modules_enabled (as Jitsi does) answers only for that name.
        self.http_host = http_host
        self.native = native  # False: a broken jitsi_tokens.so (fail-closed test)
        self.global_config = global_config
        self.proc: subprocess.Popen | None = None
        self.killed = False
        self.dir = Path(tempfile.mkdtemp(prefix="jmt-prosody-"))
        self.c2s_port = free_port()
        self.http_port = free_port()
        self.log_path = self.dir / "prosody.log"

    @property
    def bosh_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/http-bind"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}/xmpp-websocket"

    def start(self) -> "Prosody":
        so = native_module()
        prosody = prosody_binary()
        d = self.dir
        (d / "data").mkdir()
        (d / "certs").mkdir()
        (d / "cpath").mkdir()
        if self.native:
            shutil.copy(so, d / "cpath" / "jitsi_tokens.so")
        else:
            # Unloadable, and first on the cpath so an installed copy cannot stand in.
            (d / "cpath" / "jitsi_tokens.so").write_text("not a shared object\n")
        cfg = d / "prosody.cfg.lua"
        cfg.write_text(
            f"""
{loopback_options(d, self.log_path, self.c2s_port, self.http_port)}
modules_enabled = {{ {", ".join(lua_string(m) for m in self.global_modules)} }}
c2s_require_encryption = false
consider_websocket_secure = true
plugin_paths = {{ {", ".join(lua_string(str(p)) for p in self.plugin_dirs)} }}
{self.global_config}
{self.hosts_config}
"""
        )
        as_root = os.geteuid() == 0
        if as_root:
            pw = pwd.getpwnam("prosody")
            for p in [d, *d.rglob("*")]:
                os.chown(p, pw.pw_uid, pw.pw_gid)
            cmd = ["setpriv", "--reuid=prosody", "--regid=prosody", "--init-groups", "--"]
        else:
            cmd = []
        cmd += [prosody, "--config", str(cfg), "-F"]
        env = dict(os.environ, LUA_CPATH_5_4=f"{d / 'cpath'}/?.so;;")
        self.stdout = open(d / "stdout.txt", "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.stdout, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"prosody exited with {self.proc.returncode}:\n{self.output()}")
            try:
                probe = urllib.request.Request(
                    self.bosh_url, headers={"Host": self.http_host} if self.http_host else {})
                with urllib.request.urlopen(probe, timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"prosody did not answer on /http-bind:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        text = ""
        for p in (self.dir / "stdout.txt", self.log_path):
            if p.exists():
                text += p.read_text(errors="replace")[-20000:]
        return text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = 10) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"log never matched {pattern!r}:\n{self.log()[-5000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.killed = True  # a server that ignores SIGTERM is a bug worth failing on
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "stdout", None):
            self.stdout.close()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @contextlib.contextmanager
    def running(self):
        """Started for the `with` block, then stopped and removed; fails when the
        log shows a traceback or a module that did not load, or SIGTERM was ignored."""
        try:
            self.start()
            yield self
        finally:
            self.stop()
        log = self.log()
        self.cleanup()
        assert not self.killed, "prosody ignored SIGTERM for 10 s"
        assert "Traceback" not in log, log[-8000:]
        assert "Error initializing module" not in log, log[-8000:]

    def metrics(self) -> dict[str, float]:
        return scrape_metrics(self.http_port)


def scrape_metrics(http_port: int) -> dict[str, float]:
    """Prosody's OpenMetrics page (mod_http_openmetrics) as {sample line's name
    and labels: value}, e.g. 'prosody_mod_auth_token__success_total{host="a"}'."""
    url = f"http://127.0.0.1:{http_port}/metrics"
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples




# ---------------------------------------------------------------------------
# Clients


class AuthResult:
    def __init__(self, ok: bool, condition: str | None = None, text: str | None = None):
        self.ok, self.condition, self.text = ok, condition, text

    def __repr__(self) -> str:
        return f"AuthResult(ok={self.ok}, condition={self.condition!r}, text={self.text!r})"


def parse_failure(el: ET.Element) -> AuthResult:
    if el.tag == f"{{{SASL}}}success":
        return AuthResult(True)
    assert el.tag == f"{{{SASL}}}failure", ET.tostring(el)
    cond = text = None
    for child in el:
        name = child.tag.split("}")[-1]
        if name == "text":
            text = child.text
        else:
            cond = name
    return AuthResult(False, cond, text)


class Bosh:
    """A BOSH client speaking the bytes of prosody.md."""

    def __init__(self, server: Prosody, domain: str, token: str | None = None,
                 query: str | None = None, headers: dict | None = None):
        self.server, self.domain = server, domain
        url = server.bosh_url
        if query is not None:
            url += "?" + query
        elif token is not None:
            url += "?token=" + urllib.parse.quote(token, safe="")
        self.url = url
        self.headers = {"Content-Type": "text/xml; charset=utf-8", **(headers or {})}
        self.rid = 1000
        self.sid = None

    def post(self, xml: str) -> ET.Element:
        req = urllib.request.Request(self.url, data=xml.encode(), headers=self.headers, method="POST")
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
            return ET.fromstring(r.read())

    def next_rid(self) -> int:
        self.rid += 1
        return self.rid

    def open(self) -> ET.Element:
        body = self.post(
            f"<body content='text/xml; charset=utf-8' hold='1' rid='{self.rid}' to='{self.domain}' "
            "ver='1.6' wait='5' xml:lang='en' xmlns='http://jabber.org/protocol/httpbind' "
            "xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>"
        )
        self.sid = body.get("sid")
        assert self.sid, ET.tostring(body)
        return body

    def mechanisms(self, body: ET.Element) -> list[str]:
        return [m.text for m in body.iter(f"{{{SASL}}}mechanism")]

    def auth(self) -> AuthResult:
        body = self.post(
            f"<body rid='{self.next_rid()}' sid='{self.sid}' xmlns='{BOSH_NS}'>"
            f"<auth xmlns='{SASL}' mechanism='ANONYMOUS'/></body>"
        )
        for el in body:
            if el.tag in (f"{{{SASL}}}success", f"{{{SASL}}}failure"):
                return parse_failure(el)
        raise AssertionError(f"no SASL answer: {ET.tostring(body)!r}")

    def bind(self) -> str:
        self.post(
            f"<body rid='{self.next_rid()}' sid='{self.sid}' to='{self.domain}' xml:lang='en' "
            f"xmpp:restart='true' xmlns='{BOSH_NS}' xmlns:xmpp='urn:xmpp:xbosh'/>"
        )
        body = self.post(
            f"<body rid='{self.next_rid()}' sid='{self.sid}' xmlns='{BOSH_NS}'>"
            f"<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='{BIND}'/></iq></body>"
        )
        jid = body.find(f".//{{{BIND}}}jid")
        assert jid is not None, ET.tostring(body)
        return jid.text

    def terminate(self) -> None:
        try:
            self.post(f"<body rid='{self.next_rid()}' sid='{self.sid}' type='terminate' xmlns='{BOSH_NS}'/>")
        except OSError:
            pass

    def login(self) -> tuple[AuthResult, str | None]:
        """Open, authenticate and (on success) bind; returns the result and the JID."""
        self.open()
        result = self.auth()
        jid = self.bind() if result.ok else None
        self.terminate()
        return result, jid


class WS:
    """An XMPP-over-WebSocket (RFC 7395) client."""

    def __init__(self, server: Prosody, domain: str, token: str | None = None,
                 headers: list | None = None, query: str | None = None):
        url = server.ws_url
        if query is not None:
            url += "?" + query
        elif token is not None:
            url += "?token=" + urllib.parse.quote(token, safe="")
        self.domain = domain
        self.ws = websocket.create_connection(url, subprotocols=["xmpp"], timeout=HTTP_TIMEOUT,
                                              header=headers or [])
        self.jid = None
        self.pending: list[ET.Element] = []

    def send(self, xml: str) -> None:
        self.ws.send(xml)

    def recv(self, timeout: float = HTTP_TIMEOUT) -> ET.Element:
        self.ws.settimeout(timeout)
        return ET.fromstring(self.ws.recv())

    def open(self) -> ET.Element:
        self.send(f"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{self.domain}' version='1.0'/>")
        opened = self.recv()
        assert opened.tag.endswith("}open"), ET.tostring(opened)
        return self.recv()  # stream features

    def auth(self) -> AuthResult:
        self.send(f"<auth xmlns='{SASL}' mechanism='ANONYMOUS'/>")
        return parse_failure(self.recv())

    def bind(self) -> str:
        self.open()
        self.send(f"<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='{BIND}'/></iq>")
        iq = self.recv()
        jid = iq.find(f".//{{{BIND}}}jid")
        assert jid is not None, ET.tostring(iq)
        self.jid = jid.text
        return self.jid

    def login(self) -> AuthResult:
        self.open()
        result = self.auth()
        if result.ok:
            self.bind()
        return result

    def wait_for(self, predicate, timeout: float = 10) -> ET.Element:
        """The first stanza (already received or arriving within `timeout`) that
        matches; the others stay queued for later calls."""
        for i, el in enumerate(self.pending):
            if predicate(el):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                el = self.recv(max(0.1, deadline - time.monotonic()))
            except websocket.WebSocketTimeoutException:
                break
            if predicate(el):
                return el
            self.pending.append(el)
        seen = [ET.tostring(el)[:300] for el in self.pending]
        raise AssertionError(f"no matching stanza within {timeout}s; saw {seen}")

    def close(self) -> None:
        try:
            self.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
            self.ws.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# A key server on loopback that counts what it serves


class KeyServer:
    def __init__(self):
        self.files: dict[str, tuple[int, bytes]] = {}
        self.delay: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                with outer.lock:
                    outer.counts[path] = outer.counts.get(path, 0) + 1
                time.sleep(outer.delay.get(path, 0))
                status, body = outer.files.get(path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_key(self, kid: str, pem: bytes, status: int = 200, prefix: str = "/keys") -> str:
        path = f"{prefix}/{hashlib.sha256(kid.encode()).hexdigest()}.pem"
        self.files[path] = (status, pem)
        return path

    def count(self, path: str) -> int:
        with self.lock:
            return self.counts.get(path, 0)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class BlackHole:
    """Accepts TCP connections (the kernel does, via the backlog) and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def stop(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------------------
# Tokens

RS_KID = "e2e-rsa-key-1"  # served by the key server fixture
JWKS_KID = "e2e-jwks-key-1"  # in the cache_keys_url document
SECRET = "e2e-shared-secret-that-is-long-enough-0123456789"
APP_ID = "jitsi-e2e"


def claims(**over) -> dict:
    now = int(time.time())
    c = {
        "iss": APP_ID,
        "aud": "jitsi",
        "sub": "meet.test",
        "room": "*",
        "exp": now + 600,
        "nbf": now - 10,
        "context": {
            "user": {"id": "u-1", "name": "Alice Example", "email": "alice@example.com",
                     "avatar": "https://example.com/a.png"},
            "group": "g-1",
            "features": {"recording": True},
        },
    }
    for k, v in over.items():
        if v is DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return c


DROP = object()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header, body, key=SECRET.encode()) -> str:
    """A token whose header/body bytes we choose exactly (PyJWT would refuse them)."""
    h = b64(header if isinstance(header, bytes) else json.dumps(header).encode())
    b = b64(body if isinstance(body, bytes) else json.dumps(body).encode())
    sig = hmac.new(key, f"{h}.{b}".encode(), hashlib.sha256).digest()
    return f"{h}.{b}.{b64(sig)}"


def mint(key=SECRET, alg: str = "HS256", headers: dict | None = None, **over) -> str:
    return jwt.encode(claims(**over), key, algorithm=alg, headers=headers)


# ---------------------------------------------------------------------------
# Process figures and round statistics for the benchmarks in scripts/


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int, field: str = "VmRSS") -> int:
    """A size from /proc/PID/status in kB: VmRSS (resident now) or VmHWM (peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} missing from /proc/{pid}/status")


def heap_free_kb(pid: int) -> int:
    """Resident memory in the free chunks of glibc's main arena (the [heap] mapping), kB.
    glibc returns only the top of that heap to the system, so one live chunk near the
    top keeps the rest of a peak resident after it is freed, and what is freed below
    it in pieces smaller than a page stays resident whatever glibc does: RSS less this
    figure counts the heap at the size of its chunks in use, what the process holds.

    Written here because glibc reports its free memory (mallinfo2, malloc_stats) only
    to the process itself, and calling those from outside needs a debugger attached
    (gdb on this machine failed to restore the stopped process's registers). This reads
    glibc's chunk headers (size word, flag bits; a chunk is free when the next one's
    PREV_INUSE bit is clear) through /proc/PID/mem and residency from /proc/PID/pagemap,
    without stopping the process: call it while the process is idle. Chunks cached in
    tcache or fastbins count as in use, which errs towards "held". Needs root."""
    heap = None
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        if line.endswith("[heap]"):
            heap = [int(x, 16) for x in line.split()[0].split("-")]
    if heap is None:
        return 0  # nothing allocated from the main arena yet
    start, end = heap
    page = os.sysconf("SC_PAGE_SIZE")
    # Residency first: reading a page that is not resident through /proc/PID/mem maps
    # the zero page there, which pagemap would then report present.
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        pagemap.seek(start // page * 8)
        entries = pagemap.read((end - start) // page * 8)
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(start)
        data = mem.read(end - start)
    resident = [entry >> 63 for entry in memoryview(entries).cast("Q")]  # bit 63: present

    def resident_bytes(lo: int, hi: int) -> int:
        first, last = -(-lo // page), hi // page
        if last <= first:
            return hi - lo  # within pages that hold this chunk's header or the next one's
        return (first * page - lo) + (hi - last * page) + page * sum(resident[first:last])

    free = 0
    at = 0
    while True:
        size = int.from_bytes(data[at + 8:at + 16], "little") & ~7
        if size < 32 or size % 16 or at + size > len(data):
            raise RuntimeError(f"[heap] of process {pid}: no glibc chunk at offset {at} (size word {size}); "
                               "was it busy while read, or is its allocator not glibc's?")
        if at + size == len(data):  # the top chunk, free by definition
            return (free + resident_bytes(at + 16, at + size)) // 1024
        if not int.from_bytes(data[at + size + 8:at + size + 16], "little") & 1:
            free += resident_bytes(at + 16, at + size)  # past its header
        at += size


def reset_peak_rss(pid: int) -> bool:
    """Start VmHWM afresh (Linux clear_refs 5); False where that is not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Rounds:
    """One figure over benchmark rounds. Targets are judged on the median; the best
    round and the spread (first to third quartile) are shown beside it, because on a
    shared machine the best round flatters and a single round misleads."""

    def __init__(self, values, higher_is_better: bool = False):
        self.values = sorted(values)
        if not self.values:
            raise ValueError("no rounds")
        self.higher_is_better = higher_is_better

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def best(self) -> float:
        return self.values[-1] if self.higher_is_better else self.values[0]

    @property
    def spread(self) -> tuple[float, float]:
        if len(self.values) < 2:
            return self.values[0], self.values[0]
        q1, _, q3 = statistics.quantiles(self.values, n=4, method="inclusive")
        return q1, q3

    def show(self, fmt: str = ".2f") -> str:
        q1, q3 = self.spread
        return (f"median {self.median:{fmt}} (best {self.best:{fmt}}, spread {q1:{fmt}}-{q3:{fmt}}, "
                f"{len(self.values)} rounds)")

    def median_interval(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """Where the median of what the rounds sample lies, at `confidence`, assuming
        nothing of its distribution: the k-th smallest and k-th largest round for the
        largest k whose coverage, 1 - 2 P(Binomial(n, 1/2) < k), reaches it. None when
        there are too few rounds (under 6 for 95%). It narrows with the square root
        of the rounds, so it says how many a ratio needs before a run can judge it."""
        n = len(self.values)
        below, k = 0.0, 0
        while k < n // 2:
            below += math.comb(n, k) / 2 ** n  # P(Binomial(n, 1/2) = k)
            if 1 - 2 * below < confidence:
                break
            k += 1
        return (self.values[k - 1], self.values[n - k]) if k else None


def judge(rounds: Rounds, limit: float, fmt: str = ".3f") -> tuple[bool, str]:
    """A target on the median of rounds (at most `limit`, or at least it when higher is
    better): whether it is met, and the figures with the median's 95% interval. When
    the limit lies inside that interval the run's verdict is a coin toss at this noise,
    and the text says so instead of leaving a met or a miss to speak for itself."""
    met = rounds.median >= limit if rounds.higher_is_better else rounds.median <= limit
    text = rounds.show(fmt)
    interval = rounds.median_interval()
    if interval is None:
        return met, f"{text}; too few rounds for a 95% interval of the median"
    lo, hi = interval
    text += f"; 95% interval of the median {lo:{fmt}}-{hi:{fmt}}"
    if lo <= limit <= hi:
        text += ", which holds the limit: undecided at this noise, more rounds narrow it"
    return met, text


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


# The benchmarks' machine-noise figure: a fixed pure-Lua workload whose time moves only
# with how busy the machine is (bench-lua runs it inside its own rounds).
REFERENCE_LUA = "local x = 0 for i = 1, 20000 do x = (x * 31 + i) % 1000003 end"


def reference_loop_us(runs: int = 15) -> float:
    """µs of CPU for REFERENCE_LUA: the median of `runs` in one fresh lua5.4."""
    script = (f"local t = {{}} for r = 1, {runs} do local t0 = os.clock() {REFERENCE_LUA} "
              "t[r] = (os.clock() - t0) * 1e6 end table.sort(t) print(t[(#t + 1) // 2])")
    out = subprocess.run(["lua5.4", "-e", script], capture_output=True, text=True, check=True)
    return float(out.stdout)


def machine_noise(reference_us: list[float], when: str) -> str:
    """The line every benchmark prints about its reference loop timings."""
    r = Rounds(reference_us)
    q1, q3 = r.spread
    return (f"machine noise: the pure-Lua reference loop, timed {when}, in µs {r.show()}; "
            f"median at {r.median / r.best:.2f}x the best, q3 at {q3 / q1:.2f}x q1")
