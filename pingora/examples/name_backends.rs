//! Small HTTP/1.1 backends for trying the affinity proxy: each answers every request with its own
//! name (`backend-0`, `backend-1`, ...), keeping connections alive.
//!
//! ```text
//! cargo run --release -p ringroute-pingora --example name_backends -- 127.0.0.1:8001 127.0.0.1:8002
//! ```
//!
//! Stops on SIGINT or SIGTERM.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn serve(mut stream: TcpStream, name: String) {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
        name.len()
    );
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        match httparse::Request::new(&mut headers).parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                buf.drain(..n);
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
            Ok(httparse::Status::Partial) => match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            Err(_) => return,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addrs: Vec<String> = std::env::args().skip(1).collect();
    if addrs.is_empty() {
        return Err("usage: name_backends ADDR [ADDR...]".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        for (i, addr) in addrs.iter().enumerate() {
            let listener = TcpListener::bind(addr).await?;
            let name = format!("backend-{i}");
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, name.clone()));
                }
            });
        }
        eprintln!("name_backends: serving {}", addrs.join(" "));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    Ok(())
}
