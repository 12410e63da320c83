//! Boots the real server on port 0 with a temporary SQLite file and talks to it over
//! HTTP and WebSocket, as a browser or Meta would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use switchboard::config::{Config, SIMULATOR_APP_SECRET};
use switchboard::server::{self, Running};
use switchboard::whatsapp::signature;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub running: Running,
    pub url: String,
    /// Authenticated as the simulator's demo admin (an API token).
    pub http: reqwest::Client,
    pub token: String,
    pub db: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// A client that sends `token` as a bearer token.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl TestApp {
    /// A message's file through `GET /media/{id}`, as the signed-in agent.
    pub async fn media(&self, message: &Value) -> reqwest::Response {
        let id = message["id"].as_str().unwrap();
        self.http
            .get(format!("{}/media/{id}", self.url))
            .send()
            .await
            .unwrap()
    }

    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("switchboard.db");
        let mut app = Self::start_on(&db, &[]).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on a fresh SQLite file with these extra settings.
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut app = Self::start_on(&dir.path().join("switchboard.db"), extra).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on MongoDB at `url`.
    pub async fn start_on_mongo(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut app = Self::start_on(&dir.path().join("unused.db"), &[("DATABASE_URL", url)]).await;
        app._dir = Some(dir);
        app
    }

    /// Starts (or restarts) a server on an existing database file.
    pub async fn start_on(db: &Path, extra: &[(&str, &str)]) -> Self {
        let mut env: HashMap<String, String> = HashMap::from([
            ("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()),
            ("DATABASE_URL".into(), format!("sqlite://{}", db.display())),
            ("SIMULATOR_RECEIPT_DELAYS_MS".into(), "30,60,90".into()),
            // Media files live beside the test's database, not in the checkout.
            (
                "SWITCHBOARD_MEDIA_DIR".into(),
                db.with_extension("media").display().to_string(),
            ),
        ]);
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        let running = server::start(config).await.unwrap();
        let url = running.url();
        let store = &running.state.store;
        let admin = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.role == switchboard::model::Role::Admin)
            .expect("simulator mode creates a demo admin");
        let token = switchboard::accounts::create_token(
            store,
            &switchboard::audit::Actor::system(),
            "tests",
            &admin.id,
        )
        .await
        .unwrap()
        .secret;
        Self {
            running,
            url,
            http: client_with_token(&token),
            token,
            db: db.to_path_buf(),
            _dir: None,
        }
    }

    /// Stops the server, keeping the database (and its temporary directory) for a restart.
    pub async fn stop(self) -> (PathBuf, Option<tempfile::TempDir>) {
        self.running.stop().await;
        (self.db, self._dir)
    }

    pub async fn post_webhook(&self, body: &[u8]) -> reqwest::Response {
        let sig = signature::sign(SIMULATOR_APP_SECRET.as_bytes(), body);
        self.post_webhook_signed(body, Some(&sig)).await
    }

    pub async fn post_webhook_signed(&self, body: &[u8], sig: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/webhook", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = sig {
            req = req.header("x-hub-signature-256", sig);
        }
        req.send().await.unwrap()
    }

    /// Calls a server function with a JSON body; returns the status and JSON answer.
    pub async fn call(&self, name: &str, args: Value) -> (u16, Value) {
        self.call_with(&self.http, name, args).await
    }

    /// Calls a server function as whoever `http` authenticates as.
    pub async fn call_with(&self, http: &reqwest::Client, name: &str, args: Value) -> (u16, Value) {
        let res = http
            .post(format!("{}/api/{name}", self.url))
            .json(&args)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn ok(&self, name: &str, args: Value) -> Value {
        let (status, body) = self.call(name, args).await;
        assert_eq!(status, 200, "{name} failed: {body}");
        body
    }

    pub async fn conversations(&self) -> Vec<Value> {
        let list = self.ok("list_conversations", json!({})).await;
        list["conversations"].as_array().unwrap().clone()
    }

    pub async fn messages(&self, conversation_id: &str) -> Vec<Value> {
        let page = self
            .ok(
                "load_messages",
                json!({"conversation_id": conversation_id, "before": null, "limit": 200}),
            )
            .await;
        page["messages"].as_array().unwrap().clone()
    }

    pub async fn socket(&self, since: Option<i64>) -> Socket {
        self.socket_as(&self.token, since).await
    }

    /// A socket authenticated with the API token `token`.
    pub async fn socket_as(&self, token: &str, since: Option<i64>) -> Socket {
        self.try_socket(&[("authorization", &format!("Bearer {token}"))], since)
            .await
            .expect("socket refused")
    }

    /// Opens a socket with these request headers; `Err(status)` if the server refuses.
    pub async fn try_socket(
        &self,
        headers: &[(&str, &str)],
        since: Option<i64>,
    ) -> Result<Socket, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let ws_url = self.url.replacen("http", "ws", 1);
        let url = match since {
            Some(n) => format!("{ws_url}/ws?since={n}"),
            None => format!("{ws_url}/ws"),
        };
        let mut request = url.into_client_request().unwrap();
        for (k, v) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Socket { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("socket failed: {e}"),
        }
    }

    pub async fn add_fault(&self, fault: Value) {
        let res = self
            .http
            .post(format!("{}/_sim/faults", self.url))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    /// A customer writes through the simulator's signed webhook; returns the conversation.
    pub async fn customer_writes(&self, wa_id: &str, text: &str) -> String {
        let res = self
            .http
            .post(format!("{}/_sim/customer/messages", self.url))
            .json(&json!({"wa_id": wa_id, "text": text}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        self.conversations()
            .await
            .into_iter()
            .find(|c| c["contact"]["wa_id"] == wa_id)
            .map(|c| c["id"].as_str().unwrap().to_string())
            .unwrap()
    }
}

pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What a socket yielded.
#[derive(Debug)]
pub enum Incoming {
    Frame(Value),
    /// The server closed with this code, or the connection ended without a close frame.
    Closed(Option<u16>),
}

impl Socket {
    /// Opens `/ws` over a TCP connection whose receive buffer is as small as the kernel
    /// allows, so a client that stops reading pushes back on the server within kilobytes.
    pub async fn open_slow(app: &TestApp, since: Option<i64>) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let tcp = tokio::net::TcpSocket::new_v4().unwrap();
        tcp.set_recv_buffer_size(4096).unwrap();
        let stream = tcp.connect(app.running.addr).await.unwrap();
        let ws_url = app.url.replacen("http", "ws", 1);
        let url = match since {
            Some(n) => format!("{ws_url}/ws?since={n}"),
            None => format!("{ws_url}/ws"),
        };
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", app.token).parse().unwrap(),
        );
        let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
        Self { stream }
    }

    /// The next frame or the end of the socket; `None` if nothing happens within `wait`.
    pub async fn incoming_within(&mut self, wait: Duration) -> Option<Incoming> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(Incoming::Closed(None)),
                Ok(Some(Ok(msg))) => msg,
            };
            match msg {
                Message::Text(t) => {
                    return Some(Incoming::Frame(serde_json::from_str(&t).unwrap()));
                }
                Message::Close(frame) => {
                    return Some(Incoming::Closed(frame.map(|f| u16::from(f.code))));
                }
                _ => continue,
            }
        }
    }

    /// The next JSON frame, or `None` if nothing arrives within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match msg.ok()? {
                Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        self.next_within(WAIT).await.expect("no frame in time")
    }

    /// Reads frames until one matches, returning everything read.
    pub async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let f = self.next().await;
            let done = pred(&f);
            seen.push(f);
            if done {
                return seen;
            }
        }
    }

    /// Reads the replay up to and including `ready`/`resync`.
    pub async fn replay(&mut self) -> (Vec<Value>, Value) {
        let mut frames = self
            .until(|f| f["type"] == "ready" || f["type"] == "resync")
            .await;
        let end = frames.pop().unwrap();
        (frames, end)
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A status webhook for `wamid`, in Meta's shape.
pub fn status_body(wamid: &str, status: &str, timestamp: i64) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "100000000000001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001000", "phone_number_id": "200000000000001"},
            "statuses": [{"id": wamid, "status": status, "timestamp": timestamp.to_string(),
                "recipient_id": "5511987650001"}]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

