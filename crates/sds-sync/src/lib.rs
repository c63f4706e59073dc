//! # sds-sync
//!
//! The sync engine of the Shareable Data Store (SPEC §13). Its logic is a deterministic state
//! machine over a [`sds_core::Store`] and an optional [`sds_core::Persistence`] provider: it
//! restores the store from a snapshot and the later patches by itself, makes every local
//! transaction durable before it returns, persists received patches on receipt, checkpoints
//! (snapshot + prune, merging what other processes wrote) at 512 KiB of patches and on stop,
//! keeps blobs with the entries that reference them and removes them by reachability, and runs
//! the Trash TTL timer. It reads no clock: time comes in through
//! [`Engine::handle_timeout`]. The [`driver`] runs an engine on its own thread behind an async
//! handle.
//!
//! ```
//! use sds_core::{MemoryPersistence, Persistence, ROOT_ID};
//! use sds_sync::{Engine, EngineOptions};
//! use sds_yrs::YrsBackend;
//!
//! # fn main() -> Result<(), sds_sync::SyncError> {
//! let provider = MemoryPersistence::new("notes");
//! let mut engine = Engine::<YrsBackend>::start(Some(Box::new(provider.clone())), EngineOptions::default(), 0)?;
//! let id = engine.transact(|store| {
//!     let id = store.new_item_at(None, ROOT_ID, None)?;
//!     store.set_label(&id, "durable")?;
//!     Ok(id)
//! })?;
//! engine.stop()?;
//!
//! // A new engine restores everything by itself.
//! let again = Engine::<YrsBackend>::start(Some(Box::new(MemoryPersistence::shared("notes", provider.database()))), EngineOptions::default(), 0)?;
//! assert_eq!(again.store().entry(&id).unwrap().label(), "durable");
//! # Ok(())
//! # }
//! ```

pub mod driver;
mod engine;
mod error;
mod kept;
mod network;
mod pipeline;
pub mod protocol;
pub mod transport;

pub use driver::{DriverEvent, EngineHandle, EventReceiver};
pub use engine::{Engine, EngineEvent, EngineOptions};
pub use error::{Result, SyncError};
pub use kept::{KeptEngines, StopFailure};
pub use network::{
    DEFAULT_PRESENCE_TIMEOUT_MS, NetworkOptions, PeerPresence, PresenceOrigin, VALUE_REREQUEST_MS,
};
pub use transport::{
    Backoff, ConnectOptions, ConnectionState, MemoryProvider, MemoryRelay, NetworkProvider,
    TransportEvent,
};
