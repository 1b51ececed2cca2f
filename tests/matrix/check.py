#!/usr/bin/env python3
"""Log in to a Prosody started by tests/matrix/run, over BOSH and WebSocket.

Checks, against a real server: a good token logs in and binds; a bad one gets a SASL
<failure> with the contract's condition and text; a MUC join is allowed for the
token's room and refused (with the reason) for another room; the presence carries
the token's identity. Each check appends one line to --results.
"""

import argparse
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import jwt
import websocket

NS_BOSH = "http://jabber.org/protocol/httpbind"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_JITMEET = "http://jitsi.org/jitmeet"
TIMEOUT = 15  # larger than BOSH wait, so a regression fails instead of hanging


class Failure(Exception):
    pass


def q(ns, tag):
    return "{%s}%s" % (ns, tag)


def mint(secret, app_id, domain, room, lifetime=600, drop=(), **extra):
    now = int(time.time())
    claims = {
        "iss": app_id,
        "aud": "jitsi",
        "sub": domain,
        "room": room,
        "iat": now,
        "exp": now + lifetime,
        "context": {"user": {"id": "u-42", "name": "Matrix Tester", "email": "t@example.org"}},
    }
    claims.update(extra)
    for k in drop:
        claims.pop(k, None)
    return jwt.encode(claims, secret.encode("utf-8"), algorithm="HS256")


def sasl_outcome(el):
    """('success', None, None) or ('failure', condition, text)."""
    if el.tag == q(NS_SASL, "success"):
        return "success", None, None
    if el.tag == q(NS_SASL, "failure"):
        cond = next((c.tag.split("}")[1] for c in el if c.tag != q(NS_SASL, "text")), None)
        text = el.findtext(q(NS_SASL, "text"))
        return "failure", cond, text
    raise Failure("unexpected SASL answer: %s" % ET.tostring(el, encoding="unicode"))


