-- `palaver user disable`: a disabled account cannot log in or refresh. `tokens_revoked_at`
-- outlives a later enable: access tokens issued (iat) in or before that second stay refused.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN tokens_revoked_at TIMESTAMPTZ;
-- Each instance polls for recent disables to close the users' sockets.
CREATE INDEX users_disabled_at ON users (disabled_at) WHERE disabled_at IS NOT NULL;
