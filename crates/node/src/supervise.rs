//! Keeps the validator processes of a local network (`alx up --validators N`) running.
//!
//! BFT consensus keeps finalizing while fewer than a third of the validators are down, so one
//! process that dies must not stop the others: the supervisor restarts it, after a delay that
//! doubles with each exit in a row (from `backoff_min` up to `backoff_max`) and starts over
//! once a process has stayed up for `stable_after`. A process that keeps failing (a corrupt
//! store) is retried at most once per `backoff_max`, and every exit is reported.
//!
//! ```text
//!  spawn ──► running ──exit──► waiting (backoff) ──due──► spawn
//!              ▲                                            │
//!              └────────────────────────────────────────────┘
//! ```
//!
//! Children get a pipe as stdin and never see it written: when the supervisor dies, however it
//! dies, the pipe closes and a child started with `alx node start --stop-with-parent` stops
//! (see the CLI). Their stdout goes to the supervisor's stderr, so that the supervisor's own
//! stdout carries only what it prints (JSON under `--json`).

use std::{
    ffi::OsString,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

/// How to start one supervised process.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// Restart policy.
#[derive(Clone, Copy, Debug)]
pub struct SuperviseConfig {
    /// Delay before the first restart of a process that was up for a while.
    pub backoff_min: Duration,
    /// Longest delay between two restarts.
    pub backoff_max: Duration,
    /// A process up this long counts as healthy: its next exit restarts after `backoff_min`.
    pub stable_after: Duration,
}

impl SuperviseConfig {
    /// Half a second, doubling up to 30 s; a minute up makes a process healthy again.
    pub const LOCAL: Self = Self {
        backoff_min: Duration::from_millis(500),
        backoff_max: Duration::from_secs(30),
        stable_after: Duration::from_secs(60),
    };

    /// The delay before a restart after `exits_in_a_row` quick exits (0 for the first).
    #[must_use]
    pub fn backoff(&self, exits_in_a_row: u32) -> Duration {
        let factor = 1u32.checked_shl(exits_in_a_row.min(31)).unwrap_or(u32::MAX);
        self.backoff_min.saturating_mul(factor).min(self.backoff_max)
    }
}

/// What happened to a supervised process.
#[derive(Debug)]
pub enum Event {
    /// Process `index` exited; it is restarted after `restart_in`.
    Exited {
        /// Which process.
        index: usize,
        /// How it exited.
        status: ExitStatus,
        /// When it is started again.
        restart_in: Duration,
    },
    /// Process `index` was started again.
    Restarted {
        /// Which process.
        index: usize,
        /// Its new pid.
        pid: u32,
        /// Restarts of this process so far.
        restarts: u32,
    },
    /// Process `index` could not be started; it is tried again after `retry_in`.
    SpawnFailed {
        /// Which process.
        index: usize,
        /// Why.
        error: std::io::Error,
        /// When it is tried again.
        retry_in: Duration,
    },
}

#[derive(Debug)]
enum State {
    Running { child: Child, since: Instant },
    Waiting { until: Instant },
}

#[derive(Debug)]
struct Slot {
    spec: ProcessSpec,
    state: State,
    exits_in_a_row: u32,
    restarts: u32,
}

/// The running processes. Dropping it kills them.
#[derive(Debug)]
pub struct Supervisor {
    slots: Vec<Slot>,
    cfg: SuperviseConfig,
}

fn spawn(spec: &ProcessSpec) -> std::io::Result<Child> {
    Command::new(&spec.program)
        .args(&spec.args)
        .stdin(Stdio::piped())
        .stdout(std::io::stderr())
        .stderr(Stdio::inherit())
        .spawn()
}

impl Supervisor {
    /// Starts every process.
    ///
    /// # Errors
    /// If one cannot be spawned (the others are killed).
    pub fn start(specs: Vec<ProcessSpec>, cfg: SuperviseConfig) -> std::io::Result<Self> {
        let mut me = Self { slots: Vec::with_capacity(specs.len()), cfg };
        for spec in specs {
            let child = spawn(&spec)?;
            let state = State::Running { child, since: Instant::now() };
            me.slots.push(Slot { spec, state, exits_in_a_row: 0, restarts: 0 });
        }
        Ok(me)
    }

    /// The pid of each process (`None` while one waits for its restart).
    #[must_use]
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.slots
            .iter()
            .map(|s| match &s.state {
                State::Running { child, .. } => Some(child.id()),
                State::Waiting { .. } => None,
            })
            .collect()
    }

    /// The first process found exited, if any, without restarting it (for start-up, when an
    /// exit means a configuration error rather than a crash).
    ///
    /// # Errors
    /// If a process's status cannot be read.
    pub fn exited(&mut self) -> std::io::Result<Option<(usize, ExitStatus)>> {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if let State::Running { child, .. } = &mut slot.state
                && let Some(status) = child.try_wait()?
            {
                return Ok(Some((index, status)));
            }
        }
        Ok(None)
    }

    /// One round: notes exits (scheduling their restarts) and restarts what is due.
    pub fn poll(&mut self, now: Instant, on_event: &mut impl FnMut(Event)) {
        let cfg = self.cfg;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            match &mut slot.state {
                State::Running { child, since } => {
                    let status = match child.try_wait() {
                        Ok(Some(status)) => status,
                        Ok(None) | Err(_) => continue,
                    };
                    if now.saturating_duration_since(*since) >= cfg.stable_after {
                        slot.exits_in_a_row = 0;
                    }
                    let restart_in = cfg.backoff(slot.exits_in_a_row);
                    slot.exits_in_a_row = slot.exits_in_a_row.saturating_add(1);
                    slot.state = State::Waiting { until: now + restart_in };
                    on_event(Event::Exited { index, status, restart_in });
                }
                State::Waiting { until } if now >= *until => match spawn(&slot.spec) {
                    Ok(child) => {
                        let pid = child.id();
                        slot.restarts = slot.restarts.saturating_add(1);
                        slot.state = State::Running { child, since: now };
                        on_event(Event::Restarted { index, pid, restarts: slot.restarts });
                    }
                    Err(error) => {
                        let retry_in = cfg.backoff(slot.exits_in_a_row);
                        slot.exits_in_a_row = slot.exits_in_a_row.saturating_add(1);
                        slot.state = State::Waiting { until: now + retry_in };
                        on_event(Event::SpawnFailed { index, error, retry_in });
                    }
                },
                State::Waiting { .. } => {}
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let State::Running { child, .. } = &mut slot.state {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let cfg = SuperviseConfig::LOCAL;
        let ms = |n| cfg.backoff(n).as_millis();
        assert_eq!([ms(0), ms(1), ms(2), ms(5)], [500, 1000, 2000, 16_000]);
        assert_eq!(ms(6), 30_000);
        assert_eq!(ms(u32::MAX), 30_000);
    }

    /// A process that exits is restarted after the backoff, with an event for each step.
    #[test]
    fn an_exited_process_is_restarted() {
        let spec = ProcessSpec { program: "sh".into(), args: vec!["-c".into(), "exit 3".into()] };
        let cfg = SuperviseConfig {
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(20),
            stable_after: Duration::from_secs(60),
        };
        let mut sup = Supervisor::start(vec![spec], cfg).unwrap();
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !events.iter().any(|e| matches!(e, Event::Restarted { restarts: 2, .. })) {
            assert!(Instant::now() < deadline, "not restarted twice: {events:?}");
            sup.poll(Instant::now(), &mut |e| events.push(e));
            std::thread::sleep(Duration::from_millis(5));
        }
        let exits: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Exited { status, restart_in, .. } => Some((status.code(), *restart_in)),
                _ => None,
            })
            .collect();
        assert_eq!(exits[0], (Some(3), Duration::from_millis(10)));
        assert_eq!(exits[1], (Some(3), Duration::from_millis(20)));
    }
}
