//! Restarting Prosody and proving it came back. On the real system (`--root /`) the
//! local policy is asked first (`invoke-rc.d --query`, which consults
//! `policy-rc.d`, as Debian requires of maintainer scripts), and the service is
//! driven through `invoke-rc.d`: a restart under systemd; otherwise the pidfile's
//! process is stopped with signals (Debian 12's init script cannot stop a Prosody on
//! lua5.4, see prosody.md) and started again. Under a `--root` that is not `/`,
//! the root's own `usr/bin/prosody -F` is spawned as the prosody user, and only when
//! its config and pidfile lie inside the root too: nothing outside it is read,
//! signalled or started.
//! Success means a new PID in the pidfile and the BOSH endpoint answering for the
//! domain (offering ANONYMOUS, i.e. token login, when we configured it).

use crate::runner::{Cmd, Runner};
use crate::status::live::Probe;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What we know about the Prosody instance a config describes.
#[derive(Debug, Clone)]
pub struct Service {
    pub root: PathBuf,
    /// The main config file (real path).
    pub config: PathBuf,
    /// Real path of the pidfile.
    pub pidfile: Option<PathBuf>,
    /// Loopback-reachable address of the HTTP (BOSH) port, when mod_bosh is on.
    pub bosh: Option<(String, u16)>,
    /// c2s port, the fallback liveness check when BOSH is off.
    pub c2s: (String, u16),
    /// Extra Lua C-module directory (the root's), for a Prosody spawned under `--root`.
    pub lua_cpath: Option<(String, String)>,
    /// The file Prosody logs to (real path), named when it does not come back.
    pub log: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The domain must offer SASL ANONYMOUS (token login) over BOSH.
    TokenLogin,
    /// Any answer from the server will do.
    Alive,
}

#[derive(Debug, Clone)]
pub struct Restarted {
    /// `restarted` or `started` (was not running).
    pub what: &'static str,
    pub method: String,
    pub old_pid: Option<i32>,
    pub new_pid: i32,
    /// How the answer was checked (BOSH session offering ANONYMOUS, or the c2s port).
    pub confirmed_by: String,
}

/// The PID in `pidfile` when that process is alive (not a zombie) and is Prosody: a
/// stale pidfile whose number now belongs to another process must never be signalled.
pub fn running_pid(pidfile: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let is_prosody = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).any(|arg| arg.ends_with(b"prosody")))
        .unwrap_or(false);
    (alive(pid) && is_prosody).then_some(pid)
}

fn alive(pid: i32) -> bool {
    if pid <= 0 || kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    // A dead child of ours stays a zombie until reaped; it answers kill(0) all the same.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => true,
    }
}

