//! Disabling accounts (`palaver user disable|enable`). The command writes the database from
//! another process, so every instance notices by itself: requests check the account on
//! each authentication, and a watcher closes the sockets of recently disabled users.

use std::time::Duration;

use palaver_protocol::ws::close;

use super::{Accounts, Inner};
use crate::clock;
use crate::error::{Error, Result};
use crate::service::background::Ticks;
use crate::store::UserRow;

/// How often each instance asks for recent disables: one small query per instance.
const POLL: Duration = Duration::from_secs(1);
/// How far back "recent" reaches. Longer than a poll so a slow or failed poll, a socket
/// authenticated just before the disable, or a clock behind the command's by up to this
/// much still gets its sockets closed; re-closing a closed user's sockets costs nothing.
const RECENT: time::Duration = time::Duration::seconds(60);

impl Accounts {
    /// Refuses the account's logins, refreshes and tokens from now on, revokes its refresh
    /// tokens, and closes its sockets (on this instance now, on the others within a poll).
    pub async fn disable_user(&self, username: &str) -> Result<UserRow> {
        let user = self.store().user_by_username(username).await?.ok_or(Error::NotFound("user"))?;
        if !self.store().disable_user(user.id, clock::now()).await? {
            return Err(Error::NotFound("user"));
        }
        self.inner.hub.close_user(user.id, close::POLICY);
        Ok(user)
    }

    /// Lets the account log in again; the tokens revoked by the disable stay revoked.
    pub async fn enable_user(&self, username: &str) -> Result<UserRow> {
        let user = self.store().user_by_username(username).await?.ok_or(Error::NotFound("user"))?;
        if !self.store().enable_user(user.id).await? {
            return Err(Error::NotFound("user"));
        }
        Ok(user)
    }

    /// Polls for recently disabled users and closes their sockets here with 1008. Ends when
    /// the services are dropped.
    pub(super) fn watch_disabled_accounts(&self) {
        // The first poll waits a period, so a short-lived command never queries.
        let mut ticks = Ticks::new(&self.inner, POLL, POLL);
        tokio::spawn(async move {
            let mut failing = false;
            while let Some(inner) = ticks.next().await {
                failing = close_disabled(&inner, failing).await;
            }
        });
    }
}

/// One poll; returns whether it failed, so an outage is logged once, not every second.
async fn close_disabled(inner: &Inner, failed_before: bool) -> bool {
    match inner.store.disabled_since(clock::now() - RECENT).await {
        Ok(users) => {
            for user in users {
                let closed = inner.hub.close_user(user, close::POLICY);
                if closed > 0 {
                    tracing::info!(%user, sockets = closed, "closed the sockets of a disabled account");
                }
            }
            if failed_before {
                tracing::info!("polling for disabled accounts works again");
            }
            false
        }
        Err(e) => {
            if !failed_before {
                tracing::warn!(error = %e, "cannot poll for disabled accounts; retrying every second");
            }
            true
        }
    }
}
