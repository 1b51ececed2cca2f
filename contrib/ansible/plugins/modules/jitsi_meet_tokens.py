#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: Apache-2.0

"""Ansible module: apply (or revert) JWT token authentication on a Prosody host.

All the work is done by the `jitsi-meet-tokens` installer; this module only maps
options to its fixed command-line interface, feeds it the secret on stdin and turns
its single JSON object into an Ansible result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jitsi_meet_tokens
short_description: Configure JWT token authentication for Jitsi Meet on Prosody
description:
  - Runs the C(jitsi-meet-tokens) installer non-interactively to enable (O(state=present))
    or revert (O(state=absent)) token authentication for one Prosody host.
  - The installer edits the Prosody host configuration losslessly and idempotently, and
    restarts Prosody only when a file changed. This module reports C(changed) exactly as
    the installer does, so a second run on an unchanged host reports no change.
  - The secret is passed to the installer on standard input, never on its command line.
  - Check mode runs the installer with C(--dry-run); with C(--diff) the installer's
    unified diff (secret values masked) is returned. The installer runs once per task
    in every mode (a real run reports its own diff).
version_added: "0.1.0"
author:
  - jitsi-meet-tokens maintainers (@jitsi-meet-tokens)
options:
  state:
    description:
      - V(present) runs C(jitsi-meet-tokens configure), V(absent) runs
        C(jitsi-meet-tokens unconfigure), which restores the values recorded before
        the first configure.
    type: str
    choices: [present, absent]
    default: present
  domain:
    description:
      - The Jitsi Meet / Prosody virtual host domain, for example C(meet.example.com).
    type: str
    required: true
  app_id:
    description:
      - The application id (the token's expected issuer unless O(accepted_issuers) says
        otherwise).
      - Required when O(state=present).
    type: str
  app_secret:
    description:
      - The shared secret for HMAC-signed tokens (HS256/384/512).
      - Passed to the installer on standard input; never logged.
      - With O(state=present) exactly one of O(app_secret), O(asap_key_server) and
        O(cache_keys_url) is required.
    type: str
  asap_key_server:
    description:
      - Base URL of an ASAP public key server (C(<url>/<sha256 of kid>.pem)), for
        asymmetric tokens instead of O(app_secret).
    type: str
  cache_keys_url:
    description:
      - URL of a JWKS document with the public keys, for asymmetric tokens instead of
        O(app_secret).
    type: str
  signature_algorithm:
    description:
      - The only accepted token C(alg). The installer's default is V(RS256) with a key
        server or keys URL and V(HS256) with a secret.
    type: str
    choices: [HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA]
  accepted_issuers:
    description:
      - Accepted token C(iss) values (C(asap_accepted_issuers)); V(*) accepts any.
      - Installer default is the O(app_id).
    type: list
    elements: str
  accepted_audiences:
    description:
      - Accepted token C(aud) values (C(asap_accepted_audiences)); V(*) accepts any.
    type: list
    elements: str
  allow_empty_token:
    description:
      - Let clients without a token log in as guests.
      - Left to the installer's default (false) when not set.
    type: bool
  token_clock_leeway:
    description:
      - Clock skew in seconds tolerated for the token's C(exp) and C(nbf) (C(iat) is
        not checked); a whole number from 0 to 4294967295.
    type: int
  presence_identity:
    description:
      - V(false) leaves out C(presence_identity) (user identity from the token in
        presence); passes C(--no-presence-identity).
    type: bool
  guest_domain:
    description:
      - The guest domain, an anonymous VirtualHost for people without a token, who may
        join a meeting once a token user has started it; Jitsi's convention is
        C(guest.<domain>), for example C(guest.meet.example.com).
      - The installer also sets C(hosts.anonymousdomain) in Jitsi Meet's
        C(/etc/jitsi/meet/<domain>-config.js) and token authentication in Jicofo's
        C(/etc/jitsi/jicofo/jicofo.conf) (passes C(--guest-domain)).
      - V("") removes a guest domain set up before (passes C(--no-guest-domain)); not
        set leaves it as the installer's settings file has it.
    type: str
  moderators_from_token:
    description:
      - V(true) makes occupants whose token says so (C(context.user.moderator), or an
        owner or moderator C(context.user.affiliation)) owners of the room and every
        other occupant a member, and stops Jicofo making the first occupant owner
        (C(enable-auto-owner = false) in C(jicofo.conf)).
      - V(false) turns that off again; not set leaves it as the installer's settings
        file has it.
    type: bool
  allowlist:
    description:
      - Bare JIDs or domains let into token-checked rooms without a token
        (C(token_verification_allowlist)), besides the recorder and gateway accounts
        the installer detects, for example C(recorder.meet.example.com).
      - V([]) removes the entries given before; not set leaves them as the
        installer's settings file has them.
    type: list
    elements: str
  fix_include:
    description:
      - Add C(Include "conf.d/*.cfg.lua") to C(prosody.cfg.lua) when it is missing.
        That file is Prosody's conffile, so the installer changes it only on this
        explicit request; otherwise a missing C(Include) is reported as a warning.
    type: bool
    default: false
  plugin_dir:
    description:
      - Directory of this package's Prosody plugins to put in C(plugin_paths), when
        not the packaged C(/usr/share/jitsi-meet-tokens/prosody-plugins).
    type: str
  native_module:
    description:
      - The native verifier C(jitsi_tokens.so) built for Prosody's Lua version, to
        install when missing or different (for installs without the package).
    type: path
  root:
    description:
      - Treat this directory as C(/) for every file the installer reads or writes
        (image builds, tests). Passed as C(--root).
    type: path
    default: /
  restart:
    description:
      - Let the installer restart Prosody when (and only when) a file changed.
      - V(false) passes C(--no-restart); the changes then take effect at the next
        Prosody restart.
    type: bool
    default: true
  settings:
    description:
      - Path of the installer's settings file (C(--settings)); the installer's default
        is C(/etc/jitsi-meet-tokens/settings.toml) under O(root).
    type: path
  binary:
    description:
      - Path of the C(jitsi-meet-tokens) program on the target.
      - Looked up on the target's C(PATH) (and C(/usr/bin)) when not set.
    type: path
notes:
  - The installer also reads C(JITSI_MEET_TOKENS_*) environment variables; the module
    removes them from the installer's environment so that its options (and the
    O(settings) file) are the only input.
  - The installer must be installed on the target first; the
    role C(jitsi_meet_tokens.jitsi.jitsi_meet_tokens) of this collection installs it. In check mode on a target that does not
    have it yet, the module reports a change and a warning instead of failing.
  - The installer's warnings (for example a missing C(Include) line in
    C(prosody.cfg.lua)) are shown as Ansible warnings.
requirements:
  - the C(jitsi-meet-tokens) installer on the target
attributes:
  check_mode:
    description: Runs the installer with C(--dry-run); nothing is written or restarted.
    support: full
  diff_mode:
    description:
      - Returns the installer's unified diff of every file it changes (the Prosody host
        file, Jitsi Meet's C(config.js), Jicofo's C(jicofo.conf)), secrets masked.
    support: full
  platform:
    description: Debian and Ubuntu hosts with Prosody 0.11.6 or newer.
    platforms: posix
    support: full
seealso:
  - name: jitsi-meet-tokens installer
    description: The installer this module runs, its options and its JSON report.
    link: https://github.com/jitsi-meet-tokens/jitsi-meet-tokens/blob/main/README.md
  - name: Prosody configuration
    description: The configuration file the installer edits.
    link: https://prosody.im/doc/configure
  - module: ansible.builtin.apt
    description: Installs the package from an apt repository, as the role of this collection does.
"""

