//! Load tool: webhooks in, WebSocket deliveries out, measured end to end.
//!
//!     scripts/load --sockets 100 --rate 200 --seconds 20
//!
//! It starts the release server on a fresh SQLite file (simulator mode), creates an API
//! token with the CLI, opens `--sockets` WebSockets, then POSTs signed inbound webhooks at
//! `--rate` per second for `--seconds`, each a new customer message with a numbered wamid.
//! Every socket should receive every `message.created`. It reports the webhook ack latency
//! and the webhook→socket delivery latency (p50/p90/p99/max), deliveries missing and
//! duplicated, the rate achieved, and the server's resident memory: before any socket,
//! with the sockets open and idle, and at the peak of the run. It also scrapes the server's
//! own `/metrics` before and after the run and prints what the per-stage histograms
//! (`switchboard_stage_seconds`) and counters gained, beside what the tool measured.
//!
//! `--peer node` sends the same traffic to `benches/node_peer/server.js` instead: a bare
//! Node.js `ws` server that checks each signature and broadcasts the body, storing
//! nothing. `--pairs N` runs both N times, interleaved, and prints the medians and the
//! median of each pair's ratio.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

struct Options {
    sockets: usize,
    rate: u64,
    seconds: u64,
    customers: usize,
    /// Sockets opened at once.
    connect_batch: usize,
    server: String,
    /// Which server takes the traffic.
    peer: Peer,
    /// `--pairs N`: N interleaved runs of each peer, then medians and ratios.
    pairs: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Switchboard,
    /// `benches/node_peer/server.js`: checks the signature, broadcasts, stores nothing.
    Node,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Switchboard => "switchboard",
            Peer::Node => "node ws",
        }
    }
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let num = |name: &str, default: u64| get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    Options {
        sockets: num("--sockets", 100) as usize,
        rate: num("--rate", 200),
        seconds: num("--seconds", 10),
        customers: num("--customers", 50) as usize,
        connect_batch: num("--connect-batch", 250).max(1) as usize,
        server: get("--server").unwrap_or_else(|| "target/release/switchboard".into()),
        peer: match get("--peer").as_deref() {
            None | Some("switchboard") => Peer::Switchboard,
            Some("node") => Peer::Node,
            Some(other) => panic!("--peer {other}: not switchboard or node"),
        },
        pairs: num("--pairs", 0) as usize,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User plus system CPU time of a process, in milliseconds (`/proc/PID/stat`).
fn cpu_ms(pid: &str) -> u64 {
    let ticks_per_sec = 100; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14th, 15th.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .map(|ticks| ticks * 1000 / ticks_per_sec)
        .unwrap_or(0)
}

/// p50, p90, p99 and max, in milliseconds.
#[derive(Clone, Copy, Default)]
struct Quantiles([f64; 4]);

fn percentiles(name: &str, mut micros: Vec<u32>) -> Quantiles {
    if micros.is_empty() {
        println!("{name:<22} no samples");
        return Quantiles([f64::NAN; 4]);
    }
    micros.sort_unstable();
    let at = |p: f64| micros[((micros.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    let q = Quantiles([at(0.50), at(0.90), at(0.99), at(1.0)]);
    let [p50, p90, p99, max] = q.0;
    println!(
        "{name:<22} p50 {p50:>8.2} ms   p90 {p90:>8.2} ms   p99 {p99:>8.2} ms   max {max:>8.2} ms   ({} samples)",
        micros.len()
    );
    q
}

/// One scrape of the server's `/metrics`.
async fn scrape(http: &reqwest::Client, url: &str) -> Scrape {
    let text = http
        .get(url)
        .send()
        .await
        .expect("scrape /metrics")
        .text()
        .await
        .expect("read /metrics");
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("the Prometheus text format")
}

/// The sum of a counter's samples whose labels include `label` (name, value).
fn counter(s: &Scrape, metric: &str, label: Option<(&str, &str)>) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// One stage's histogram buckets as (upper bound, cumulative count), in bound order.
fn stage_buckets(s: &Scrape, stage: &str) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = s
        .samples
        .iter()
        .filter(|x| x.metric == "switchboard_stage_seconds" && x.labels.get("stage") == Some(stage))
        .find_map(|x| match &x.value {
            Value::Histogram(h) => Some(h.iter().map(|b| (b.less_than, b.count)).collect()),
            _ => None,
        })
        .unwrap_or_default();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// A quantile of a histogram, estimated as Prometheus's `histogram_quantile` does: find
/// the bucket the rank falls in and interpolate linearly inside it.
fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(upper, count) in buckets {
        if count >= rank {
            if upper.is_infinite() {
                return Some(lower);
            }
            let share = if count > below {
                (rank - below) / (count - below)
            } else {
                0.0
            };
            return Some(lower + (upper - lower) * share);
        }
        (lower, below) = (upper, count);
    }
    Some(lower)
}

/// What one stage's histogram gained between two scrapes.
fn stage_report(name: &str, before: &Scrape, after: &Scrape) {
    let (b, a) = (stage_buckets(before, name), stage_buckets(after, name));
    let grown: Vec<(f64, f64)> = a
        .iter()
        .map(|&(le, n)| {
            let earlier = b.iter().find(|(l, _)| *l == le).map_or(0.0, |(_, m)| *m);
            (le, n - earlier)
        })
        .collect();
    let count = grown.last().map_or(0.0, |(_, n)| *n);
    let sum = counter(
        after,
        "switchboard_stage_seconds_sum",
        Some(("stage", name)),
    ) - counter(
        before,
        "switchboard_stage_seconds_sum",
        Some(("stage", name)),
    );
    let ms = |q: f64| histogram_quantile(q, &grown).map_or(f64::NAN, |s| s * 1000.0);
    println!(
        "stage {name:<16} p50 {:>8.2} ms   p90 {:>8.2} ms   p99 {:>8.2} ms   mean {:>6.2} ms   ({count} observed)",
        ms(0.50),
        ms(0.90),
        ms(0.99),
        if count > 0.0 {
            sum / count * 1000.0
        } else {
            f64::NAN
        },
    );
}

/// A server counter's growth beside what the tool counted itself.
fn agreement(what: &str, server: f64, tool: u64) {
    let verdict = if server as u64 == tool {
        "agrees"
    } else {
        "DIFFERS"
    };
    println!("{what:<48} server +{server:<8} tool {tool:<8} {verdict}");
}

fn cli(server: &str, db: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(server)
        .args(args)
        .env("DATABASE_URL", db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the switchboard binary (scripts/load builds it)");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn webhook(n: u64, customer: usize) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001000","phone_number_id":"200000000000001"}},"contacts":[{{"profile":{{"name":"Load {customer}"}},"wa_id":"4900000{customer:05}"}}],"messages":[{{"from":"4900000{customer:05}","id":"wamid.LOAD.{n}","timestamp":"{ts}","type":"text","text":{{"body":"load message {n}"}}}}]}}}}]}}]}}"#,
        ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    )
    .into_bytes()
}

