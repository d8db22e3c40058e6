//! IDLE (RFC 2177) on the examined folder.
//!
//! async-imap's IDLE handle takes the session by value and gives it back
//! from `done()`, so the session is moved out for the wait. The wait reads
//! the handle's responses directly: its own timeout helper restarts on every
//! server line, and servers send keep-alives (Dovecot every 2 minutes), so
//! the bound here is one outer deadline — the caller's `max`, which should
//! stay under the 29 minutes after which RFC 2177 §3 lets a server drop an
//! idling client. DONE runs under its own short timeout.

use std::time::Duration;

use async_imap::imap_proto::{MailboxDatum, Response, Status};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::session::{Session, drain_unsolicited, map_error, map_io, observe};
use super::{Error, IdleEnd};

/// How long DONE may take when IDLE ends because the caller stops.
const STOP_DONE_LIMIT: Duration = Duration::from_millis(500);

impl Session {
    /// Waits in IDLE until the server announces new messages
    /// ([`IdleEnd::NewMail`]), `max` passes ([`IdleEnd::Timeout`]) or `stop`
    /// is cancelled ([`IdleEnd::Stopped`]); then ends the IDLE with DONE and
    /// keeps the session usable. Returns at once with `NewMail` when news
    /// arrived since the last command. Needs an examined folder and the
    /// IDLE capability.
    pub async fn idle(
        &mut self,
        max: Duration,
        stop: &CancellationToken,
    ) -> Result<IdleEnd, Error> {
        if !self.caps.idle {
            return Err(Error::Protocol("the server does not offer IDLE".into()));
        }
        if std::mem::take(&mut self.new_mail) {
            return Ok(IdleEnd::NewMail);
        }
        let Some(session) = self.inner.take() else {
            return Err(Error::Closed);
        };
        let mut handle = session.idle();
        // Until DONE has completed, `self.inner` stays empty: any failure in
        // between leaves the session dead (Error::Closed from then on).
        tokio::time::timeout(self.timeouts.command, handle.init())
            .await
            .map_err(|_| Error::Timeout("IDLE"))?
            .map_err(map_error)?;

        let deadline = tokio::time::Instant::now() + max;
        let mut exists = self.exists;
        let mut news = false;
        let end = loop {
            tokio::select! {
                // Stop first: a cancelled caller wants out even if mail came in.
                biased;
                () = stop.cancelled() => break IdleEnd::Stopped,
                () = tokio::time::sleep_until(deadline) => break IdleEnd::Timeout,
                next = handle.next() => {
                    let response = next.ok_or(Error::Closed)?.map_err(map_io)?;
                    match response.parsed() {
                        Response::Data { status: Status::Bye, .. } => return Err(Error::Closed),
                        // The `+ idling` continuation and `* OK Still here` keep-alives.
                        Response::Continue { .. } | Response::Data { status: Status::Ok, .. } => {}
                        other => {
                            observe(other, &mut exists, &mut news);
                            let recent = matches!(
                                other,
                                Response::MailboxData(MailboxDatum::Recent(n)) if *n > 0
                            );
                            if news || recent {
                                break IdleEnd::NewMail;
                            }
                        }
                    }
                }
            }
        };

        if end == IdleEnd::Stopped {
            // Shutting down: a polite DONE, but no waiting for a slow
            // server (a thousand sessions stopping at once wake it all
            // together) and no error to report. The session is dead
            // unless DONE completes at once; the caller logs out anyway.
            let limit = self.timeouts.done.min(STOP_DONE_LIMIT);
            if let Ok(Ok(mut session)) = tokio::time::timeout(limit, handle.done()).await {
                drain_unsolicited(&mut session, &mut exists, &mut news);
                self.inner = Some(session);
            }
            return Ok(IdleEnd::Stopped);
        }
        let mut session = tokio::time::timeout(self.timeouts.done, handle.done())
            .await
            .map_err(|_| Error::Timeout("IDLE DONE"))?
            .map_err(map_error)?;
        // Responses between DONE and its OK went to the unsolicited channel.
        drain_unsolicited(&mut session, &mut exists, &mut news);
        self.inner = Some(session);
        self.exists = exists;
        self.new_mail = news && end != IdleEnd::NewMail;
        Ok(end)
    }
}
