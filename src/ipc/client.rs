//! Blocking JSON-RPC client over the Unix socket, used by the CLI verbs (and by tests and benches).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use miniserde::json::{self, Number, Object, Value};

use super::protocol::{MAX_LINE, RpcError};

#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be opened (daemon not running, wrong path, permissions).
    Connect(PathBuf, io::Error),
    /// Reading or writing failed, or the daemon did not answer in time.
    Io(io::Error),
    /// The daemon answered something that is not JSON-RPC.
    Protocol(String),
    /// The daemon answered with a JSON-RPC error.
    Rpc(RpcError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(p, e) => write!(
                f,
                "cannot connect to {}: {e} (is `tvauth daemon` running?)",
                p.display()
            ),
            ClientError::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                write!(f, "the daemon did not answer in time")
            }
            ClientError::Io(e) => write!(f, "socket: {e}"),
            ClientError::Protocol(m) => write!(f, "unexpected answer from the daemon: {m}"),
            ClientError::Rpc(e) => {
                write!(f, "{} (code {})", e.message, e.code)?;
                if let Some(d) = &e.data {
                    write!(f, " {}", json::to_string(d))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    /// Notifications that arrived while waiting for a response.
    pending: std::collections::VecDeque<Value>,
}

impl Client {
    /// Connect; `timeout` bounds each wait for an answer (make it longer than the daemon's upstream
    /// timeout so a slow Adobe call surfaces as the daemon's error, not ours).
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let stream =
            UnixStream::connect(path).map_err(|e| ClientError::Connect(path.to_path_buf(), e))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            pending: Default::default(),
        })
    }

    /// Change how long to wait for the next message (`None`: forever).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.reader.get_ref().set_read_timeout(timeout)?;
        Ok(())
    }

    /// Call `method` with `params` (an object, or `None`) and return its result.
    pub fn call(&mut self, method: &str, params: Option<Value>) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut o = Object::new();
        o.insert("jsonrpc".into(), Value::String("2.0".into()));
        o.insert("id".into(), Value::Number(Number::U64(id)));
        o.insert("method".into(), Value::String(method.into()));
        if let Some(p) = params {
            o.insert("params".into(), p);
        }
        let mut line = json::to_string(&Value::Object(o));
        line.push('\n');
        if let Err(e) = self.writer.write_all(line.as_bytes()) {
            // The daemon may have refused us and closed before we wrote: its error is still readable.
            return match self.read_message() {
                Ok(Value::Object(mut m)) if m.contains_key("error") => {
                    Err(ClientError::Rpc(rpc_error(m.remove("error"))))
                }
                _ => Err(ClientError::Io(e)),
            };
        }
        loop {
            let msg = self.read_message()?;
            let Value::Object(mut m) = msg else {
                return Err(ClientError::Protocol("not an object".into()));
            };
            if m.contains_key("method") && !m.contains_key("id") {
                self.pending.push_back(Value::Object(m));
                continue;
            }
            match m.get("id") {
                Some(Value::Number(Number::U64(n))) if *n == id => {}
                // The daemon could not tie its error to a request (refused peer, oversized line).
                Some(Value::Null) if m.contains_key("error") => {}
                _ => return Err(ClientError::Protocol("response id mismatch".into())),
            }
            if let Some(r) = m.remove("result") {
                return Ok(r);
            }
            return Err(ClientError::Rpc(rpc_error(m.remove("error"))));
        }
    }

    /// The next notification (`{"method":…,"params":…}`), waiting up to the read timeout.
    pub fn next_notification(&mut self) -> Result<Value, ClientError> {
        if let Some(n) = self.pending.pop_front() {
            return Ok(n);
        }
        loop {
            let msg = self.read_message()?;
            if let Value::Object(m) = &msg {
                if m.contains_key("method") && !m.contains_key("id") {
                    return Ok(msg);
                }
            }
        }
    }

    fn read_message(&mut self) -> Result<Value, ClientError> {
        let mut line = String::new();
        let n = Read::take(&mut self.reader, 16 * MAX_LINE as u64).read_line(&mut line)?;
        if n == 0 {
            return Err(ClientError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "daemon closed the connection",
            )));
        }
        json::from_str(line.trim_end()).map_err(|_| ClientError::Protocol("invalid JSON".into()))
    }
}

fn rpc_error(v: Option<Value>) -> RpcError {
    let Some(Value::Object(mut e)) = v else {
        return RpcError::new(0, "malformed error");
    };
    let code = match e.get("code") {
        Some(Value::Number(Number::I64(n))) => *n,
        Some(Value::Number(Number::U64(n))) => *n as i64,
        _ => 0,
    };
    let message = match e.remove("message") {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    RpcError {
        code,
        message,
        data: e.remove("data"),
    }
}