EXAMPLES = r"""
- name: Enable token authentication with a shared secret
  jitsi_meet_tokens.jitsi.jitsi_meet_tokens:
    domain: meet.example.com
    app_id: example_app
    app_secret: "{{ vault_jitsi_app_secret }}"

- name: Use an ASAP key server and RS256 tokens, restrict issuers and audiences
  jitsi_meet_tokens.jitsi.jitsi_meet_tokens:
    domain: meet.example.com
    app_id: example_app
    asap_key_server: https://keys.example.com/asap
    signature_algorithm: RS256
    accepted_issuers: [example_app, other_app]
    accepted_audiences: [jitsi]

- name: Guests without a token, moderators from the token, an extra recorder domain
  jitsi_meet_tokens.jitsi.jitsi_meet_tokens:
    domain: meet.example.com
    app_id: example_app
    app_secret: "{{ vault_jitsi_app_secret }}"
    guest_domain: guest.meet.example.com
    moderators_from_token: true
    allowlist: [recorder.meet.example.com]

- name: Prepare an image tree without touching the running system
  jitsi_meet_tokens.jitsi.jitsi_meet_tokens:
    domain: meet.example.com
    app_id: example_app
    app_secret: "{{ vault_jitsi_app_secret }}"
    root: /srv/image-root
    restart: false

- name: Revert token authentication
  jitsi_meet_tokens.jitsi.jitsi_meet_tokens:
    domain: meet.example.com
    state: absent
"""

