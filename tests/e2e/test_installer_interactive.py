"""The interactive `configure` flow through a real pseudo-terminal (tmux): prompts
with detected defaults, a generated secret on offer, hidden secret input."""

import re
import shlex
import shutil
import subprocess
import time

import pytest

from harness import PLUGINS
from test_installer_support import ScratchRoot, installer


@pytest.fixture
def scratch():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: `apt-get install -y tmux`")
    s = ScratchRoot()
    try:
        yield s
    finally:
        s.cleanup()


class Pane:
    def __init__(self, command: str):
        self.name = f"jmt-interactive-{time.monotonic_ns()}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "40",
                        command + "; echo EXIT=$?; sleep 60"], check=True)

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True, check=True).stdout

    def wait(self, pattern: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.text()
            if re.search(pattern, t):
                return t
            time.sleep(0.1)
        raise AssertionError(f"never saw {pattern!r} on the terminal:\n{self.text()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def command(s: ScratchRoot) -> str:
    return " ".join(shlex.quote(a) for a in [
        installer(), "configure", "--root", str(s.root), "--no-restart",
        "--native-module", str(s.module), "--plugin-dir", str(PLUGINS)])


def host_file(s: ScratchRoot) -> str:
    return (s.root / "etc/prosody/conf.avail/meet.test.cfg.lua").read_text()



def answer_secure_domain(pane):
    """The secure-domain prompts that follow the secret: defaults (no guests, no
    moderators from the token)."""
    pane.wait("Let guests without a token join")
    pane.keys("Enter")
    pane.wait("Take moderator rights from the token")
    pane.keys("Enter")

def test_typed_secret_is_hidden_and_written(scratch):
    pane = Pane(command(scratch))
    try:
        pane.wait("Jitsi Meet domain")
        pane.keys("meet.test", "Enter")
        pane.wait("Application id")
        pane.keys("tmux-app", "Enter")
        pane.wait("Generate a strong random secret")
        pane.keys("Down", "Enter")  # "Type a secret (hidden)"
        pane.wait("App secret")
        pane.keys("typed-s3cret!", "Enter")
        pane.wait("Repeat the app secret")
        pane.keys("typed-s3cret!", "Enter")
        answer_secure_domain(pane)
        screen = pane.wait(r"EXIT=\d+")
        assert "EXIT=0" in screen, screen
        assert "typed-s3cret!" not in screen, "the secret was echoed"
    finally:
        pane.close()
    text = host_file(scratch)
    assert 'app_id = "tmux-app"' in text
    assert 'app_secret = "typed-s3cret!"' in text


def test_generated_secret_and_detected_domain_default(scratch):
    # First run (non-interactive) creates the host; the second, interactive one must
    # offer it as the default domain and keep/replace the secret on request.
    r, _ = scratch.configure("initial-secret", "--no-restart")
    assert r.returncode == 0, r.stdout
    # Without the settings file the values are missing again: detection must offer them.
    (scratch.root / "etc/jitsi-meet-tokens/settings.toml").unlink()
    pane = Pane(command(scratch))
    try:
        screen = pane.wait("Jitsi Meet domain")
        assert "meet.test" in screen, "detected host offered as the default"
        pane.keys("Enter")
        screen = pane.wait("Application id")
        assert "myapp" in screen, "current app_id offered as the default"
        pane.keys("Enter")
        screen = pane.wait("Keep the current secret")
        pane.keys("Down", "Enter")  # "Generate a strong random secret"
        pane.wait("how should you receive it")
        pane.keys("Down", "Enter")  # "Write it to a file (mode 0600)"
        pane.wait("File for the secret")
        handed = scratch.base / "issuer-secret"
        pane.keys(str(handed), "Enter")
        answer_secure_domain(pane)
        screen = pane.wait(r"EXIT=\d+")
        assert "EXIT=0" in screen, screen
        assert f"The secret is in {handed} (mode 0600)." in screen, screen
    finally:
        pane.close()
    m = re.search(r'app_secret = "([A-Za-z0-9_-]+)"', host_file(scratch))
    assert m and len(m.group(1)) == 43 and m.group(1) != "initial-secret", host_file(scratch)
    assert m.group(1) not in screen, "the generated secret is not printed"
    # The administrator's token issuer gets exactly the secret the host checks.
    assert handed.read_text() == m.group(1) + "\n"
    assert handed.stat().st_mode & 0o777 == 0o600


def test_generated_secret_is_shown_once_then_wiped(scratch):
    pane = Pane(command(scratch) + " --domain meet.test --app-id tmux-app")
    try:
        pane.wait("Generate a strong random secret")
        pane.keys("Enter")
        pane.wait("how should you receive it")
        pane.keys("Enter")  # "Show it once on this terminal"
        pane.wait("Show the secret now")
        pane.keys("y")
        screen = pane.wait(r"app_secret: [A-Za-z0-9_-]{43}\b")
        shown = re.search(r"app_secret: ([A-Za-z0-9_-]{43})\b", screen).group(1)
        pane.keys("Enter")
        answer_secure_domain(pane)
        screen = pane.wait(r"EXIT=\d+")
        assert "EXIT=0" in screen, screen
        assert shown not in screen, "the secret stays on the screen"
        assert "shown once and wiped" in screen, screen
    finally:
        pane.close()
    assert f'app_secret = "{shown}"' in host_file(scratch)


def test_secret_from_stdin_on_a_terminal_is_prompted_and_hidden(scratch):
    pane = Pane(command(scratch) + " --domain meet.test --app-id tmux-app "
                "--app-secret-file - --non-interactive")
    try:
        pane.wait(r"App secret \(input hidden\)")
        pane.keys("stdin-s3cret!", "Enter")
        screen = pane.wait(r"EXIT=\d+")
        assert "EXIT=0" in screen, screen
        assert "stdin-s3cret!" not in screen, "the secret was echoed"
    finally:
        pane.close()
    assert 'app_secret = "stdin-s3cret!"' in host_file(scratch)
