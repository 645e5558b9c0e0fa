//! A TCP proxy between the server and its PostgreSQL, for outages: `cut` drops every open
//! connection and refuses new ones (as a stopped database does), `restore` accepts again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use palaver::config::Config;
use reqwest::Url;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use super::{TestApp, TestDatabase, start_app};

pub struct DbProxy {
    /// Where the server connects.
    pub address: SocketAddr,
    upstream: SocketAddr,
    /// The accept loop while open; `None` while cut.
    listening: Option<JoinHandle<()>>,
    /// The piped connections, so a cut can drop them.
    pipes: Arc<Mutex<Vec<AbortHandle>>>,
}

impl DbProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("the proxy binds a port");
        let address = listener.local_addr().expect("a bound listener has an address");
        let pipes = Arc::new(Mutex::new(Vec::new()));
        let listening = Some(tokio::spawn(accept(listener, upstream, pipes.clone())));
        Self { address, upstream, listening, pipes }
    }

    /// Drops every open connection and closes the port, so connecting is refused.
    pub async fn cut(&mut self) {
        if let Some(listening) = self.listening.take() {
            listening.abort();
            let _ = listening.await; // the listener is closed once the task is gone
        }
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    /// Listens on the same port again.
    pub async fn restore(&mut self) {
        assert!(self.listening.is_none(), "restore follows a cut");
        let listener = TcpListener::bind(self.address)
            .await
            .unwrap_or_else(|e| panic!("the proxy binds {} again: {e}", self.address));
        self.listening = Some(tokio::spawn(accept(listener, self.upstream, self.pipes.clone())));
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(listening) = &self.listening {
            listening.abort();
        }
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, pipes: Arc<Mutex<Vec<AbortHandle>>>) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let pipe = tokio::spawn(async move {
            // Refused upstream: close the client's side too, as the database would.
            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
        let mut pipes = pipes.lock().unwrap();
        pipes.retain(|p| !p.is_finished());
        pipes.push(pipe.abort_handle());
    }
}

/// Starts the app on a fresh PostgreSQL database reached through a [`DbProxy`].
pub async fn spawn_app_behind_proxy(configure: impl FnOnce(&mut Config)) -> (TestApp, DbProxy) {
    let mut database = TestDatabase::create().await;
    let (proxy, url) = DbProxy::in_front_of(&database.url).await;
    database.url = url;
    (start_app(Some(database), configure).await, proxy)
}

impl DbProxy {
    /// A proxy to the database at `url`, and the URL that reaches it through the proxy.
    pub async fn in_front_of(url: &str) -> (DbProxy, String) {
        let mut url = Url::parse(url).expect("the test database URL is a URL");
        let host = url.host_str().expect("the test database URL names a host");
        let port = url.port().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host, port))
            .await
            .ok()
            .and_then(|mut addresses| addresses.next())
            .unwrap_or_else(|| panic!("cannot resolve the test database's host {host}:{port}"));
        let proxy = DbProxy::start(upstream).await;
        url.set_ip_host(proxy.address.ip()).expect("a postgres URL takes an IP host");
        url.set_port(Some(proxy.address.port())).expect("a postgres URL takes a port");
        (proxy, url.to_string())
    }
}
