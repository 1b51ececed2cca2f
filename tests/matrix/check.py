#!/usr/bin/env python3
"""Log in to a Prosody started by tests/matrix/run, over BOSH and WebSocket.

Uses the end-to-end suite's clients (tests/e2e/harness.py). Checks, against the
release's real Prosody: a good token logs in and binds; bad ones get a SASL
<failure> with the contract's condition and text; a MUC join is allowed for the
token's room and refused (with a reason) for another room; the presence carries the
token's identity. Each check appends one line to --results.
"""

import argparse
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness import (  # noqa: E402
    CLIENT,
    DROP,
    HTTP_TIMEOUT,
    JITMEET,
    MUC,
    MUC_USER,
    STANZAS,
    WS,
    Bosh,
    claims,
    scrape_metrics,
)

import jwt  # noqa: E402

ROOM = "matrixroom"
OTHER_ROOM = "otherroom"


class Server:
    """What the harness clients need to know about a server."""

    def __init__(self, port: int):
        self.bosh_url = f"http://127.0.0.1:{port}/http-bind"
        self.ws_url = f"ws://127.0.0.1:{port}/xmpp-websocket"


class MucBosh(Bosh):
    """The harness's BOSH client, plus sending stanzas and polling for answers."""

    pending: list

    def stanza(self, xml: str) -> None:
        self.pending = getattr(self, "pending", [])
        self.pending.extend(self.post(f"<body rid='{self.next_rid()}' sid='{self.sid}' xmlns='http://jabber.org/protocol/httpbind'>{xml}</body>"))

    def wait_for(self, predicate, timeout: float = 10) -> ET.Element:
        self.pending = getattr(self, "pending", [])
        deadline = time.monotonic() + timeout
        while True:
            for i, el in enumerate(self.pending):
                if predicate(el):
                    return self.pending.pop(i)
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching stanza within {timeout}s")
            self.stanza("")


