//! Test-only fault injection points, compiled in only with the
//! `fault-injection` feature (never in `make`'s release build). Each point
//! fails the next `n` times it is reached after `sbthread_test_inject` arms
//! it; without the feature every check is a constant `false`. Points
//! reached before a program can call anything (the graft runs at load
//! time) are armed from the environment: `SBTHREAD_TEST_INJECT=point:times`
//! or `point:times:after` (the first `after` uses pass).

#[cfg(feature = "fault-injection")]
mod imp {
    use core::sync::atomic::{AtomicU32, Ordering};

    /// Points that can be armed.
    pub(crate) static POINTS: [AtomicU32; 6] = [const { AtomicU32::new(0) }; 6];
    /// Uses of each point that pass before its failures start.
    pub(crate) static AFTER: [AtomicU32; 6] = [const { AtomicU32::new(0) }; 6];

    pub(crate) fn hit(point: usize) -> bool {
        if AFTER[point].fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
            return false;
        }
        POINTS[point]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Point numbers (shared with `sbthread_test_inject`).
pub(crate) mod point {
    /// The standalone `os_validate`.
    pub(crate) const MAPPING: u32 = 0;
    /// `pthread_create` in `create_os_thread`.
    pub(crate) const PTHREAD_CREATE: u32 = 1;
    /// The standalone guard-page `mprotect`.
    pub(crate) const GUARD_PAGE: u32 = 2;
    /// `pthread_kill` reports EAGAIN (signal queue full).
    pub(crate) const SIGNAL_QUEUE_FULL: u32 = 3;
    /// `pthread_kill` reports ESRCH (the target is gone).
    pub(crate) const SIGNAL_TARGET_GONE: u32 = 4;
    /// The graft's `mprotect` that makes a page of code writable (fails
    /// with EACCES, as under SELinux's `execmod` denial).
    pub(crate) const GRAFT_MPROTECT: u32 = 5;
}

#[cfg(feature = "fault-injection")]
fn hit(point: u32) -> bool {
    imp::hit(point as usize)
}

#[cfg(not(feature = "fault-injection"))]
fn hit(_point: u32) -> bool {
    false
}

/// Arms `point` to fail `times` times. Returns false for an unknown point.
#[cfg(feature = "fault-injection")]
pub(crate) fn arm(point: u32, times: u32) -> bool {
    match imp::POINTS.get(point as usize) {
        Some(p) => {
            p.store(times, core::sync::atomic::Ordering::Release);
            imp::AFTER[point as usize].store(0, core::sync::atomic::Ordering::Release);
            true
        }
        None => false,
    }
}

/// Arms a point from `SBTHREAD_TEST_INJECT` (`point:times[:after]`);
/// without the feature, or without the variable, does nothing.
pub(crate) fn arm_from_env() {
    #[cfg(feature = "fault-injection")]
    if let Ok(v) = std::env::var("SBTHREAD_TEST_INJECT") {
        let mut it = v.split(':').map(|f| f.trim().parse::<u32>().ok());
        if let (Some(Some(point)), Some(Some(times))) = (it.next(), it.next()) {
            let after = it.next().flatten().unwrap_or(0);
            if arm(point, times) {
                imp::AFTER[point as usize].store(after, core::sync::atomic::Ordering::Release);
            }
        }
    }
}

/// Whether the graft's `mprotect` of a page of code should fail now.
pub(crate) fn graft_mprotect_should_fail() -> bool {
    hit(point::GRAFT_MPROTECT)
}

/// Whether the standalone `os_validate` should fail now.
pub(crate) fn mapping_should_fail() -> bool {
    hit(point::MAPPING)
}

/// Whether `pthread_create` should fail now.
pub(crate) fn pthread_create_should_fail() -> bool {
    hit(point::PTHREAD_CREATE)
}

/// Whether the guard-page `mprotect` should fail now.
pub(crate) fn guard_should_fail() -> bool {
    hit(point::GUARD_PAGE)
}

/// Whether a signal send should report that its target is gone now.
pub(crate) fn target_gone_should_fail() -> bool {
    hit(point::SIGNAL_TARGET_GONE)
}

/// Whether a signal send should report a full queue now.
pub(crate) fn queue_full_should_fail() -> bool {
    hit(point::SIGNAL_QUEUE_FULL)
}
