//! The server's JSON API over plain HTTP, called the way any script would: to check what the
//! server stored, behind the pages' backs.

use crate::{TestServer, WAIT};
use shared::ServerMessage;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most messages one `GET /api/history` returns.
pub const HISTORY_PAGE: usize = 100;

impl TestServer {
    /// Signs a new guest called `name` in through `POST /api/signin` and returns the value for
    /// a `Cookie` header that carries its session.
    pub async fn guest_cookie(&self, name: &str) -> String {
        let body = serde_json::json!({ "name": name }).to_string();
        let answer = request(self.addr(), "POST", "/api/signin", None, Some(&body)).await;
        assert_eq!(
            answer.status, 200,
            "POST /api/signin as {name:?} answered {}: {}",
            answer.status, answer.body
        );
        let set_cookie = answer
            .header("set-cookie")
            .unwrap_or_else(|| panic!("POST /api/signin as {name:?} set no cookie"));
        set_cookie
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// `GET /api/history` with `cookie`: the newest stored messages (up to [`HISTORY_PAGE`]),
    /// oldest first.
    pub async fn history(&self, cookie: &str) -> Vec<ServerMessage> {
        let path = format!("/api/history?limit={HISTORY_PAGE}");
        let answer = request(self.addr(), "GET", &path, Some(cookie), None).await;
        assert_eq!(
            answer.status, 200,
            "GET {path} answered {}: {}",
            answer.status, answer.body
        );
        serde_json::from_str(&answer.body)
            .unwrap_or_else(|err| panic!("GET {path} sent what is not a message list ({err})"))
    }
}

/// An HTTP answer, read to the end.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), bounded by [`WAIT`].
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(cookie) = cookie {
            head.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if let Some(body) = body {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        head.push_str(body.unwrap_or_default());
        stream.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = match tokio::time::timeout(WAIT, exchange).await {
        Ok(Ok(raw)) => raw,
        Ok(Err(err)) => panic!("{method} {path} on {addr} failed: {err}"),
        Err(_) => panic!("{method} {path} on {addr} did not answer within {WAIT:?}"),
    };
    parse(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {path} on {addr} got an unreadable answer: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Splits an answer into status, headers and body, undoing chunked transfer encoding.
fn parse(raw: &[u8]) -> Option<Answer> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: String::new(),
    };
    let body = &raw[split + 4..];
    let chunked = answer
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    answer.body = String::from_utf8(body).ok()?;
    Some(answer)
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|window| window == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parse_reads_a_chunked_body_and_finds_headers_in_any_case() {
        let raw = b"HTTP/1.1 200 OK\r\nset-cookie: session=abc; Path=/\r\n\
                    Transfer-Encoding: chunked\r\n\r\n4\r\n[1,2\r\n2\r\n,3\r\n1\r\n]\r\n0\r\n\r\n";
        let answer = parse(raw).expect("a well-formed answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("Set-Cookie"), Some("session=abc; Path=/"));
        assert_eq!(answer.body, "[1,2,3]");
    }

    #[test]
    fn parse_reads_a_body_with_a_length() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}";
        let answer = parse(raw).expect("a well-formed answer");
        assert_eq!((answer.status, answer.body.as_str()), (401, "{}"));
    }
}