class Checker:
    def __init__(self, a):
        self.a = a
        self.server = Server(a.http_port)
        self.failed = 0
        self.out = open(a.results, "a")

    def record(self, ok: bool, name: str, detail: str = "") -> None:
        line = "%-10s %-6s %s%s" % (self.a.release, "pass" if ok else "FAIL", name, f": {detail}" if detail else "")
        print(line, flush=True)
        self.out.write(line + "\n")
        self.out.flush()
        self.failed += not ok

    def mint(self, secret=None, **over) -> str:
        c = claims(**{"iss": self.a.app_id, "sub": self.a.domain, "room": ROOM, **over})
        return jwt.encode(c, (secret or self.a.secret).encode("utf-8"), algorithm="HS256")

    def client(self, kind: str, token: str):
        if kind == "bosh":
            return MucBosh(self.server, self.a.domain, token=token)
        return WS(self.server, self.a.domain, token=token)

    def login_ok(self, kind: str) -> None:
        c = self.client(kind, self.mint())
        try:
            if kind == "bosh":
                mechs = c.mechanisms(c.open())
                result = c.auth()
                jid = c.bind() if result.ok else None
            else:
                features = c.open()
                mechs = [m.text for m in features.iter("{urn:ietf:params:xml:ns:xmpp-sasl}mechanism")]
                result = c.auth()
                jid = c.bind() if result.ok else None
            ok = result.ok and bool(jid) and mechs == ["ANONYMOUS"]
            self.record(ok, f"{kind} token login", f"{jid} mechanisms={mechs} {result!r}")
            if ok:
                self.muc(kind, c)
        except Exception as e:  # a hang or protocol error is a failure, not a crash
            self.record(False, f"{kind} token login", repr(e))
        finally:
            c.terminate() if kind == "bosh" else c.close()

    def join(self, c, room: str) -> ET.Element:
        muc = f"{room}@conference.{self.a.domain}"
        c.stanza(f"<presence xmlns='{CLIENT}' to='{muc}/tester'><x xmlns='{MUC}'/></presence>") if isinstance(c, MucBosh) \
            else c.send(f"<presence xmlns='{CLIENT}' to='{muc}/tester'><x xmlns='{MUC}'/></presence>")
        return c.wait_for(lambda e: e.tag == f"{{{CLIENT}}}presence" and (e.get("from") or "").startswith(muc),
                          timeout=HTTP_TIMEOUT)

    def muc(self, kind: str, c) -> None:
        try:
            p = self.join(c, ROOM)
            codes = [s.get("code") for s in p.iter(f"{{{MUC_USER}}}status")]
            self.record(p.get("type") != "error" and "110" in codes, f"{kind} MUC join of the token's room",
                        f"status {codes}" if p.get("type") != "error" else ET.tostring(p, encoding="unicode"))
            name = p.findtext(".//{*}identity/{*}user/{*}name")
            self.record(name == "Alice Example", f"{kind} presence carries the token identity", f"name={name!r}")
        except Exception as e:
            self.record(False, f"{kind} MUC join of the token's room", repr(e))
        try:
            p = self.join(c, OTHER_ROOM)
            err = p.find(f"{{{CLIENT}}}error")
            refused = p.get("type") == "error" and err is not None and err.find(f"{{{STANZAS}}}not-allowed") is not None
            text = err.findtext(f"{{{STANZAS}}}text") if err is not None else None
            code = [x.tag.split("}")[1] for x in err if x.tag.startswith(f"{{{JITMEET}}}")] if err is not None else []
            self.record(refused and bool(text) and bool(code), f"{kind} MUC join of another room refused",
                        f"text={text!r} code={code}" if refused else ET.tostring(p, encoding="unicode"))
        except Exception as e:
            self.record(False, f"{kind} MUC join of another room refused", repr(e))

    def login_fails(self, kind: str, token: str, condition: str, text: str, label: str) -> None:
        c = self.client(kind, token)
        try:
            if kind == "bosh":
                result, _ = c.login()
            else:
                result = c.login()
            ok = not result.ok and result.condition == condition and (result.text or "").startswith(text)
            self.record(ok, f"{kind} {label} refused", repr(result))
        except Exception as e:
            self.record(False, f"{kind} {label} refused", repr(e))
        finally:
            if kind == "ws":
                c.close()

    def run(self) -> int:
        for kind in ("bosh", "ws"):
            self.login_ok(kind)
        self.login_fails("bosh", self.mint(secret="not the secret, but just as long as one"),
                         "not-allowed", "Invalid signature", "bad signature")
        self.login_fails("ws", self.mint(exp=int(time.time()) - 120),
                         "not-allowed", "Not acceptable by exp", "expired token")
        self.login_fails("ws", self.mint(room=DROP), "not-authorized", "room claim is missing", "token without room")
        # Still answering after the refusals (no pinned CPU, no hang).
        self.login_fails("bosh", self.mint(iss="someone-else"), "not-allowed", "invalid 'iss' claim",
                         "foreign issuer")
        if self.a.resumption_and_metrics:
            self.resumption()
            self.metrics()
        return 1 if self.failed else 0

    def resumption(self) -> None:
        """XEP-0198 over WebSocket: drop the stream, reconnect with ?previd=, resume
        into the same full JID."""
        sm = "urn:xmpp:sm:3"
        name = "ws resumption with ?previd= keeps the full JID"
        try:
            c = WS(self.server, self.a.domain, token=self.mint())
            assert c.login().ok
            c.send(f"<enable xmlns='{sm}' resume='true'/>")
            previd = c.wait_for(lambda el: el.tag == f"{{{sm}}}enabled").get("id")
            assert previd, "no resumption id in <enabled/>"
            c.ws.sock.close()  # the network went away: no </close>
            time.sleep(0.3)
            query = f"token={self.mint()}&previd={previd}"
            c2 = WS(self.server, self.a.domain, query=query)
            c2.open()
            assert c2.auth().ok
            c2.open()
            c2.send(f"<resume xmlns='{sm}' h='0' previd='{previd}'/>")
            answer = c2.wait_for(lambda el: el.tag in (f"{{{sm}}}resumed", f"{{{sm}}}failed"))
            c2.send(f"<iq xmlns='{CLIENT}' type='get' id='me' to='{self.a.domain}'><ping xmlns='urn:xmpp:ping'/></iq>")
            me = c2.wait_for(lambda el: el.get("id") == "me").get("to") if answer.tag.endswith("resumed") else None
            self.record(answer.tag == f"{{{sm}}}resumed" and me == c.jid, name,
                        f"{ET.tostring(answer)[:200]!r} jid {me} (was {c.jid})")
            c2.close()
        except Exception as e:
            self.record(False, name, repr(e))

    def metrics(self) -> None:
        """Prosody's /metrics: Jitsi's counter names move by exactly the logins made."""
        name = "metrics: success and verify_fail count the logins"
        try:
            before = scrape_metrics(self.a.http_port)
            for _ in range(2):
                assert MucBosh(self.server, self.a.domain, token=self.mint()).login()[0].ok
            bad = self.mint(secret="not the secret, but just as long as one")
            assert not MucBosh(self.server, self.a.domain, token=bad).login()[0].ok
            after = scrape_metrics(self.a.http_port)
            got = {}
            for counter in ("success", "verify_fail"):
                key = f'prosody_mod_auth_token__{counter}_total{{host="{self.a.domain}"}}'
                got[counter] = after.get(key, 0) - before.get(key, 0)
            self.record(got == {"success": 2, "verify_fail": 1}, name, f"deltas {got}")
        except Exception as e:
            self.record(False, name, repr(e))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--release", required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--app-id", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--resumption-and-metrics", action="store_true",
                   help="the release ships mod_smacks and mod_http_openmetrics (Prosody 0.12+)")
    raise SystemExit(Checker(p.parse_args()).run())


if __name__ == "__main__":
    main()
