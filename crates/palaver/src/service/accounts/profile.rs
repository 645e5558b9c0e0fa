use palaver_protocol::User;

use super::Accounts;
use crate::domain::{Password, UserId, valid_text};
use crate::error::{Error, Result};
use crate::service::{Caller, views};
use crate::store::UserRow;

impl Accounts {
    pub async fn me(&self, caller: &Caller) -> Result<User> {
        let user = self.store().user_by_id(caller.id).await?.ok_or(Error::Unauthorized("account no longer exists"))?;
        Ok(views::user(&user, true, self.inner.presence.is_online(user.id).await))
    }

    pub async fn user(&self, id: UserId) -> Result<User> {
        let user = self.store().user_by_id(id).await?.ok_or(Error::NotFound("user"))?;
        Ok(views::user(&user, false, self.inner.presence.is_online(user.id).await))
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>> {
        Ok(self.store().list_users().await?)
    }

    pub async fn set_password(&self, username: &str, new_password: &str) -> Result<()> {
        let password = Password::parse(new_password).map_err(|e| Error::Validation(vec![e]))?;
        let user =
            self.store().user_by_username(valid_text("username", username)?).await?.ok_or(Error::NotFound("user"))?;
        let hash = self.inner.passwords.hash(password.expose().to_owned()).await?;
        self.store().set_password_hash(user.id, &hash).await?;
        Ok(())
    }
}