class Bosh:
    def __init__(self, port, domain, token):
        self.url = "http://127.0.0.1:%d/http-bind?token=%s" % (port, token)
        self.domain = domain
        self.rid = 1000
        self.sid = None
        self.pending = []

    def post(self, body):
        req = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "text/xml; charset=utf-8"}
        )
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            data = resp.read()
        root = ET.fromstring(data)
        if root.get("type") == "terminate":
            raise Failure("BOSH session terminated: %s" % data.decode(errors="replace"))
        self.pending.extend(list(root))
        return root

    def send(self, payload="", extra=""):
        self.rid += 1
        return self.post(
            "<body rid='%d' sid='%s' xmlns='%s'%s>%s</body>" % (self.rid, self.sid, NS_BOSH, extra, payload)
        )

    def next(self, match, what):
        """The first pending (or newly polled) element for which match() is true."""
        deadline = time.time() + TIMEOUT
        while True:
            for i, el in enumerate(self.pending):
                if match(el):
                    return self.pending.pop(i)
            if time.time() > deadline:
                raise Failure("no %s within %d s" % (what, TIMEOUT))
            self.send()

    def open(self):
        root = self.post(
            "<body content='text/xml; charset=utf-8' hold='1' rid='%d' to='%s' ver='1.6' wait='5' "
            "xml:lang='en' xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>"
            % (self.rid, self.domain, NS_BOSH)
        )
        self.sid = root.get("sid")
        if not self.sid:
            raise Failure("no BOSH sid: %s" % ET.tostring(root, encoding="unicode"))
        feats = self.next(lambda e: e.tag.endswith("}features"), "stream features")
        mechs = [m.text for m in feats.iter(q(NS_SASL, "mechanism"))]
        return mechs

    def auth(self):
        self.send("<auth xmlns='%s' mechanism='ANONYMOUS'/>" % NS_SASL)
        return sasl_outcome(self.next(lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure")), "SASL answer"))

    def restart_and_bind(self):
        self.send(
            extra=" to='%s' xml:lang='en' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'" % self.domain
        )
        self.next(lambda e: e.tag.endswith("}features"), "features after restart")
        self.send("<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='%s'/></iq>" % NS_BIND)
        iq = self.next(lambda e: e.get("id") == "b1", "bind result")
        jid = iq.findtext(".//" + q(NS_BIND, "jid"))
        if iq.get("type") != "result" or not jid:
            raise Failure("bind failed: %s" % ET.tostring(iq, encoding="unicode"))
        return jid

    def stanza(self, xml):
        self.send(xml)

    def close(self):
        try:
            self.rid += 1
            self.post("<body rid='%d' sid='%s' type='terminate' xmlns='%s'/>" % (self.rid, self.sid, NS_BOSH))
        except Exception:
            pass


class WebSocket:
    def __init__(self, port, domain, token):
        self.ws = websocket.create_connection(
            "ws://127.0.0.1:%d/xmpp-websocket?token=%s" % (port, token),
            subprotocols=["xmpp"],
            suppress_origin=True,
            timeout=TIMEOUT,
        )
        self.domain = domain
        self.pending = []

    def frame(self):
        data = self.ws.recv()
        if not data:
            raise Failure("WebSocket closed")
        return ET.fromstring(data)

    def next(self, match, what):
        deadline = time.time() + TIMEOUT
        while True:
            for i, el in enumerate(self.pending):
                if match(el):
                    return self.pending.pop(i)
            if time.time() > deadline:
                raise Failure("no %s within %d s" % (what, TIMEOUT))
            el = self.frame()
            if el.tag == q(NS_FRAMING, "close"):
                raise Failure("server closed the stream")
            self.pending.append(el)

    def open(self):
        self.ws.send("<open xmlns='%s' to='%s' version='1.0'/>" % (NS_FRAMING, self.domain))
        self.next(lambda e: e.tag == q(NS_FRAMING, "open"), "stream open")
        feats = self.next(lambda e: e.tag.endswith("}features"), "stream features")
        return [m.text for m in feats.iter(q(NS_SASL, "mechanism"))]

    def auth(self):
        self.ws.send("<auth xmlns='%s' mechanism='ANONYMOUS'/>" % NS_SASL)
        return sasl_outcome(self.next(lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure")), "SASL answer"))

    def restart_and_bind(self):
        self.open()
        self.ws.send("<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='%s'/></iq>" % NS_BIND)
        iq = self.next(lambda e: e.get("id") == "b1", "bind result")
        jid = iq.findtext(".//" + q(NS_BIND, "jid"))
        if iq.get("type") != "result" or not jid:
            raise Failure("bind failed: %s" % ET.tostring(iq, encoding="unicode"))
        return jid

    def stanza(self, xml):
        self.ws.send(xml)

    def close(self):
        try:
            self.ws.send("<close xmlns='%s'/>" % NS_FRAMING)
            self.ws.close()
        except Exception:
            pass


class Checker:
    def __init__(self, args):
        self.a = args
        self.failed = 0
        self.out = open(args.results, "a")

    def record(self, ok, name, detail=""):
        line = "%-10s %-6s %s%s" % (self.a.release, "pass" if ok else "FAIL", name, (": " + detail) if detail else "")
        print(line, flush=True)
        self.out.write(line + "\n")
        self.out.flush()
        if not ok:
            self.failed += 1

    def client(self, kind, token):
        cls = Bosh if kind == "bosh" else WebSocket
        return cls(self.a.http_port, self.a.domain, token)

    def login_ok(self, kind):
        room = "matrixroom"
        c = self.client(kind, mint(self.a.secret, self.a.app_id, self.a.domain, room))
        try:
            mechs = c.open()
            if mechs != ["ANONYMOUS"]:
                raise Failure("mechanisms offered: %s (want only ANONYMOUS)" % mechs)
            outcome = c.auth()
            if outcome[0] != "success":
                raise Failure("login refused: %s %s" % outcome[1:])
            jid = c.restart_and_bind()
            self.record(True, "%s token login" % kind, jid)
        except Exception as e:
            self.record(False, "%s token login" % kind, str(e))
            c.close()
            return
        try:
            self.muc(kind, c, room)
        finally:
            c.close()

    def muc(self, kind, c, room):
        muc = "conference." + self.a.domain
        # Allowed: the token's room. Self-presence carries status 110.
        c.stanza("<presence xmlns='jabber:client' to='%s@%s/tester'><x xmlns='http://jabber.org/protocol/muc'/></presence>" % (room, muc))
        try:
            p = c.next(lambda e: e.tag.endswith("}presence") and (e.get("from") or "").startswith("%s@%s" % (room, muc)), "MUC presence")
            if p.get("type") == "error":
                raise Failure("join refused: %s" % ET.tostring(p, encoding="unicode"))
            codes = [s.get("code") for s in p.iter(q(NS_MUC_USER, "status"))]
            self.record(True, "%s MUC join of the token's room" % kind, "status %s" % codes)
            ident = p.find(".//{*}identity/{*}user")
            name = ident.findtext("{*}name") if ident is not None else None
            self.record(name == "Matrix Tester", "%s presence carries token identity" % kind,
                        "name=%r" % name)
        except Exception as e:
            self.record(False, "%s MUC join of the token's room" % kind, str(e))
        # Refused: another room.
        other = "otherroom"
        c.stanza("<presence xmlns='jabber:client' to='%s@%s/tester'><x xmlns='http://jabber.org/protocol/muc'/></presence>" % (other, muc))
        try:
            p = c.next(lambda e: e.tag.endswith("}presence") and (e.get("from") or "").startswith("%s@%s" % (other, muc)), "MUC presence")
            err = p.find("{*}error")
            if p.get("type") != "error" or err is None or err.find(q(NS_STANZAS, "not-allowed")) is None:
                raise Failure("join of a room the token does not name was not refused with not-allowed: %s" % ET.tostring(p, encoding="unicode"))
            text = err.findtext(q(NS_STANZAS, "text"))
            code = [c2.tag.split("}")[1] for c2 in err if c2.tag.startswith("{%s}" % NS_JITMEET)]
            self.record(bool(text) and bool(code), "%s MUC join of another room refused" % kind,
                        "text=%r code=%s" % (text, code))
        except Exception as e:
            self.record(False, "%s MUC join of another room refused" % kind, str(e))

    def login_fails(self, kind, token, want_cond, want_text, label):
        c = self.client(kind, token)
        try:
            c.open()
            outcome = c.auth()
            ok = outcome[0] == "failure" and outcome[1] == want_cond and (outcome[2] or "").startswith(want_text)
            self.record(ok, "%s %s refused" % (kind, label), "%s %s %r" % outcome)
        except Exception as e:
            self.record(False, "%s %s refused" % (kind, label), str(e))
        finally:
            c.close()

    def run(self):
        a = self.a
        for kind in ("bosh", "ws"):
            self.login_ok(kind)
        self.login_fails("bosh", mint("not the secret, but just as long as one", a.app_id, a.domain, "matrixroom"),
                         "not-allowed", "Invalid signature", "bad signature")
        self.login_fails("ws", mint(a.secret, a.app_id, a.domain, "matrixroom", lifetime=-120),
                         "not-allowed", "Not acceptable by exp", "expired token")
        self.login_fails("ws", mint(a.secret, a.app_id, a.domain, "matrixroom", drop=("room",)),
                         "not-authorized", "room claim is missing", "token without room")
        # A server that survived all that still answers (no pinned CPU, no hang).
        self.login_fails("bosh", mint(a.secret, "someone-else", a.domain, "matrixroom"),
                         "not-allowed", "invalid 'iss' claim", "foreign issuer")
        return 1 if self.failed else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--release", required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--app-id", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--results", required=True)
    raise SystemExit(Checker(p.parse_args()).run())


if __name__ == "__main__":
    main()