fn wait_dead(pid: i32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

fn stop_pid(pid: i32) -> Result<()> {
    let p = Pid::from_raw(pid);
    let _ = kill(p, Signal::SIGTERM);
    if wait_dead(pid, Duration::from_secs(10)) {
        return Ok(());
    }
    let _ = kill(p, Signal::SIGKILL);
    if wait_dead(pid, Duration::from_secs(3)) {
        return Ok(());
    }
    bail!("Prosody (PID {pid}) did not stop after SIGTERM and SIGKILL")
}

/// `invoke-rc.d` on the real system, when installed (Debian's sysv-rc / init-system-helpers).
fn invoke_rc_d(root: &Path) -> Option<PathBuf> {
    (root == Path::new("/"))
        .then(|| which::which("invoke-rc.d").ok())
        .flatten()
}

fn systemd_running(root: &Path) -> bool {
    root == Path::new("/")
        && Path::new("/run/systemd/system").is_dir()
        && which::which("systemctl").is_ok()
}

impl Service {
    /// The live Prosody of this config; under a scratch root, only one whose pidfile
    /// lies inside the root (another file is not ours to read).
    pub fn pid(&self) -> Option<i32> {
        self.pidfile
            .as_deref()
            .filter(|p| self.root == Path::new("/") || p.starts_with(&self.root))
            .and_then(running_pid)
    }

    /// Why a Prosody of a scratch root cannot be restarted without reaching outside
    /// it: its pidfile, binary and config must all lie inside.
    pub fn outside_root(&self) -> Option<String> {
        if self.root == Path::new("/") {
            return None;
        }
        let root = self.root.display();
        let fix = "or pass --no-restart and start it yourself";
        match &self.pidfile {
            None => {
                return Some(format!(
                    "the config under {root} sets no pidfile, so a restart cannot be \
                     confirmed: set pidfile to a path inside {root}, {fix}"
                ))
            }
            Some(p) if self.leaves_root(p) => {
                return Some(format!(
                    "its pidfile {} lies outside --root {root} (a Prosody started from \
                     the root would write there): set pidfile to a path inside {root}, {fix}",
                    p.display()
                ))
            }
            Some(_) => {}
        }
        if self.leaves_root(&self.config) {
            return Some(format!(
                "its config {} lies outside --root {root}; {fix}",
                self.config.display()
            ));
        }
        match self.root_program() {
            Ok(bin) if bin.exists() => None,
            Ok(bin) => Some(format!(
                "there is no {}: under --root only the root's own Prosody is started; \
                 install or link it there, {fix}",
                bin.display()
            )),
            Err(e) => Some(format!("{e:#}, {fix}")),
        }
    }

    /// A host path (as the config names it) that is not under the root, or whose
    /// links lead out of it ([`crate::fsops::resolve`]).
    fn leaves_root(&self, p: &Path) -> bool {
        !p.starts_with(&self.root) || crate::fsops::resolve(&self.root, p, true).is_err()
    }

    /// The root's `/usr/bin/prosody`, its links resolved inside the root.
    fn root_program(&self) -> Result<PathBuf> {
        crate::fsops::inside(&self.root, "/usr/bin/prosody")
    }

    /// "; its log: PATH" when the config names a log file.
    fn log_hint(&self) -> String {
        self.log
            .as_ref()
            .map(|l| format!("; its log: {}", l.display()))
            .unwrap_or_default()
    }

    /// Why the local policy forbids restarting Prosody now, if it does: a
    /// `policy-rc.d` answering "no" (image builds, chroots) is asked before anything
    /// is stopped. No `invoke-rc.d` or a scratch root means no policy applies.
    pub fn restart_denied(&self, runner: &dyn Runner) -> Result<Option<String>> {
        let Some(invoke) = invoke_rc_d(&self.root) else {
            return Ok(None);
        };
        let out = runner.run(
            &Cmd::new(invoke)
                .arg("--query")
                .arg("prosody")
                .arg("restart"),
        )?;
        // 101: not allowed; 106: not allowed, a fallback action is suggested. 104
        // (allowed), 105 (no policy) and the script errors (100, 102, 103, which the
        // restart itself then reports) are not a policy refusal.
        Ok(match out.status {
            Some(code @ (101 | 106)) => Some(format!(
                "the local policy (policy-rc.d) does not allow restarting prosody \
                 (invoke-rc.d --query prosody restart: {code})"
            )),
            _ => None,
        })
    }

    /// Restart (or start) Prosody and wait until it answers as `expect` says.
    pub fn restart(&self, runner: &dyn Runner, domain: &str, expect: Expect) -> Result<Restarted> {
        if let Some(why) = self.outside_root() {
            return Err(crate::error::Error::RestartRefused(why).into());
        }
        let old = self.pid();
        let (method, spawned) = self.stop_and_start(runner, old)?;
        let new_pid = self
            .wait_new_pid(old, Duration::from_secs(15))
            .inspect_err(|_| {
                // A Prosody we started but cannot see through the pidfile must not
                // linger holding ports.
                if let Some(pid) = spawned.filter(|p| alive(*p)) {
                    let _ = stop_pid(pid);
                }
            })?;
        self.wait_answer(domain, expect, Duration::from_secs(10))
            .map_err(|e| {
                anyhow::anyhow!(
                    "Prosody (PID {new_pid}) started but does not answer properly: {e:#}{}",
                    self.log_hint()
                )
            })?;
        Ok(Restarted {
            what: if old.is_some() {
                "restarted"
            } else {
                "started"
            },
            method,
            old_pid: old,
            new_pid,
            confirmed_by: self.confirmed_by(domain, expect),
        })
    }

    /// Stop and start Prosody the way this machine runs it: the restart's method,
    /// and the PID of a Prosody spawned here.
    fn stop_and_start(
        &self,
        runner: &dyn Runner,
        old: Option<i32>,
    ) -> Result<(String, Option<i32>)> {
        let invoke = invoke_rc_d(&self.root);
        // invoke-rc.d, where installed, asks policy-rc.d first.
        let service_cmd = |action: &str, without_invoke: Cmd| match &invoke {
            Some(i) => Cmd::new(i)
                .arg("--disclose-deny")
                .arg("prosody")
                .arg(action),
            None => without_invoke,
        };
        if systemd_running(&self.root) {
            let cmd = service_cmd(
                "restart",
                Cmd::new("systemctl").arg("restart").arg("prosody"),
            );
            return Ok((self.run_service_command(runner, &cmd)?, None));
        }
        if let Some(pid) = old {
            stop_pid(pid)?;
        }
        let init = self.root.join("etc/init.d/prosody");
        if self.root == Path::new("/") && init.exists() {
            // Stopping was ours (signals); the init script only starts.
            let cmd = service_cmd("start", Cmd::new(&init).arg("start"));
            return Ok((self.run_service_command(runner, &cmd)?, None));
        }
        let (method, pid) = self.spawn(runner)?;
        Ok((method, Some(pid)))
    }

    /// Start Prosody in the foreground from the (root's) program, as user prosody.
    fn spawn(&self, runner: &dyn Runner) -> Result<(String, i32)> {
        let prosody = match self.root_program() {
            Ok(p) if p.exists() => p,
            // Only on `/` (outside_root() refused a scratch root without it).
            _ => which::which("prosody")
                .context("prosody is not in PATH: install the prosody package")?,
        };
        // Never as root: setpriv drops to the prosody user before exec.
        let mut cmd = Cmd::new("setpriv")
            .arg("--reuid=prosody")
            .arg("--regid=prosody")
            .arg("--init-groups")
            .arg("--")
            .arg(&prosody)
            .arg("--config")
            .arg(&self.config)
            .arg("-F");
        if let Some((k, v)) = &self.lua_cpath {
            cmd = cmd.env(k, v);
        }
        let method = format!("spawned {} as user prosody", prosody.display());
        Ok((method, runner.spawn(&cmd)? as i32))
    }

    /// What proved Prosody answers, for the report.
    fn confirmed_by(&self, domain: &str, expect: Expect) -> String {
        match (&self.bosh, expect) {
            (Some((h, p)), Expect::TokenLogin) => {
                format!("BOSH on {h}:{p} offering token login for {domain}")
            }
            (Some((h, p)), Expect::Alive) => format!("HTTP on {h}:{p}"),
            (None, _) => format!("c2s port {}:{}", self.c2s.0, self.c2s.1),
        }
    }

    /// Run an init-system command; its display is the restart's method.
    fn run_service_command(&self, runner: &dyn Runner, cmd: &Cmd) -> Result<String> {
        let method = cmd.display();
        let out = runner.run(cmd)?;
        if !out.success() {
            let said = [out.stdout.trim(), out.stderr.trim()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            bail!("{method} failed ({said}){}", self.log_hint());
        }
        Ok(method)
    }

    fn wait_new_pid(&self, old: Option<i32>, timeout: Duration) -> Result<i32> {
        let Some(pf) = &self.pidfile else {
            bail!("the config sets no pidfile, so a restart cannot be confirmed");
        };
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(pid) = running_pid(pf) {
                if Some(pid) != old {
                    return Ok(pid);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "Prosody did not come up within {} s (no new live PID in {}){}",
            timeout.as_secs(),
            pf.display(),
            self.log_hint()
        )
    }

    fn wait_answer(&self, domain: &str, expect: Expect, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut last = anyhow::anyhow!("no answer");
        while start.elapsed() < timeout {
            if self.pidfile.is_some() && self.pid().is_none() {
                bail!("Prosody exited right after starting");
            }
            match self.probe(domain, expect) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last)
    }

    /// One probe: a BOSH session request for the domain, or a TCP connect to c2s.
    pub fn probe(&self, domain: &str, expect: Expect) -> Result<()> {
        let Some((host, port)) = &self.bosh else {
            TcpStream::connect_timeout(
                &first_addr(&self.c2s.0, self.c2s.1)?,
                Duration::from_secs(2),
            )
            .with_context(|| format!("c2s port {}:{} does not answer", self.c2s.0, self.c2s.1))?;
            return Ok(());
        };
        let url = match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(_)) => format!("http://[{host}]:{port}/http-bind"),
            _ => format!("http://{host}:{port}/http-bind"),
        };
        judge(
            crate::status::live::probe(&url, domain, Duration::from_secs(5)),
            expect,
            &format!("BOSH on {host}:{port}"),
            domain,
        )
    }
}

/// Whether a BOSH probe's outcome is the answer `expect` asks for.
fn judge(outcome: Probe, expect: Expect, bosh: &str, domain: &str) -> Result<()> {
    match (outcome, expect) {
        (Probe::Offers(m), _) if m.iter().any(|m| m == "ANONYMOUS") => Ok(()),
        // Any HTTP answer proves the server is up (the domain may be gone).
        (Probe::Offers(_) | Probe::Status(_) | Probe::NotBosh(_), Expect::Alive) => Ok(()),
        (Probe::Offers(m), Expect::TokenLogin) => bail!(
            "{bosh} answers but {domain} offers no token login (ANONYMOUS): the token module \
             did not load; it offers SASL {m:?}"
        ),
        (Probe::Status(n), Expect::TokenLogin) => bail!("{bosh} answered HTTP {n} for {domain}"),
        (Probe::NotBosh(body), Expect::TokenLogin) => {
            bail!("{bosh} answered {domain} with something other than a BOSH session: {body}")
        }
        (Probe::Failed(f), _) => bail!("{bosh}: {f}"),
    }
}

fn first_addr(host: &str, port: u16) -> Result<std::net::SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve {host}"))
}

