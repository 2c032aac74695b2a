//! A minimal SMTP client on plain TCP: EHLO, optional AUTH PLAIN, MAIL
//! FROM, RCPT TO, DATA, QUIT. STARTTLS is not supported yet (configurations
//! with `require_tls: true` are rejected), so use a local relay for TLS.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::error::DeliveryError;
use crate::message::EmailMessage;

/// Sends `mail` within `timeout`.
pub async fn send(mail: &EmailMessage, timeout: Duration) -> Result<(), DeliveryError> {
    match tokio::time::timeout(timeout, conversation(mail)).await {
        Ok(r) => r,
        Err(_) => Err(DeliveryError::new(
            "timeout",
            format!(
                "SMTP to {} did not finish within {timeout:?}",
                mail.smarthost
            ),
            true,
        )),
    }
}

struct Session {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    host: String,
}

fn io_err(host: &str, e: std::io::Error) -> DeliveryError {
    DeliveryError::new("io", format!("SMTP to {host}: {e}"), true)
}

impl Session {
    /// Reads one (possibly multi-line) reply and checks its code.
    async fn expect(&mut self, want: u16, after: &str) -> Result<(), DeliveryError> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .reader
                .read_line(&mut line)
                .await
                .map_err(|e| io_err(&self.host, e))?;
            if n == 0 {
                return Err(DeliveryError::new(
                    "io",
                    format!("SMTP to {}: connection closed after {after}", self.host),
                    true,
                ));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if code == want {
            return Ok(());
        }
        let (reason, retryable) = if (400..500).contains(&code) {
            ("smtp_4xx", true)
        } else {
            ("smtp_5xx", false)
        };
        Err(DeliveryError::new(
            reason,
            format!(
                "SMTP to {}: after {after} expected {want}, got {:?}",
                self.host,
                line.trim_end()
            ),
            retryable,
        ))
    }

    async fn command(&mut self, cmd: &str, want: u16) -> Result<(), DeliveryError> {
        self.writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .map_err(|e| io_err(&self.host, e))?;
        let verb = cmd.split([' ', ':']).next().unwrap_or(cmd);
        self.expect(want, verb).await
    }
}

async fn conversation(mail: &EmailMessage) -> Result<(), DeliveryError> {
    let host = mail.smarthost.clone();
    let stream = TcpStream::connect(&host)
        .await
        .map_err(|e| DeliveryError::new("connect", format!("SMTP connect to {host}: {e}"), true))?;
    let (r, w) = stream.into_split();
    let mut s = Session {
        reader: BufReader::new(r),
        writer: w,
        host,
    };
    s.expect(220, "connecting").await?;
    s.command(&format!("EHLO {}", mail.hello), 250).await?;
    if let Some((user, pass)) = &mail.auth {
        let token = base64(format!("\0{user}\0{pass}").as_bytes());
        s.command(&format!("AUTH PLAIN {token}"), 235).await?;
    }
    s.command(&format!("MAIL FROM:<{}>", bare_address(&mail.from)), 250)
        .await?;
    for to in &mail.to {
        s.command(&format!("RCPT TO:<{}>", bare_address(to)), 250)
            .await?;
    }
    s.command("DATA", 354).await?;
    let mut body = String::with_capacity(mail.data.len() + 8);
    for line in mail.data.split("\r\n") {
        if line.starts_with('.') {
            body.push('.');
        }
        body.push_str(line);
        body.push_str("\r\n");
    }
    body.push_str(".\r\n");
    s.writer
        .write_all(body.as_bytes())
        .await
        .map_err(|e| io_err(&s.host, e))?;
    s.expect(250, "DATA").await?;
    // The mail is accepted; a failing QUIT does not make it unsent.
    let _ = s.command("QUIT", 221).await;
    Ok(())
}

/// `Name <a@b>` -> `a@b`.
fn bare_address(a: &str) -> &str {
    match (a.find('<'), a.rfind('>')) {
        (Some(l), Some(r)) if l < r => &a[l + 1..r],
        _ => a.trim(),
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_addresses() {
        assert_eq!(base64(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(bare_address("Ops <ops@example.org>"), "ops@example.org");
        assert_eq!(bare_address(" a@b "), "a@b");
    }
}
