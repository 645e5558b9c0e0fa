//! A PostgreSQL database per test, created from `PALAVER_TEST_DATABASE_URL` and dropped
//! with the test.

use reqwest::Url;
use sqlx::{Connection, Executor, PgConnection};

/// A PostgreSQL database of its own for one test, dropped with it.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Panics when `PALAVER_TEST_DATABASE_URL` is unset or the server cannot be reached: a
    /// PostgreSQL test never passes without PostgreSQL. Leaving PostgreSQL out is explicit
    /// and shows in the summary as "filtered out": `cargo test --workspace -- --skip postgres`.
    pub async fn create() -> TestDatabase {
        let admin_url = match std::env::var("PALAVER_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => panic!(
                "PALAVER_TEST_DATABASE_URL is unset: set it to a PostgreSQL server \
                 (e.g. postgres://postgres@127.0.0.1:5432/test), or leave the PostgreSQL tests out \
                 with `cargo test --workspace -- --skip postgres`"
            ),
        };
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at PALAVER_TEST_DATABASE_URL={admin_url}: {e}"));
        let name = format!("palaver_test_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        let _ = admin.close().await;
        let mut url = Url::parse(&admin_url).expect("PALAVER_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        TestDatabase { url: url.to_string(), admin_url, name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread
        // with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin.execute(statement.as_str()).await?;
                admin.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}
