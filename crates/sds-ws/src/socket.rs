//! Socket helpers shared by the provider and the probe.

use crate::options::WsOptions;
use crate::tls;
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{
    Connector, MaybeTlsStream, WebSocketStream, connect_async_tls_with_config,
};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Close code of a token the server does not accept (SPEC §12.2).
pub(crate) const UNAUTHORIZED: u16 = 4001;
/// Close code of a token for another store (SPEC §12.2).
pub(crate) const FORBIDDEN: u16 = 4003;

/// Whether a close code means "stop, the credentials are refused".
pub(crate) fn is_refusal(code: u16) -> bool {
    code == UNAUTHORIZED || code == FORBIDDEN
}

/// Opens the socket (TCP connect, TLS handshake for `wss://`, upgrade), bounded by the connect
/// timeout. The error is a message for people; it never contains the URL, whose query carries
/// the token.
pub(crate) async fn open(url: &str, options: &WsOptions) -> Result<Socket, String> {
    // Always an explicit rustls configuration (ring provider): tokio-tungstenite's own default
    // would need a process-wide crypto provider. Used only by `wss://` URLs.
    let connector = Connector::Rustls(tls::config_for(options.tls.as_ref()));
    // Frames are small and latency matters more than packet count: no Nagle.
    let connecting =
        connect_async_tls_with_config(url, Some(options.socket_config()), true, Some(connector));
    match tokio::time::timeout(options.connect_timeout, connecting).await {
        Err(_) => Err(format!(
            "connection attempt timed out after {} ms",
            options.connect_timeout.as_millis()
        )),
        Ok(Err(error)) => Err(tls::describe_failure(&error).unwrap_or_else(|| error.to_string())),
        Ok(Ok((socket, _response))) => Ok(socket),
    }
}

/// The code and reason of a received close frame (1005 "no status" when it has none).
pub(crate) fn close_details(frame: Option<CloseFrame>) -> (u16, String) {
    frame.map_or((1005, String::new()), |frame| {
        (u16::from(frame.code), frame.reason.as_str().to_owned())
    })
}

/// Sends a close frame and waits (bounded) for the server to finish the closing handshake.
pub(crate) async fn close(mut socket: Socket, code: CloseCode, reason: &str, options: &WsOptions) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(options.close_timeout, async {
        if socket.close(Some(frame)).await.is_ok() {
            drain(&mut socket).await;
        }
    })
    .await;
}

/// Finishes a closing handshake the server started: tungstenite answers the close frame by
/// itself on the next poll, then the stream ends. Bounded by the close timeout.
pub(crate) async fn finish_close(mut socket: Socket, options: &WsOptions) {
    let _ = tokio::time::timeout(options.close_timeout, drain(&mut socket)).await;
}

async fn drain(socket: &mut Socket) {
    while let Some(Ok(_)) = socket.next().await {}
}

/// A binary message, without copying the payload.
pub(crate) fn binary(bytes: Vec<u8>) -> Message {
    Message::Binary(bytes.into())
}
