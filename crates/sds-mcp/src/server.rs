//! The MCP side: an rmcp [`ServerHandler`] that announces the tools capability only, lists
//! the tools and runs each call on a blocking thread, one call at a time.

use crate::config::Config;
use crate::session::OpenStores;
use crate::tools;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;

/// The server state shared by all calls.
#[derive(Clone)]
pub struct SdsServer {
    config: Arc<Config>,
    /// Calls run one after the other: two calls on one store file never overlap. The store
    /// the last call used stays open between calls.
    serial: Arc<tokio::sync::Mutex<()>>,
    stores: Arc<std::sync::Mutex<OpenStores>>,
}

impl SdsServer {
    /// A server with the startup configuration.
    pub fn new(config: Config) -> SdsServer {
        SdsServer {
            config: Arc::new(config),
            serial: Arc::default(),
            stores: Arc::default(),
        }
    }

    /// Stops the engine of the store kept open (checkpoint); for the end of the session.
    pub fn close_stores(&self) -> Result<(), String> {
        lock(&self.stores).close().map_err(|error| error.0)
    }
}

fn lock(stores: &std::sync::Mutex<OpenStores>) -> std::sync::MutexGuard<'_, OpenStores> {
    stores
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn text_result(text: String, is_error: bool) -> CallToolResult {
    let mut result = if is_error {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    // Success results carry no `isError` member (SPEC §16.3).
    result.is_error = is_error.then_some(true);
    result
}

impl ServerHandler for SdsServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sds-mcp", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = tools::list()
            .into_iter()
            .map(|(name, description, schema)| Tool::new(name, description, Arc::new(schema)))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let _turn = self.serial.lock().await;
        let config = self.config.clone();
        let stores = self.stores.clone();
        let rt = tokio::runtime::Handle::current();
        let name = request.name.to_string();
        let args = request.arguments.unwrap_or_default();
        tracing::debug!(tool = %name, "call");
        let outcome = tokio::task::spawn_blocking(move || {
            tools::call(&config, &rt, &mut lock(&stores), &name, &args)
        })
        .await
        .map_err(|e| ErrorData::internal_error(format!("the call failed: {e}"), None))?;
        Ok(match outcome {
            Ok(value) => text_result(value.to_string(), false),
            Err(error) => text_result(error.0, true),
        }
        .into())
    }
}
