//! A fault-injecting TCP proxy in front of a test Redis: drives `tests/support/fault_proxy.py` (one
//! `python3` child per proxy, shared with the Node and Python suites) over its stdin/stdout.
//!
//! Point the cache at [`FaultProxy::url`] instead of the server's URL, then inject faults:
//! [`delay`](FaultProxy::delay) (every chunk, both directions, so a round trip costs twice the delay),
//! [`freeze`](FaultProxy::freeze) (black hole; bytes are buffered and released in order by
//! [`pass`](FaultProxy::pass)), [`reset`](FaultProxy::reset) (RST every open connection),
//! [`refuse`](FaultProxy::refuse) / [`accept`](FaultProxy::accept) (new connections are accepted and
//! reset at once; open ones are left alone, so `refuse` then `reset` is a full outage).
//! Every method returns once the proxy has applied the command (or panics after 10 s). The calls are
//! blocking but take microseconds, so async tests may call them directly. Dropping the proxy closes all
//! its connections and ends the child.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The proxy script, from the workspace root.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/fault_proxy.py");
/// How long to wait for `READY` or for the answer to a command.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The child's stdin and the lines it printed (read by a thread that ends when the child does).
struct Control {
    stdin: ChildStdin,
    lines: Receiver<String>,
}

/// A `fault_proxy.py` child listening on a free loopback port and forwarding to a Redis port.
pub struct FaultProxy {
    port: u16,
    child: Child,
    control: Mutex<Control>,
}

impl FaultProxy {
    /// Start a proxy forwarding to `127.0.0.1:{target_port}`; returns once it listens.
    pub fn start(target_port: u16) -> FaultProxy {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .args(["--target-port", &target_port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `python3 {SCRIPT}`: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            // Ends at the child's exit (end of its stdout) or when the proxy is dropped.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let ready = lines.recv_timeout(TIMEOUT);
        let port =
            ready.as_deref().ok().and_then(|l| l.strip_prefix("READY ")).and_then(|p| p.trim().parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fault proxy did not start (first line: {ready:?})");
        };
        FaultProxy { port, child, control: Mutex::new(Control { stdin, lines }) }
    }

    /// The loopback port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Forward normally again: undoes [`delay`](Self::delay) and [`freeze`](Self::freeze) (releasing
    /// everything a freeze held back, in order).
    pub fn pass(&self) {
        self.command("pass");
    }

    /// Hold every chunk, in either direction, until `ms` after it was read (order kept per direction).
    pub fn delay(&self, ms: u64) {
        self.command(&format!("delay {ms}"));
    }

    /// Black hole: forward nothing, close nothing; new connections are accepted but frozen too.
    pub fn freeze(&self) {
        self.command("freeze");
    }

    /// Close every open connection abruptly (RST to both peers); keeps listening.
    pub fn reset(&self) {
        self.command("reset");
    }

    /// Reset new connections as soon as they are accepted; open connections are left alone.
    pub fn refuse(&self) {
        self.command("refuse");
    }

    /// Undo [`refuse`](Self::refuse).
    pub fn accept(&self) {
        self.command("accept");
    }

    /// The number of open client connections. A client's close reaches the proxy asynchronously, so
    /// poll when waiting for a count to drop.
    pub fn count(&self) -> usize {
        let n = self.command("count");
        n.parse().unwrap_or_else(|_| panic!("fault proxy: bad count answer `OK {n}`"))
    }

    /// Send one command line and wait for its answer; returns what follows `OK`.
    fn command(&self, line: &str) -> String {
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let sent = writeln!(control.stdin, "{line}").and_then(|()| control.stdin.flush());
        if let Err(e) = sent {
            panic!("fault proxy: cannot send `{line}`: {e}");
        }
        let answer =
            control.lines.recv_timeout(TIMEOUT).unwrap_or_else(|e| panic!("fault proxy: no answer to `{line}` ({e})"));
        match answer.strip_prefix("OK") {
            Some(rest) => rest.trim().to_owned(),
            None => panic!("fault proxy: `{line}` answered `{answer}`"),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let control = self.control.get_mut().unwrap_or_else(PoisonError::into_inner);
        if writeln!(control.stdin, "quit").and_then(|()| control.stdin.flush()).is_ok() {
            let _ = control.lines.recv_timeout(Duration::from_secs(2));
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
