//! The open file limit: every connection costs a descriptor, and the usual soft limit
//! (often 1024) is far below what a chat server holds open.

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in effect.
#[cfg(unix)]
pub fn raise_to_hard() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        match setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, maximum: limit.maximum }) {
            Ok(()) => tracing::debug!(to = ?limit.maximum, "raised the open file limit"),
            Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
        }
    }
    current()
}

/// The soft limit on open descriptors; `None` when unlimited (or unknown).
#[cfg(unix)]
pub fn current() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
pub fn raise_to_hard() -> Option<u64> {
    None
}

#[cfg(not(unix))]
pub fn current() -> Option<u64> {
    None
}
