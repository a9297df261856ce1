//! Runs the crawl program (`examples/crawl/app.rs`) in a child process, so a
//! test can send it real signals: the child is this test binary again, run
//! with `--ignored --exact` on the entry point named in [`spawn`] and the
//! crawl's arguments in an environment variable. The real `async_signal`
//! path runs there, as it does in the example. Unix only: the tests signal
//! the child with `kill -INT`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The variable that carries the crawl's arguments, tab-separated.
pub const ARGS_VAR: &str = "CORRAL_CRAWL_CHILD_ARGS";

/// How long the child may take for any one step before the test calls it
/// hung (a hang detector, not a timing assertion).
const STEP: Duration = Duration::from_secs(30);

/// A crawl running in a child process.
pub struct Crawl {
    child: std::process::Child,
    stderr_lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

/// How the child ended.
pub struct Ended {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ended {
    /// The summary's JSON object (the child runs with `--json`).
    pub fn json(&self) -> &str {
        // The test harness may start the line (`test name ... `).
        let start = self
            .stdout
            .find("{\"urls\"")
            .unwrap_or_else(|| panic!("no JSON summary in {:?}", self.stdout));
        self.stdout[start..].lines().next().unwrap()
    }
}

/// Starts the crawl with `args` in a child process; `entry` is the name of
/// the ignored test that runs it there.
pub fn spawn(entry: &str, args: &[&str]) -> Crawl {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--ignored",
            "--exact",
            entry,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ARGS_VAR, args.join("\t"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child crawl");
    let (send, stderr_lines) = channel();
    let stderr = Arc::new(Mutex::new(String::new()));
    let (pipe, log) = (child.stderr.take().unwrap(), stderr.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            log.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = send.send(line);
        }
    });
    let mut pipe = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    Crawl {
        child,
        stderr_lines,
        stderr,
        stdout: Some(stdout),
    }
}

/// If the test binary was started as a child crawl: runs it and exits with
/// its status. Otherwise returns.
pub fn run_if_child(run: impl FnOnce(Vec<String>) -> u8) {
    if let Ok(args) = std::env::var(ARGS_VAR) {
        let args = args.split('\t').map(str::to_string).collect();
        let code = run(args);
        std::process::exit(code.into());
    }
}

impl Crawl {
    /// Waits for a line on the child's stderr that contains `text`;
    /// returns it.
    pub fn wait_for(&mut self, text: &str) -> String {
        let give_up = Instant::now() + STEP;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("no line with {text:?}")),
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("the child ended without a line with {text:?}"))
                }
            }
        }
    }

    /// Sends SIGINT (what Ctrl-C sends) to the child.
    pub fn interrupt(&mut self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// True while the child has not exited.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the child to exit.
    pub fn wait(mut self) -> Ended {
        let give_up = Instant::now() + STEP;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > give_up {
                self.fail("the child did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap();
        // The stderr thread ends with the pipe; give it the last lines.
        while self.stderr_lines.recv_timeout(STEP).is_ok() {}
        Ended {
            code: status.code(),
            stdout,
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "child crawl: {what}; its stderr so far:\n{}",
            self.stderr.lock().unwrap()
        );
    }
}

impl Drop for Crawl {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
