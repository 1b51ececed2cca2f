"""When the package suites run: only when asked (they install a package or compile
for minutes), and once asked, a machine that cannot run them fails them instead of
skipping (scripts/test asks, and treats any other skip as a failure)."""

import os
import shutil

import pytest

ASKED = os.environ.get("JITSI_MEET_TOKENS_PACKAGE_TESTS") == "1"


def only_when_asked(what: str):
    """The module's `pytestmark`: skipped only when nobody asked for it."""
    return pytest.mark.skipif(not ASKED, reason=f"set JITSI_MEET_TOKENS_PACKAGE_TESTS=1 to {what}")


def require(tools, needs_root_for: str, extra=None) -> None:
    """Fail (never skip) when an asked-for suite lacks root, a tool, or `extra()`'s condition."""
    why = None
    if os.geteuid() != 0:
        why = f"needs root ({needs_root_for})"
    else:
        why = next((f"{t} not installed" for t in tools if not shutil.which(t)), None) or (extra() if extra else None)
    if why is not None:
        pytest.fail(f"the package suite was asked for but cannot run: {why} (scripts/setup installs it)")