/// The wamid number of a `message.created` frame (other frames: `None`).
fn delivered_number(frame: &[u8]) -> Option<u64> {
    memchr::memmem::find(frame, br#""type":"message.created""#)?;
    let start = memchr::memmem::find(frame, b"wamid.LOAD.")? + "wamid.LOAD.".len();
    let digits = &frame[start..];
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..len]).ok()?.parse().ok()
}

/// A minimal WebSocket client for reading server frames.
///
/// Why not a WebSocket library: the tool shares the two cores with the server, and a
/// general client (message allocation, UTF-8 checks, zeroed buffers) cost ~9 µs per frame
/// here, which is CPU the server's fan-out then waits for. This one reads into one reused
/// buffer and looks at the bytes in place. It speaks only what this server sends:
/// unfragmented, unmasked frames; it answers pings so the server keeps the socket.
struct RawSocket {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Start of the unparsed bytes in `buf`.
    pos: usize,
}

/// One frame: its opcode and where its payload sits in the socket's buffer.
struct Frame {
    opcode: u8,
    payload: std::ops::Range<usize>,
}

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;

impl RawSocket {
    async fn connect(port: u16, token: &str) -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        // A fixed receive buffer turns off the kernel's receive-window autotuning, whose
        // window-update ACKs cost the machine CPU on every read.
        socket.set_recv_buffer_size(64 * 1024)?;
        let mut stream = socket.connect(([127, 0, 0, 1], port).into()).await?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buf = Vec::with_capacity(8 * 1024);
        let head_end = loop {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::other("closed during the handshake"));
            }
            if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            return Err(std::io::Error::other(format!("upgrade refused: {head}")));
        }
        Ok(Self {
            stream,
            buf,
            pos: head_end,
        })
    }

    /// The next data frame; pings are answered on the way. `None` once the socket closes.
    async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.parse()? {
                match frame.opcode {
                    OP_PING => {
                        // Client frames must be masked; a zero key leaves the payload as is.
                        let payload = self.buf[frame.payload].to_vec();
                        let mut pong = vec![0x8A, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                        pong.extend_from_slice(&payload);
                        self.stream.write_all(&pong).await?;
                    }
                    OP_CLOSE => return Ok(None),
                    _ => return Ok(Some(frame)),
                }
                continue;
            }
            // Keep the partial frame, drop what was consumed, and read more.
            self.buf.drain(..self.pos);
            self.pos = 0;
            self.buf.reserve(8 * 1024);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    fn parse(&mut self) -> std::io::Result<Option<Frame>> {
        let b = &self.buf[self.pos..];
        if b.len() < 2 {
            return Ok(None);
        }
        if b[0] & 0x80 == 0 || b[1] & 0x80 != 0 {
            return Err(std::io::Error::other(
                "fragmented or masked server frame: not expected from this server",
            ));
        }
        let (len, header) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            126 | 127 => return Ok(None),
            n => (n as usize, 2),
        };
        if b.len() < header + len {
            return Ok(None);
        }
        let start = self.pos + header;
        self.pos = start + len;
        Ok(Some(Frame {
            opcode: b[0] & 0x0F,
            payload: start..start + len,
        }))
    }
}

