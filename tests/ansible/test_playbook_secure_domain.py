"""The collection's guest_domain, moderators_from_token and allowlist options, run
through the playbook jitsi_meet_tokens.jitsi.token_auth from the built and installed
collection, on the self-contained scratch root of test_playbook.py (this machine's
real Prosody), which here also has Jitsi Meet's config.js and Jicofo's jicofo.conf in
the shapes their maintainer scripts write (tests/fixtures/jitsi-web, for the test's
domain).

In file order on one deployment: token authentication alone, then `--check --diff`
with the three options (every file in the diff, none written), the real run (all
three files written, a guest logs in over BOSH on the guest domain), a second run
with `changed=0`, and `state: absent`, which restores every file byte for byte.
"""

import re
from pathlib import Path

import pytest

# `collections` is test_playbook's fixture: the collection built and installed once.
from test_playbook import (  # noqa: F401
    BAD_SIGNATURE, DOMAIN, HOST_BEFORE_TOKENS, REPO, SECRET_1, Bosh, Scratch, collections,
    one_call, play,
)

GUEST = f"guest.{DOMAIN}"
# Beside what the installer finds itself (Jicofo's trusted-domains names recorder.<domain>).
EXTRA_ALLOWED = f"sip-gateway@auth.{DOMAIN}"
SECURE = dict(
    jitsi_meet_tokens_guest_domain=GUEST,
    jitsi_meet_tokens_moderators_from_token=True,
    jitsi_meet_tokens_allowlist=[EXTRA_ALLOWED],
)
FIXTURE = REPO / "tests" / "fixtures" / "jitsi-web" / "etc" / "jitsi"
CONFIG_JS = Path("etc/jitsi/meet") / f"{DOMAIN}-config.js"
JICOFO_CONF = Path("etc/jitsi/jicofo/jicofo.conf")
HOST_FILE = Path("etc/prosody/conf.avail") / f"{DOMAIN}.cfg.lua"
# The guest VirtualHost gets a file of its own.
GUEST_FILE = Path("etc/prosody/conf.avail") / f"{GUEST}.cfg.lua"


# test_playbook's host as it was before tokens, with the conference MUC component a
# Jitsi server has (where the room check, its allowlist and the moderator option go).
HOST_WITH_MUC = HOST_BEFORE_TOKENS + f"""
Component "conference.{DOMAIN}" "muc"
    restrict_room_creation = true
"""


def jitsi_files(root):
    """Jitsi Meet's web config and Jicofo's config for DOMAIN, written into root from
    the fixtures (written for meet.example.com)."""
    for src, dest in ((FIXTURE / "meet" / "meet.example.com-config.js", CONFIG_JS),
                      (FIXTURE / "jicofo" / "jicofo.conf", JICOFO_CONF)):
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        (root / dest).write_text(src.read_text().replace("meet.example.com", DOMAIN))


def guest_login(scratch):
    """(True, JID) for an anonymous BOSH login on the guest domain, else (False, why)."""
    try:
        result, jid = Bosh(scratch.sr, GUEST, None, headers={"Host": GUEST}).login()
    except (OSError, AssertionError) as e:  # no such host, or no BOSH on it
        return False, f"no BOSH session: {e}"
    return (True, jid) if result.ok else (False, f"{result.condition}: {result.text}")


def contents(scratch, *paths):
    return {str(p): (scratch.root / p).read_bytes() for p in paths}


def diff_of(out, path):
    """Ansible's diff output for one file: from its +++ header to the next file's
    headers (a removed Lua comment also starts a line with "--- ")."""
    m = re.search(r"^\+\+\+ \S*" + re.escape(str(path)) + r"\b.*?(?=^--- \S+\n\+\+\+ |\Z)",
                  out, re.M | re.S)
    return m.group(0) if m else ""


@pytest.fixture(scope="module")
def deployed(collections):
    scratch = Scratch(collections)
    (scratch.root / HOST_FILE).write_text(HOST_WITH_MUC)
    jitsi_files(scratch.root)
    scratch.count_calls()
    try:
        scratch.jitsi_before = contents(scratch, HOST_FILE, CONFIG_JS, JICOFO_CONF)
        scratch.first = play(scratch)
        yield scratch
    finally:
        scratch.cleanup()


