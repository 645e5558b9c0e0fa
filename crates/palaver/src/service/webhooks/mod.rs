//! Incoming webhooks (Slack-compatible). So far only `slack.rs`: a payload as the text of
//! one message. The endpoints (`/rooms/{id}/webhooks`, `POST /hooks/{secret}`) are not
//! built yet; the `webhooks` table of migration 0007 is there for them.

pub mod slack;
