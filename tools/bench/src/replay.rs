//! A floor for any database endpoint, recorded from the function itself.
//!
//! The function's database URL points at this recorder: a loopback proxy that forwards
//! PostgreSQL's wire protocol to the real server byte for byte (authentication included)
//! while it frames the messages. For the length of one warm invocation it records what the
//! function sends, split into *flights*: the messages sent while nothing was outstanding
//! start a flight, and everything pipelined until the server has answered all of it belongs
//! to that flight. The floor then replays those flights, in order, each on the server
//! connection it was sent on (the function's own, kept open after the function exits):
//! write a flight, read until its every `ReadyForQuery`, write the next — the same
//! statements, parameters, pipelining and round trips as the handler, with nothing of the
//! handler around them. The replay takes the function's path to the server too: it writes
//! to a loopback socket that the recorder forwards exactly as it forwarded the function's,
//! so the recorder's own hop is on both sides of the ratio, not on the function's alone.
//!
//! So that every invocation and every replay does the same work, the recorder turns each
//! `COMMIT` into `ROLLBACK` for the whole run: an INSERT of the same id succeeds again, a
//! cart does not fill up. The bench's PostgreSQL runs with `synchronous_commit = off`, where
//! the two cost the same. Work outside PostgreSQL (a DynamoDB or KMS call) is not part of the
//! floor; the report says which functions make one.
//!
//! Written here because no crate records and replays PostgreSQL's wire protocol at this
//! level; only the framing (a type byte and a length) is interpreted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The messages of one flight and how many `ReadyForQuery` answers they ask for.
#[derive(Clone, Default)]
struct Flight {
    bytes: Vec<u8>,
    ready: usize,
}

#[derive(Default)]
struct Shared {
    recording: AtomicBool,
    next_id: AtomicU64,
    /// The flights recorded, in the order they were sent, with their connection.
    recorded: Mutex<Vec<(u64, Flight)>>,
    /// Each connection's channel for the replay's client socket, which takes the place of
    /// the function's once the function has gone.
    replays: Mutex<HashMap<u64, mpsc::Sender<TcpStream>>>,
    /// Nanoseconds during which a connection had a query the server had not yet answered
    /// (since the last [`Recorder::lap`]), recorded or not.
    busy_ns: AtomicU64,
}

pub struct Recorder {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Recorder {
    /// A recorder in front of the PostgreSQL server at `upstream`.
    pub async fn start(upstream: SocketAddr) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        // As PostgreSQL clients and servers do: no Nagle delay on small writes.
                        let _ = (client.set_nodelay(true), server.set_nodelay(true));
                        connection(client, server, s).await;
                    }
                });
            }
        });
        Recorder { addr, shared }
    }

    /// `url` with its host and port replaced by the recorder's.
    pub fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
        let (auth, after) = rest.rsplit_once('@').map(|(a, h)| (format!("{a}@"), h)).unwrap_or((String::new(), rest));
        let tail = after.find(['/', '?']).map(|i| &after[i..]).unwrap_or("");
        format!("{scheme}://{auth}{}{tail}", self.addr)
    }

    /// Starts (or stops) recording what the function sends.
    pub fn record(&self, on: bool) {
        if on {
            self.shared.recorded.lock().expect("lock").clear();
        }
        self.shared.recording.store(on, Ordering::SeqCst);
    }

    /// How long PostgreSQL had a query of the function's to answer since the last lap: from
    /// forwarding a query while none was outstanding to forwarding the answer that leaves
    /// none, summed over the connections. Taken between invocations, it is an invocation's
    /// time at the server, the loopback hop included.
    pub fn lap(&self) -> Duration {
        Duration::from_nanos(self.shared.busy_ns.swap(0, Ordering::SeqCst))
    }

    /// Replays the recorded invocation `n` times; the time of each. `Err` when nothing was
    /// recorded, or the server answered a replay with an error (then it was not the same
    /// work).
    pub async fn replay(&self, n: usize) -> Result<Vec<Duration>, String> {
        let flights = self.shared.recorded.lock().expect("lock").clone();
        if flights.is_empty() {
            return Err("the invocation sent nothing to PostgreSQL".into());
        }
        // One loopback socket per recorded connection, handed to its forwarding task.
        let mut sockets = HashMap::new();
        for (id, _) in &flights {
            if sockets.contains_key(id) {
                continue;
            }
            let channel = self.shared.replays.lock().expect("lock").get(id).cloned().ok_or("connection gone")?;
            let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            let ours = TcpStream::connect(listener.local_addr().map_err(|e| e.to_string())?)
                .await
                .map_err(|e| e.to_string())?;
            let (theirs, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let _ = (ours.set_nodelay(true), theirs.set_nodelay(true));
            channel.send(theirs).await.map_err(|_| "connection gone")?;
            sockets.insert(*id, (ours.into_split(), Vec::new()));
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            for (id, flight) in &flights {
                let ((read, write), buf) = sockets.get_mut(id).expect("a socket per connection");
                replay_flight(read, write, flight, buf).await?;
            }
            times.push(started.elapsed());
        }
        drop(sockets);
        // Closing the channels lets the connections end.
        self.shared.replays.lock().expect("lock").clear();
        times.sort();
        Ok(times)
    }
}