RETURN = r"""
changed:
  description: Whether the installer changed (or, in check mode, would change) a file.
  returned: always
  type: bool
  sample: true
files:
  description:
    - The files the installer changed (or would change), as it reports them; with
      O(guest_domain) or O(moderators_from_token) also Jitsi Meet's C(config.js) and
      Jicofo's C(jicofo.conf).
  returned: always
  type: list
  elements: str
  sample: ["/etc/prosody/conf.avail/meet.example.com.cfg.lua", "/etc/jitsi/jicofo/jicofo.conf"]
restart:
  description:
    - What the installer reported about restarting Prosody, for example V(none),
      V(restarted), V(started), V(skipped) (with O(restart=false)), V(denied) (the
      host's C(policy-rc.d) forbids restarting services) or V(would-restart) (check
      mode); V(unknown) in check mode before the installer is installed.
  returned: always
  type: str
  sample: restarted
warnings:
  description: The installer's warnings (also shown as Ansible warnings).
  returned: when the installer warned
  type: list
  elements: str
diff:
  description: The installer's unified diff, secret values masked.
  returned: in diff mode, when something changes
  type: dict
  contains:
    prepared:
      description: The unified diff of every file the run changed (or would change).
      returned: always
      type: str
      sample: "--- a/etc/prosody/conf.avail/meet.example.com.cfg.lua\n+++ b/etc/prosody/conf.avail/meet.example.com.cfg.lua\n..."
command:
  description: The installer command line that was run (it never contains the secret).
  returned: always
  type: list
  elements: str
installer:
  description:
    - The full JSON object the installer printed; empty in check mode before the
      installer is installed.
  returned: always
  type: dict
  contains:
    changed:
      description: Whether the installer changed (or would change) a file.
      returned: success
      type: bool
    files:
      description: The files changed (or that would change).
      returned: success
      type: list
      elements: str
    restart:
      description: What happened to Prosody; the same value as RV(restart).
      returned: success
      type: str
    warnings:
      description: The installer's warnings.
      returned: success
      type: list
      elements: str
    diff:
      description: The masked unified diff; only in diff mode.
      returned: in diff mode
      type: str
    error:
      description: Why the installer failed.
      returned: on failure
      type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

BINARY_NAME = "jitsi-meet-tokens"

# Module option -> installer flag, for options passed through as plain values.
VALUE_FLAGS = (
    ("app_id", "--app-id"),
    ("asap_key_server", "--asap-key-server"),
    ("cache_keys_url", "--cache-keys-url"),
    ("signature_algorithm", "--signature-algorithm"),
    ("plugin_dir", "--plugin-dir"),
    ("native_module", "--native-module"),
)
# List options: the installer takes one comma-separated value.
LIST_FLAGS = (
    ("accepted_issuers", "--issuers"),
    ("accepted_audiences", "--audiences"),
    ("allowlist", "--allowlist"),
)
# The installer also reads these from its environment; the module's options must be
# the only input, so they are removed from the installer's environment.
ENV_PREFIX = "JITSI_MEET_TOKENS_"


def argument_spec():
    algorithms = [
        "HS256", "HS384", "HS512",
        "RS256", "RS384", "RS512",
        "PS256", "PS384", "PS512",
        "ES256", "ES384", "EdDSA",
    ]
    return dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        domain=dict(type="str", required=True),
        app_id=dict(type="str"),
        app_secret=dict(type="str", no_log=True),
        asap_key_server=dict(type="str"),
        cache_keys_url=dict(type="str", no_log=False),
        signature_algorithm=dict(type="str", choices=algorithms),
        accepted_issuers=dict(type="list", elements="str"),
        accepted_audiences=dict(type="list", elements="str"),
        allow_empty_token=dict(type="bool"),
        token_clock_leeway=dict(type="int", no_log=False),
        presence_identity=dict(type="bool"),
        guest_domain=dict(type="str"),
        moderators_from_token=dict(type="bool"),
        allowlist=dict(type="list", elements="str"),
        fix_include=dict(type="bool", default=False),
        plugin_dir=dict(type="str"),
        native_module=dict(type="path"),
        root=dict(type="path", default="/"),
        restart=dict(type="bool", default=True),
        settings=dict(type="path"),
        binary=dict(type="path"),
    )


def find_binary(module):
    """The installer's path, or None when it is not (yet) on the target."""
    binary = module.params["binary"]
    if binary:
        return binary if os.path.isfile(binary) and os.access(binary, os.X_OK) else None
    return module.get_bin_path(BINARY_NAME, opt_dirs=["/usr/bin", "/usr/local/bin"])