// One thread: the tool shares the two cores with the server, and worker threads handing
// sockets to each other cost more in wake-ups than the reading itself.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let o = options();
    if o.pairs == 0 {
        run(&o, o.peer).await;
        return;
    }
    // Interleaved, so a slow minute of the shared VM lands on both peers alike.
    let mut pairs = Vec::new();
    for i in 1..=o.pairs {
        let mut pair = Vec::new();
        for peer in [Peer::Switchboard, Peer::Node] {
            println!("\n== pair {i} of {}: {}", o.pairs, peer.name());
            pair.push(run(&o, peer).await);
        }
        pairs.push((pair[0], pair[1]));
    }
    side_by_side(&pairs);
}

/// What one run measured, for the side-by-side summary.
#[derive(Clone, Copy)]
struct RunResult {
    ack: Quantiles,
    delivery: Quantiles,
    missing: u64,
    duplicates: usize,
    /// RSS added per open idle socket, KiB.
    per_socket: f64,
    /// Server CPU per webhook, µs.
    cpu_per_webhook: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Medians over the pairs, and each ratio as the median of the pairs' own ratios.
fn side_by_side(pairs: &[(RunResult, RunResult)]) {
    type Pick = fn(&RunResult) -> f64;
    let rows: [(&str, Pick); 7] = [
        ("delivery p50 (ms)", |r| r.delivery.0[0]),
        ("delivery p99 (ms)", |r| r.delivery.0[2]),
        ("delivery max (ms)", |r| r.delivery.0[3]),
        ("webhook ack p99 (ms)", |r| r.ack.0[2]),
        ("missing + duplicates", |r| {
            (r.missing + r.duplicates as u64) as f64
        }),
        ("RSS per idle socket (KiB)", |r| r.per_socket),
        ("server CPU per webhook (µs)", |r| r.cpu_per_webhook),
    ];
    println!(
        "\nmedians over {} interleaved pairs:\n{:<28} {:>12} {:>12} {:>14}",
        pairs.len(),
        "",
        "switchboard",
        "node ws",
        "ours / node"
    );
    for (name, pick) in rows {
        let ours = median(pairs.iter().map(|(s, _)| pick(s)).collect());
        let node = median(pairs.iter().map(|(_, n)| pick(n)).collect());
        let ratios: Vec<f64> = pairs
            .iter()
            .filter(|(_, n)| pick(n) > 0.0)
            .map(|(s, n)| pick(s) / pick(n))
            .collect();
        let ratio = if ratios.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}×", median(ratios))
        };
        println!("{name:<28} {ours:>12.2} {node:>12.2} {ratio:>14}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A server ready for traffic: its process, port, a token for `/ws`, and where its
/// metrics are (Switchboard only).
struct Started {
    server: Server,
    port: u16,
    token: String,
    metrics_url: Option<String>,
    _dir: tempfile::TempDir,
}

fn start(o: &Options, peer: Peer) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    if peer == Peer::Node {
        let server = Server(
            Command::new("node")
                .arg("benches/node_peer/server.js")
                .arg(port.to_string())
                .arg(switchboard::config::SIMULATOR_APP_SECRET)
                .spawn()
                .expect("run node (scripts/load installs the peer's ws package)"),
        );
        return Started {
            server,
            port,
            token: "-".into(),
            metrics_url: None,
            _dir: dir,
        };
    }
    let db = format!("sqlite://{}", dir.path().join("load.db").display());

    cli(
        &o.server,
        &db,
        &[
            "user",
            "add",
            "--email",
            "load@example.com",
            "--name",
            "Load",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("load-test-password\n"),
    );
    let token = cli(
        &o.server,
        &db,
        &[
            "token",
            "create",
            "--email",
            "load@example.com",
            "--name",
            "load",
        ],
        None,
    )
    .lines()
    .last()
    .unwrap()
    .trim()
    .to_string();

    let metrics_port = free_port();
    let server = Server(
        Command::new(&o.server)
            .env("DATABASE_URL", &db)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .env("SWITCHBOARD_SOCKET_BUFFER", "65536")
            .env(
                "SWITCHBOARD_METRICS_ADDR",
                format!("127.0.0.1:{metrics_port}"),
            )
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    Started {
        server,
        port,
        token,
        metrics_url: Some(format!("http://127.0.0.1:{metrics_port}/metrics")),
        _dir: dir,
    }
}

async fn run(o: &Options, peer: Peer) -> RunResult {
    let Started {
        server,
        port,
        token,
        metrics_url,
        _dir,
    } = start(o, peer);
    let base = format!("http://127.0.0.1:{port}");
    let pid = server.0.id();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib(pid);

    // Open the sockets, a few hundred at a time, and wait for each one's `ready`.
    let total = o.rate * o.seconds;
    let started = Instant::now();
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let received = Arc::new(AtomicUsize::new(0));
    let duplicates = Arc::new(AtomicUsize::new(0));
    let latencies: Arc<Mutex<Vec<u32>>> =
        Arc::new(Mutex::new(Vec::with_capacity(o.sockets * total as usize)));
    let mut readers = Vec::new();
    for chunk in (0..o.sockets).collect::<Vec<_>>().chunks(o.connect_batch) {
        let opening = chunk.iter().map(|_| async {
            let mut socket = RawSocket::connect(port, &token).await.expect("socket");
            let first = socket.next().await.expect("read").expect("ready frame");
            assert_eq!(first.opcode, OP_TEXT, "the first frame is `ready`");
            socket
        });
        for mut socket in futures::future::join_all(opening).await {
            let (sent_at, received, duplicates, latencies) = (
                sent_at.clone(),
                received.clone(),
                duplicates.clone(),
                latencies.clone(),
            );
            readers.push(tokio::spawn(async move {
                let mut seen = vec![false; total as usize];
                let mut mine = Vec::with_capacity(total as usize);
                while let Ok(Some(frame)) = socket.next().await {
                    if frame.opcode != OP_TEXT {
                        continue;
                    }
                    let Some(n) = delivered_number(&socket.buf[frame.payload]) else {
                        continue;
                    };
                    let now = started.elapsed().as_micros() as u64;
                    let Some(slot) = seen.get_mut(n as usize) else {
                        continue;
                    };
                    if *slot {
                        duplicates.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    *slot = true;
                    let sent = sent_at[n as usize].load(Ordering::Relaxed);
                    mine.push(now.saturating_sub(sent) as u32);
                    received.fetch_add(1, Ordering::Relaxed);
                }
                latencies.lock().await.extend(mine);
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid);

    // Memory is sampled through the run.
    let peak = Arc::new(AtomicU64::new(rss_idle));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // Send at the requested rate, spread evenly.
    let secret = switchboard::config::SIMULATOR_APP_SECRET;
    let acks: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let failures = Arc::new(AtomicUsize::new(0));
    let metrics_before = match &metrics_url {
        Some(url) => Some(scrape(&http, url).await),
        None => None,
    };
    let (server_cpu0, tool_cpu0) = (cpu_ms(&pid.to_string()), cpu_ms("self"));
    let send_start = Instant::now();
    let mut sent: u64 = 0;
    let mut inflight = Vec::new();
    while sent < total {
        let due = ((send_start.elapsed().as_secs_f64() * o.rate as f64) as u64 + 1).min(total);
        while sent < due {
            let n = sent;
            let body = webhook(n, (n as usize) % o.customers);
            let sig = switchboard::whatsapp::signature::sign(secret.as_bytes(), &body);
            let (http, url, sent_at, acks, failures) = (
                http.clone(),
                format!("{base}/webhook"),
                sent_at.clone(),
                acks.clone(),
                failures.clone(),
            );
            inflight.push(tokio::spawn(async move {
                let t = Instant::now();
                sent_at[n as usize].store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                let res = http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sig)
                    .body(body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => {
                        acks.lock().await.push(t.elapsed().as_micros() as u32);
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    for t in inflight {
        let _ = t.await;
    }
    let send_secs = send_start.elapsed().as_secs_f64();

    // Let the last deliveries land, then close the sockets.
    let expected = o.sockets as u64 * total;
    let drain = Instant::now();
    while (received.load(Ordering::Relaxed) as u64) < expected
        && drain.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sampler.abort();
    let busy_secs = send_start.elapsed().as_secs_f64();
    let server_cpu = cpu_ms(&pid.to_string()) - server_cpu0;
    let tool_cpu = cpu_ms("self") - tool_cpu0;
    let rss_peak = peak.load(Ordering::Relaxed);
    let metrics_after = match &metrics_url {
        Some(url) => Some(scrape(&http, url).await),
        None => None,
    };
    drop(server);
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
    }

    let got = received.load(Ordering::Relaxed) as u64;
    println!(
        "sockets {}  rate {}/s  for {} s  ({} webhooks, {} expected deliveries)",
        o.sockets, o.rate, o.seconds, total, expected
    );
    println!(
        "sent in {send_secs:.2} s: {:.0} webhooks/s acknowledged; failed {}",
        (total as f64 - failures.load(Ordering::Relaxed) as f64) / send_secs,
        failures.load(Ordering::Relaxed)
    );
    let ack = percentiles("webhook ack", std::mem::take(&mut *acks.lock().await));
    let delivery = percentiles(
        "webhook→socket",
        std::mem::take(&mut *latencies.lock().await),
    );
    println!(
        "deliveries received {got}, missing {}, duplicates {}",
        expected.saturating_sub(got),
        duplicates.load(Ordering::Relaxed)
    );
    println!(
        "CPU while sending and delivering ({busy_secs:.1} s, 2 cores = {:.0} ms): server {server_cpu} ms, load tool {tool_cpu} ms",
        busy_secs * 2000.0
    );
    let acknowledged = total - failures.load(Ordering::Relaxed) as u64;
    if let (Some(before), Some(after)) = (&metrics_before, &metrics_after) {
        metrics_report(before, after, acknowledged);
    }
    let per_socket = if o.sockets > 0 {
        (rss_idle.saturating_sub(rss_before)) as f64 / o.sockets as f64
    } else {
        0.0
    };
    println!(
        "server RSS: {rss_before} KiB before sockets, {rss_idle} KiB with {} idle sockets ({per_socket:.1} KiB per socket), peak {rss_peak} KiB",
        o.sockets
    );
    RunResult {
        ack,
        delivery,
        missing: expected.saturating_sub(got),
        duplicates: duplicates.load(Ordering::Relaxed),
        per_socket,
        cpu_per_webhook: server_cpu as f64 * 1000.0 / total.max(1) as f64,
    }
}

/// What the server's own `/metrics` gained over the run, beside what the tool counted.
fn metrics_report(before: &Scrape, after: &Scrape, acknowledged: u64) {
    println!(
        "server /metrics over the run (quantiles read from the buckets, as histogram_quantile does):"
    );
    for stage in ["verify", "commit", "fanout"] {
        stage_report(stage, before, after);
    }
    let grew = |metric: &str, label: Option<(&str, &str)>| {
        counter(after, metric, label) - counter(before, metric, label)
    };
    agreement(
        "webhooks acknowledged (webhooks_total{outcome=ok})",
        grew("switchboard_webhooks_total", Some(("outcome", "ok"))),
        acknowledged,
    );
    agreement(
        "webhooks committed (stage_seconds_count{commit})",
        grew("switchboard_stage_seconds_count", Some(("stage", "commit"))),
        acknowledged,
    );
    agreement(
        "messages broadcast (messages_total{direction=in})",
        grew("switchboard_messages_total", Some(("direction", "in"))),
        acknowledged,
    );
}