/// A text webhook from `wa_id`, in Meta's shape.
pub fn text_body(wamid: &str, wa_id: &str, name: &str, text: &str, timestamp: i64) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "100000000000001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001000", "phone_number_id": "200000000000001"},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": timestamp.to_string(),
                "type": "text", "text": {"body": text}}]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

/// The MongoDB server the tests use: `MONGODB_TEST_URI`, which `scripts/test` sets to a
/// wire-protocol server it starts (or you set to a real MongoDB).
pub fn mongo_base() -> String {
    std::env::var("MONGODB_TEST_URI").unwrap_or_else(|_| {
        panic!(
            "MONGODB_TEST_URI is not set. Run scripts/test (it starts a MongoDB wire-protocol \
             server), or point MONGODB_TEST_URI at a MongoDB server."
        )
    })
}

/// `MONGODB_TEST_URI` with its database replaced by `db`.
pub fn mongo_url(db: &str) -> String {
    with_database(&mongo_base(), db)
}

pub fn with_database(base: &str, db: &str) -> String {
    let (scheme, rest) = base.split_once("://").expect("a mongodb:// URL");
    let (hosts_and_path, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    let hosts = hosts_and_path.split('/').next().unwrap();
    match query {
        Some(q) => format!("{scheme}://{hosts}/{db}?{q}"),
        None => format!("{scheme}://{hosts}/{db}"),
    }
}

pub fn unique_db() -> String {
    format!("sbtest_{}", uuid::Uuid::new_v4().simple())
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Waits until `check` holds, polling; panics with `what` after [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A TCP forwarder in front of a server, which a test can cut and restore to simulate
/// an outage of whatever sits behind it.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    upstream: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            upstream: upstream.to_string(),
            tasks: Default::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Refuses new connections and drops the open ones.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub async fn restore(&self) {
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }
}

/// `host:port` of the first server in a `mongodb://` URL.
pub fn first_host(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let hosts = rest.split(['/', '?']).next().unwrap();
    let host = hosts.rsplit('@').next().unwrap().split(',').next().unwrap();
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:27017")
    }
}

pub fn now_secs() -> i64 {
    switchboard::store::now_ms() / 1000
}