/// Startup messages have no type byte: the client's first message (and the one after an
/// `SSLRequest` or `GSSENCRequest`, which the server answers with one byte) is `len, body`.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

async fn connection(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (replay_tx, mut replay_rx) = mpsc::channel::<TcpStream>(1);
    shared.replays.lock().expect("lock").insert(id, replay_tx);

    let mut from_client: Vec<u8> = Vec::new();
    let mut startup = true;
    // Messages answered by a ReadyForQuery not yet seen, and since when one has been.
    let mut outstanding = 0usize;
    let mut busy_since: Option<Instant> = None;
    let mut from_server: Vec<u8> = Vec::new();
    let (mut chunk, mut server_chunk) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut client_open = true;
    loop {
        tokio::select! {
            read = cr.read(&mut chunk), if client_open => {
                let n = match read { Ok(0) | Err(_) => { client_open = false; continue } Ok(n) => n };
                from_client.extend_from_slice(&chunk[..n]);
                let recording = shared.recording.load(Ordering::SeqCst);
                let mut out = Vec::new();
                while let Some(msg) = take_client_message(&mut from_client, &mut startup) {
                    if !startup && msg[0] == b'X' {
                        continue; // Terminate: the connection outlives the client, for replays
                    }
                    let msg = rollback_instead_of_commit(msg);
                    let answered_by_ready = !startup && matches!(msg[0], b'Q' | b'S');
                    if recording && !startup {
                        let mut recorded = shared.recorded.lock().expect("lock");
                        let last = recorded.iter().rposition(|(conn, _)| *conn == id);
                        let index = match last {
                            Some(i) if outstanding > 0 => i,
                            _ => {
                                recorded.push((id, Flight::default()));
                                recorded.len() - 1
                            }
                        };
                        let flight = &mut recorded[index].1;
                        flight.bytes.extend_from_slice(&msg);
                        if answered_by_ready {
                            flight.ready += 1;
                        }
                    }
                    if answered_by_ready {
                        outstanding += 1;
                        busy_since.get_or_insert_with(Instant::now);
                    }
                    out.extend_from_slice(&msg);
                }
                if sw.write_all(&out).await.is_err() { break }
            }
            read = sr.read(&mut server_chunk), if client_open => {
                let n = match read { Ok(0) | Err(_) => break, Ok(n) => n };
                // The startup's answers (`N`/`S` to an SSLRequest, authentication) are not
                // framed: nothing is outstanding then.
                if outstanding > 0 {
                    from_server.extend_from_slice(&server_chunk[..n]);
                    while let Some((kind, len)) = frame(&from_server) {
                        if kind == b'Z' { outstanding = outstanding.saturating_sub(1); }
                        from_server.drain(..len);
                    }
                    if outstanding == 0 { from_server.clear(); }
                } else {
                    from_server.clear();
                }
                if cw.write_all(&server_chunk[..n]).await.is_err() { client_open = false }
                if outstanding == 0 && let Some(since) = busy_since.take() {
                    shared.busy_ns.fetch_add(since.elapsed().as_nanos() as u64, Ordering::SeqCst);
                }
            }
            replay = replay_rx.recv(), if !client_open => {
                let Some(socket) = replay else { break }; // the replays are over
                // The replay's socket takes the function's place, forwarded the same way.
                (cr, cw) = socket.into_split();
                client_open = true;
            }
        }
        if !client_open && !shared.recorded.lock().expect("lock").iter().any(|(conn, _)| *conn == id) {
            break; // nothing recorded here: nothing to replay
        }
    }
    shared.replays.lock().expect("lock").remove(&id);
}