def build_command(module, binary, dry_run):
    p = module.params
    subcommand = "configure" if p["state"] == "present" else "unconfigure"
    # "--flag=value": a value that starts with "-" stays a value.
    cmd = [binary, subcommand, "--root=" + p["root"], "--domain=" + p["domain"],
           "--non-interactive", "--output=json"]
    if not p["restart"]:
        cmd.append("--no-restart")
    if dry_run:
        cmd.append("--dry-run")
    if p["settings"] is not None:
        cmd.append("--settings=" + p["settings"])
    if p["state"] == "absent":
        return cmd
    for option, flag in VALUE_FLAGS:
        if p[option] is not None:
            cmd.append("%s=%s" % (flag, p[option]))
    for option, flag in LIST_FLAGS:
        if p[option] is not None:
            if any("," in value for value in p[option]):
                module.fail_json(msg="%s: a value must not contain ','" % option)
            cmd.append("%s=%s" % (flag, ",".join(p[option])))
    if p["allow_empty_token"] is not None:
        cmd.append("--allow-empty-token=%s" % ("true" if p["allow_empty_token"] else "false"))
    if p["token_clock_leeway"] is not None:
        cmd.append("--token-clock-leeway=%d" % p["token_clock_leeway"])
    if p["moderators_from_token"] is not None:
        cmd.append("--moderators-from-token" if p["moderators_from_token"]
                   else "--no-moderators-from-token")
    if p["guest_domain"] == "":
        cmd.append("--no-guest-domain")
    elif p["guest_domain"] is not None:
        cmd.append("--guest-domain=" + p["guest_domain"])
    if p["presence_identity"] is False:
        cmd.append("--no-presence-identity")
    if p["fix_include"]:
        cmd.append("--fix-include")
    if p["app_secret"] is not None:
        # "-" = read the secret from stdin, so it never shows in the process list.
        cmd.append("--app-secret-file=-")
    return cmd


def run_installer(module, cmd):
    """Run the installer once and return its parsed JSON object (fails the task otherwise)."""
    secret = module.params["app_secret"]
    # No ~ or $VAR expansion: ids and domains are passed exactly as given.
    if secret is not None and module.params["state"] == "present":
        # binary_data=True: pass the secret byte for byte (no newline appended).
        rc, out, err = module.run_command(cmd, data=secret, binary_data=True,
                                          expand_user_and_vars=False)
    else:
        rc, out, err = module.run_command(cmd, expand_user_and_vars=False)
    result = parse_json(out)
    if rc != 0:
        detail = installer_error(result, err, out)
        what = "usage error" if rc == 2 else "failed"
        module.fail_json(
            msg="jitsi-meet-tokens %s %s (exit %d): %s" % (cmd[1], what, rc, detail),
            rc=rc, stdout=out, stderr=err, command=cmd, installer=result or {},
        )
    if result is None:
        module.fail_json(
            msg="jitsi-meet-tokens %s printed no JSON object on stdout" % cmd[1],
            rc=rc, stdout=out, stderr=err, command=cmd,
        )
    return result


def parse_json(text):
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        # Tolerate log lines before the object: take the last line that parses.
        value = None
        for line in reversed(text.splitlines()):
            try:
                value = json.loads(line)
                break
            except ValueError:
                continue
    return value if isinstance(value, dict) else None


def installer_error(result, err, out):
    if result:
        for key in ("error", "message", "msg"):
            if result.get(key):
                return str(result[key])
    for text in (err, out):
        if text and text.strip():
            return text.strip()
    return "no error message"


def main():
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            del os.environ[name]

    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("app_secret", "asap_key_server", "cache_keys_url")],
        required_if=[
            ("state", "present", ("app_id",)),
            ("state", "present", ("app_secret", "asap_key_server", "cache_keys_url"), True),
        ],
        supports_check_mode=True,
    )

    binary = find_binary(module)
    if binary is None:
        where = module.params["binary"] or "%s (not found on PATH)" % BINARY_NAME
        msg = ("the installer %s is not on the target or not executable; install the "
               "package first (the jitsi_meet_tokens.jitsi.jitsi_meet_tokens role does) "
               "or set 'binary'" % where)
        if module.check_mode:
            # A fresh host in a --check run: the role's install step did not really run.
            module.warn(msg + "; check mode cannot preview the configuration change")
            module.exit_json(changed=True, files=[], restart="unknown", command=[], installer={})
        module.fail_json(msg=msg)

    # One run in every mode: the installer's JSON carries the diff of a real run too.
    command = build_command(module, binary, dry_run=module.check_mode)
    result = run_installer(module, command)
    diff_text = result.get("diff")

    for warning in result.get("warnings") or []:
        module.warn(str(warning))

    changed = result.get("changed")
    if not isinstance(changed, bool):
        module.fail_json(msg="jitsi-meet-tokens printed JSON without a boolean 'changed'",
                         installer=result, command=command)
    if not module._diff:
        result = dict(result)
        result.pop("diff", None)
    output = dict(
        changed=changed,
        files=result.get("files") or [],
        restart=str(result.get("restart", "none")),
        command=command,
        installer=result,
    )
    if module._diff and changed and diff_text:
        output["diff"] = dict(prepared=diff_text)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
