//! The ESME session state machine, in the real switch: one tern runs in this process (with
//! its in-process simulator as the carrier), and each input is written to a fresh SMPP
//! connection, after a valid bind_transceiver when its first byte is odd, so sequences of
//! PDUs reach every bind state. An enquire_link with a marker sequence number follows, and
//! the input ends when its answer comes back or tern closes the connection (the input's
//! end is sent as the ESME closing its side): everything the input caused has run. A panic anywhere (one an actor's supervisor would catch included)
//! aborts the process, which is how libFuzzer records a crash.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

/// The marker enquire_link's sequence number.
const MARKER: u32 = 0x7fff_fff0;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn frame(id: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + body.len());
    v.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Starts tern once, in this process; its SMPP address.
fn switch() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        // libFuzzer's C main does not ignore SIGPIPE as a Rust binary's does: a write to a
        // socket the other side closed must be an error here too, as it is in tern
        // SAFETY: setting a signal's disposition to SIG_IGN, before any thread of ours runs.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}");
            std::process::abort();
        }));
        let dir = std::env::temp_dir().join(format!("tern-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz dir");
        let (smpp, http, sim) = (free_port(), free_port(), free_port());
        let config = dir.join("tern.toml");
        std::fs::write(
            &config,
            format!(
                r#"[node]
data_dir = "data"
[smpp]
listen = "127.0.0.1:{smpp}"
bind_timeout_s = 2
bind_failures_before_lockout = 0
[http]
listen = "127.0.0.1:{http}"
admin_token = "fuzz"
[simulator]
listen = "127.0.0.1:{sim}"
dlr_delay_ms = 0
[[accounts]]
system_id = "demo"
password = "demopass"
tps = 1000000
max_binds = 100000
balance = "1000000000"
price = "0"
[[carriers]]
id = "sim"
host = "127.0.0.1"
port = {sim}
system_id = "tern"
password = "ternpass"
[[routes]]
prefix = ""
carriers = ["sim"]
"#
            ),
        )
        .expect("config");
        let cfg = tern::config::Config::load(&config).expect("a valid config");
        std::thread::spawn(move || {
            let r = actix_rt::System::new().block_on(tern::node::run(cfg, config));
            eprintln!("tern stopped: {r:?}");
            std::process::abort();
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], smpp));
        for _ in 0..200 {
            if TcpStream::connect(addr).is_ok() {
                return addr;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tern did not start");
    })
}

fuzz_target!(|data: &[u8]| {
    let addr = switch();
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let mut out = Vec::with_capacity(data.len() + 64);
    if data.first().is_some_and(|b| b & 1 == 1) {
        out.extend(frame(0x09, 1, b"demo\0demopass\0\0\x34\0\0\0"));
    }
    out.extend_from_slice(data.get(1..).unwrap_or_default());
    out.extend(frame(0x15, MARKER, &[]));
    if s.write_all(&out).is_err() {
        return;
    }
    // the end of the input is the end of the ESME's bytes: a PDU it left unfinished is
    // seen as the disconnect it is, at once, not after the bind timeout
    let _ = s.shutdown(std::net::Shutdown::Write);
    // read until the marker's answer (everything before it was handled) or the close
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        let marker = MARKER.to_be_bytes();
        if seen.windows(4).any(|w| w == marker) {
            return;
        }
    }
});
