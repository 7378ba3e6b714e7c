//! The control socket: how `switchboard reload` reaches the running server (like Asterisk's
//! `asterisk -rx "dialplan reload"` over its control socket), and the other reload triggers
//! (SIGHUP, and a change in the dialplan folder when `[dialplan] watch` is on).
//!
//! The protocol is one line in, text out, then the connection closes:
//! * `reload` is answered `ok: …` or `error:` followed by the checker's report;
//! * `acd` is answered with the ACD's live state and today's figures as one line of JSON
//!   ([`crate::acd::View`]), which `switchboard agents` and `switchboard queues` print.
//!
//! The socket is a Unix socket in the server's working directory: only local users with
//! access to that folder can use it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::acd::View;
use crate::dialplans::DialplanStore;
use crate::media::PromptCache;
use crate::protocol::AcdRequest;

/// How often the dialplan folder is looked at when watching.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What a reload did, as told to the admin.
fn reload(store: &DialplanStore, prompts: &PromptCache, trigger: &str) -> String {
    match store.reload() {
        Ok(entries) => {
            prompts.clear();
            tracing::info!(trigger, entries, "dialplans reloaded");
            format!("ok: dialplans reloaded, {entries} entries\n")
        }
        Err(report) => {
            tracing::error!(
                trigger,
                "dialplan reload refused, the running dialplans stay:\n{report}"
            );
            format!("error: the running dialplans stay; fix these and reload again:\n{report}\n")
        }
    }
}

/// Serves the control socket at `path` (a stale socket file is replaced).
///
/// # Errors
/// When the socket cannot be created.
pub fn serve(
    path: &Path,
    store: Arc<DialplanStore>,
    prompts: PromptCache,
    acd: mpsc::Sender<AcdRequest>,
    live: crate::calls::Updates,
) -> std::io::Result<()> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (store, prompts, acd, live) =
                (store.clone(), prompts.clone(), acd.clone(), live.clone());
            tokio::spawn(async move {
                if let Err(err) = handle(stream, &store, &prompts, &acd, &live).await {
                    tracing::debug!(%err, "control connection ended early");
                }
            });
        }
    });
    Ok(())
}

async fn handle(
    stream: UnixStream,
    store: &DialplanStore,
    prompts: &PromptCache,
    acd: &mpsc::Sender<AcdRequest>,
    live: &crate::calls::Updates,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(1024));
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let answer = match line.trim() {
        "reload" => reload(store, prompts, "control socket"),
        "acd" => acd_view(acd).await,
        "calls" => match crate::calls::snapshot(live)
            .await
            .map(|c| serde_json::to_string(&c))
        {
            Some(Ok(json)) => format!("{json}\n"),
            Some(Err(err)) => format!("error: {err}\n"),
            None => "error: the live calls' table is not running\n".into(),
        },
        other => format!(
            "error: unknown command {other:?}; the commands are `reload`, `acd` and `calls`\n"
        ),
    };
    write.write_all(answer.as_bytes()).await?;
    write.shutdown().await
}

async fn acd_view(acd: &mpsc::Sender<AcdRequest>) -> String {
    let (reply, rx) = oneshot::channel();
    if acd.send(AcdRequest::Snapshot { reply }).await.is_err() {
        return "error: the ACD is not running\n".into();
    }
    match rx.await.map(|view| serde_json::to_string(&view)) {
        Ok(Ok(json)) => format!("{json}\n"),
        Ok(Err(err)) => format!("error: {err}\n"),
        Err(_) => "error: the ACD did not answer\n".into(),
    }
}

/// Reloads on SIGHUP and, with `watch`, when the folders change.
pub fn spawn_triggers(store: Arc<DialplanStore>, prompts: PromptCache, watch: bool) {
    #[cfg(unix)]
    {
        let (store, prompts) = (store.clone(), prompts.clone());
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                let _ = reload(&store, &prompts, "SIGHUP");
            }
        });
    }
    if watch {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(WATCH_EVERY);
            loop {
                every.tick().await;
                if store.changed() {
                    let _ = reload(&store, &prompts, "file change");
                }
            }
        });
    }
}

/// `switchboard reload`: asks the server listening on `path` to reload; its answer.
///
/// # Errors
/// When no server listens there.
pub async fn request_reload(path: &PathBuf) -> std::io::Result<String> {
    request(path, "reload").await
}

/// `switchboard agents` / `switchboard queues`: the ACD's live state from the server
/// listening on `path`.
///
/// # Errors
/// When no server listens there, or its answer is not a view.
pub async fn request_acd(path: &PathBuf) -> std::io::Result<View> {
    request_json(path, "acd").await
}

/// `switchboard calls`: the calls in progress on the server listening on `path`.
///
/// # Errors
/// When no server listens there, or its answer is not a table of calls.
pub async fn request_calls(path: &PathBuf) -> std::io::Result<crate::calls::LiveCalls> {
    request_json(path, "calls").await
}

/// Sends `command` and reads its one line of JSON (or its `error: …`).
async fn request_json<T: serde::de::DeserializeOwned>(
    path: &PathBuf,
    command: &str,
) -> std::io::Result<T> {
    let answer = request(path, command).await?;
    if let Some(error) = answer.strip_prefix("error: ") {
        return Err(std::io::Error::other(error.trim().to_owned()));
    }
    serde_json::from_str(answer.trim()).map_err(std::io::Error::other)
}

async fn request(path: &PathBuf, command: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(path).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot reach a running switchboard at {} ({e}): is it running, from this folder \
                 (see [control] socket)?",
                path.display()
            ),
        )
    })?;
    stream.write_all(format!("{command}\n").as_bytes()).await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut answer))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(answer)
}