def test_token_authentication_alone_leaves_the_jitsi_files_alone(deployed):
    run = deployed.first
    assert run.rc == 0 and run.recap["failed"] == 0, str(run)
    one_call(deployed, "configure", dry_run=False)
    now = contents(deployed, CONFIG_JS, JICOFO_CONF)
    assert now == {k: v for k, v in deployed.jitsi_before.items() if k in now}
    assert deployed.login(SECRET_1) == "success", deployed.log_tail()
    ok, why = guest_login(deployed)
    assert not ok, "a guest logged in before there was a guest domain"


def test_check_diff_shows_every_file_and_writes_none(deployed):
    before = deployed.snapshot()
    pid = deployed.prosody_pid()
    run = play(deployed, ["--check", "--diff"], **SECURE)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    one_call(deployed, "configure", dry_run=True)

    guest = diff_of(run.out, GUEST_FILE)
    assert re.search(rf'^\+\s*VirtualHost "{re.escape(GUEST)}"', guest, re.M), str(run)
    host = diff_of(run.out, HOST_FILE)
    assert re.search(r"^\+.*token_verification_moderators_from_token = true", host, re.M), str(run)
    assert re.search(r"^\+.*token_verification_allowlist", host, re.M), str(run)
    assert EXTRA_ALLOWED in host and f"recorder.{DOMAIN}" in host, host
    web = diff_of(run.out, CONFIG_JS)
    assert re.search(rf"^-\s*// anonymousdomain: 'guest\.example\.com',", web, re.M), str(run)
    assert re.search(rf"^\+\s*anonymousdomain: '{re.escape(GUEST)}',", web, re.M), str(run)
    jicofo = diff_of(run.out, JICOFO_CONF)
    assert re.search(r"^\+.*authentication", jicofo, re.M), str(run)
    assert re.search(r"^\+.*type = JWT", jicofo, re.M), str(run)
    assert re.search(r"^\+.*enable-auto-owner = false", jicofo, re.M), str(run)
    assert SECRET_1 not in run.out + run.err

    assert deployed.snapshot() == before, "check mode changed a file"
    assert deployed.prosody_pid() == pid, "check mode restarted Prosody"


def test_real_run_writes_all_three_files_and_a_guest_logs_in(deployed):
    run = play(deployed, **SECURE)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    one_call(deployed, "configure", dry_run=False)
    args = deployed.calls_log.read_text().splitlines()[-1].split()
    assert f"--guest-domain={GUEST}" in args and "--moderators-from-token" in args, args
    assert f"--allowlist={EXTRA_ALLOWED}" in args, args

    assert f'VirtualHost "{GUEST}"' in (deployed.root / GUEST_FILE).read_text()
    web = (deployed.root / CONFIG_JS).read_text()
    assert re.search(rf"^\s*anonymousdomain: '{re.escape(GUEST)}',", web, re.M), web
    # The decoy outside `hosts` is kept as it was.
    assert "// Hosts here are not the ones above: anonymousdomain: 'not.this.one'," in web
    jicofo = (deployed.root / JICOFO_CONF).read_text()
    assert "JWT" in jicofo and "enable-auto-owner = false" in jicofo, jicofo

    ok, jid = guest_login(deployed)
    assert ok and jid.split("@", 1)[1].startswith(GUEST + "/"), (jid, deployed.log_tail())
    assert deployed.login(SECRET_1) == "success", deployed.log_tail()
    assert deployed.login("not-the-secret-but-as-long-as-a-real-one") == BAD_SIGNATURE


def test_second_run_changes_nothing(deployed):
    before = deployed.snapshot()
    pid = deployed.prosody_pid()
    run = play(deployed, **SECURE)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 0 and run.recap["failed"] == 0, str(run)
    one_call(deployed, "configure", dry_run=False)
    assert deployed.snapshot() == before, "a file was rewritten on an unchanged run"
    assert deployed.prosody_pid() == pid, "Prosody was restarted on an unchanged run"


def test_absent_restores_every_file_byte_for_byte(deployed):
    run = play(deployed, ["--diff"], jitsi_meet_tokens_state="absent")
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    one_call(deployed, "unconfigure", dry_run=False)
    for path in (HOST_FILE, CONFIG_JS, JICOFO_CONF):
        assert diff_of(run.out, path), f"{path} missing from the diff\n{run}"
    assert contents(deployed, HOST_FILE, CONFIG_JS, JICOFO_CONF) == deployed.jitsi_before
    assert not (deployed.root / GUEST_FILE).exists(), "the guest host file was left"
    ok, why = guest_login(deployed)
    assert not ok, "a guest still logs in after state: absent"