/// One complete client message from the front of `buf`, removed from it.
fn take_client_message(buf: &mut Vec<u8>, startup: &mut bool) -> Option<Vec<u8>> {
    if *startup {
        let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
        if buf.len() < len || len < 8 {
            return None;
        }
        let code = u32::from_be_bytes(buf[4..8].try_into().ok()?);
        *startup = code == SSL_REQUEST || code == GSSENC_REQUEST;
        return Some(buf.drain(..len).collect());
    }
    let (_, len) = frame(buf)?;
    Some(buf.drain(..len).collect())
}

/// The type and whole length of the typed message at the front of `buf`, when complete.
fn frame(buf: &[u8]) -> Option<(u8, usize)> {
    let len = u32::from_be_bytes(buf.get(1..5)?.try_into().ok()?) as usize + 1;
    (buf.len() >= len).then(|| (buf[0], len))
}

/// A simple-query `COMMIT` becomes `ROLLBACK` (see the module notes).
fn rollback_instead_of_commit(msg: Vec<u8>) -> Vec<u8> {
    if msg.first() == Some(&b'Q') && msg.get(5..) == Some(b"COMMIT\0".as_slice()) {
        let body = b"ROLLBACK\0";
        let mut out = vec![b'Q'];
        out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        out.extend_from_slice(body);
        return out;
    }
    msg
}

/// Sends `flight` (through the recorder) and reads until the server has answered all of it.
/// `buf` carries bytes read past the last answer (none are expected) between flights.
async fn replay_flight(
    sr: &mut OwnedReadHalf,
    sw: &mut OwnedWriteHalf,
    flight: &Flight,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    sw.write_all(&flight.bytes).await.map_err(|e| e.to_string())?;
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut ready, mut error) = (0, None);
    while ready < flight.ready {
        while let Some((kind, len)) = frame(buf) {
            if kind == b'Z' {
                ready += 1;
            } else if kind == b'E' && error.is_none() {
                error = Some(String::from_utf8_lossy(&buf[5..len]).replace('\0', " "));
            }
            buf.drain(..len);
        }
        if ready < flight.ready {
            let n = sr.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    match error {
        Some(e) => Err(format!("the server refused the replay: {}", e.trim())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_becomes_rollback_and_nothing_else_changes() {
        let commit = [b"Q".as_slice(), &11u32.to_be_bytes(), b"COMMIT\0"].concat();
        let rollback = [b"Q".as_slice(), &13u32.to_be_bytes(), b"ROLLBACK\0"].concat();
        assert_eq!(rollback_instead_of_commit(commit), rollback);
        let select = [b"Q".as_slice(), &13u32.to_be_bytes(), b"SELECT 1;\0"].concat();
        assert_eq!(rollback_instead_of_commit(select.clone()), select);
    }

    #[test]
    fn messages_are_framed_after_the_startup() {
        // An SSLRequest, then a startup message, then a typed Sync, arriving together.
        let ssl = [8u32.to_be_bytes(), SSL_REQUEST.to_be_bytes()].concat();
        let startup = [9u32.to_be_bytes().as_slice(), &196_608u32.to_be_bytes(), &[0]].concat();
        let sync = [b"S".as_slice(), &4u32.to_be_bytes()].concat();
        let mut buf = [ssl.clone(), startup.clone(), sync.clone()].concat();
        let mut in_startup = true;
        assert_eq!(take_client_message(&mut buf, &mut in_startup), Some(ssl));
        assert!(in_startup);
        assert_eq!(take_client_message(&mut buf, &mut in_startup), Some(startup));
        assert!(!in_startup);
        assert_eq!(take_client_message(&mut buf, &mut in_startup), Some(sync));
        assert!(buf.is_empty());
        // A partial message waits for the rest.
        let mut partial = vec![b'Q', 0, 0];
        assert_eq!(take_client_message(&mut partial, &mut in_startup), None);
    }

    #[test]
    fn the_url_points_at_the_recorder() {
        let r = Recorder { addr: "127.0.0.1:4000".parse().unwrap(), shared: Arc::default() };
        assert_eq!(r.url("postgres://u:p@127.0.0.1:5432/parley?x=1"), "postgres://u:p@127.0.0.1:4000/parley?x=1");
        assert_eq!(r.url("postgres://127.0.0.1:5432/parley"), "postgres://127.0.0.1:4000/parley");
    }
}
