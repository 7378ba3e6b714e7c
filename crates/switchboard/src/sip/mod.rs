//! SIP drivers: the transports that own the sockets and the core task that owns the sans-IO
//! user agent, registrar and authenticator from `switchboard-sip`.

pub mod core;
pub mod directory;
pub mod route;
pub mod transport;