/// The address to reach a listener bound to `iface` from this machine.
pub fn loopback_for(iface: &str) -> String {
    match iface {
        "*" | "0.0.0.0" => "127.0.0.1".into(),
        "::" => "::1".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::CmdOutput;
    use std::sync::Mutex;

    /// Answers every command with one exit status and records what was run.
    struct Scripted(Option<i32>, Mutex<Vec<String>>);

    impl Runner for Scripted {
        fn run(&self, cmd: &Cmd) -> Result<CmdOutput> {
            self.1.lock().unwrap().push(cmd.display());
            Ok(CmdOutput {
                status: self.0,
                stdout: String::new(),
                stderr: String::new(),
            })
        }
        fn spawn(&self, cmd: &Cmd) -> Result<u32> {
            bail!("not expected: {}", cmd.display())
        }
    }

    fn service(root: &str) -> Service {
        Service {
            root: root.into(),
            config: "/etc/prosody/prosody.cfg.lua".into(),
            pidfile: None,
            bosh: None,
            c2s: ("127.0.0.1".into(), 5222),
            lua_cpath: None,
            log: None,
        }
    }

    #[test]
    fn policy_rc_d_is_asked_before_a_restart_on_the_real_system() {
        assert!(
            which::which("invoke-rc.d").is_ok(),
            "invoke-rc.d is missing: apt-get install init-system-helpers (Debian has it)"
        );
        for (status, denied) in [
            (Some(101), true),
            (Some(106), true),
            (Some(104), false),
            (Some(105), false),
            (Some(100), false),
        ] {
            let runner = Scripted(status, Mutex::default());
            let why = service("/").restart_denied(&runner).unwrap();
            assert_eq!(why.is_some(), denied, "{status:?}");
            let ran = runner.1.lock().unwrap();
            assert_eq!(ran.len(), 1);
            assert!(
                ran[0].ends_with("invoke-rc.d --query prosody restart"),
                "{ran:?}"
            );
            if let Some(why) = why {
                assert!(why.contains("policy-rc.d"), "{why}");
            }
        }
        // A scratch root's Prosody is ours: no policy is asked.
        let runner = Scripted(Some(101), Mutex::default());
        assert_eq!(service("/tmp/root").restart_denied(&runner).unwrap(), None);
        assert!(runner.1.lock().unwrap().is_empty());
    }

    #[test]
    fn a_pidfile_naming_another_process_is_not_prosody() {
        let d = tempfile::tempdir().unwrap();
        let pf = d.path().join("prosody.pid");
        std::fs::write(&pf, std::process::id().to_string()).unwrap();
        assert_eq!(
            running_pid(&pf),
            None,
            "our own (live) PID is not Prosody's"
        );
        std::fs::write(&pf, "garbage").unwrap();
        assert_eq!(running_pid(&pf), None);
    }

    /// The restart probe decides on the typed outcome of one BOSH request: only a
    /// session offering ANONYMOUS is a token login; for "alive" any HTTP answer does.
    #[test]
    fn the_probe_judges_each_answer() {
        use crate::token_cmd::http::testing::{closed_port, reply, serve, tarpit};
        let probe = |port: u16, expect: Expect| {
            let mut s = service("/");
            s.bosh = Some(("127.0.0.1".into(), port));
            s.probe("meet.test", expect).map_err(|e| format!("{e:#}"))
        };
        let (anonymous, _) = serve(|_, _| {
            reply(
                "200 OK",
                "",
                "<body sid='1' xmlns='http://jabber.org/protocol/httpbind'><stream:features \
                 xmlns:stream='http://etherx.jabber.org/streams'><mechanisms \
                 xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>ANONYMOUS</mechanism>\
                 </mechanisms></stream:features></body>",
            )
        });
        let (plain, _) = serve(|_, _| {
            reply(
                "200 OK",
                "",
                "<body sid='1' xmlns='http://jabber.org/protocol/httpbind'><stream:features \
                 xmlns:stream='http://etherx.jabber.org/streams'><mechanisms \
                 xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>\
                 </mechanisms></stream:features></body>",
            )
        });
        let (p404, _) = serve(|_, _| reply("404 Not Found", "", "<html>>ANONYMOUS<</html>"));
        let (p500, _) = serve(|_, _| reply("500 Internal Server Error", "", ""));
        let (garbage, _) = serve(|_, _| "garbage\r\n".into());
        // The word in a page that is not a BOSH session is no token login.
        let (html, _) = serve(|_, _| reply("200 OK", "", "<html><p>>ANONYMOUS<</p></html>"));
        let e = probe(html, Expect::TokenLogin).unwrap_err();
        assert!(e.contains("other than a BOSH session"), "{e}");
        assert_eq!(probe(html, Expect::Alive), Ok(()));
        assert_eq!(probe(anonymous, Expect::TokenLogin), Ok(()));
        assert_eq!(probe(anonymous, Expect::Alive), Ok(()));
        let e = probe(plain, Expect::TokenLogin).unwrap_err();
        assert!(
            e.contains("offers no token login") && e.contains("PLAIN"),
            "{e}"
        );
        assert_eq!(probe(plain, Expect::Alive), Ok(()));
        for (port, status) in [(p404, 404), (p500, 500)] {
            assert_eq!(probe(port, Expect::Alive), Ok(()), "{status}");
            let e = probe(port, Expect::TokenLogin).unwrap_err();
            assert!(
                e.ends_with(&format!("answered HTTP {status} for meet.test")),
                "{e}"
            );
        }
        for expect in [Expect::Alive, Expect::TokenLogin] {
            let e = probe(garbage, expect).unwrap_err();
            assert!(e.contains("is not HTTP"), "{e}");
            let e = probe(closed_port(), expect).unwrap_err();
            assert!(e.contains("connection refused"), "{e}");
        }
        let e = probe(tarpit(), Expect::Alive).unwrap_err();
        assert!(e.contains("no answer within the timeout"), "{e}");
    }

    #[test]
    fn loopback_addresses() {
        assert_eq!(loopback_for("*"), "127.0.0.1");
        assert_eq!(loopback_for("::"), "::1");
        assert_eq!(loopback_for("127.0.0.1"), "127.0.0.1");
    }

    /// Under a scratch root, only the root's own Prosody program is started: a link
    /// to the machine's `/usr/bin/prosody` is the root's own path (a loop), and a
    /// relative link that climbs out of the root is refused, like every other path.
    #[test]
    fn the_program_under_a_root_is_resolved_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("run")).unwrap();
        let mut s = service(root.to_str().unwrap());
        s.config = root.join("etc/prosody/prosody.cfg.lua");
        s.pidfile = Some(root.join("run/prosody.pid"));
        let bin = root.join("usr/bin/prosody");

        std::os::unix::fs::symlink("/usr/bin/prosody", &bin).unwrap();
        assert!(s.outside_root().is_some(), "a link to the host's program");
        std::fs::remove_file(&bin).unwrap();
        std::os::unix::fs::symlink("../../../outside/prosody", &bin).unwrap();
        let why = s.outside_root().expect("a link out of the root");
        assert!(why.contains("leads outside"), "{why}");
        std::fs::remove_file(&bin).unwrap();
        std::fs::write(root.join("usr/bin/prosody.real"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("prosody.real", &bin).unwrap();
        assert_eq!(s.outside_root(), None, "a link inside the root");
        assert_eq!(s.root_program().unwrap(), root.join("usr/bin/prosody.real"));
    }
}
