//! A tiny stdio MCP server for the integration tests (`tests/mcp.rs`): `echo` returns its
//! text, `fail` returns an error result, `crash` exits the process mid-call, `big` returns a
//! text of the size asked for.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};

/// Arguments of `echo` and `fail`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Text {
    /// The text to return.
    text: String,
}

/// Arguments of `big`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Size {
    /// Bytes of text to return.
    bytes: usize,
}

#[derive(Debug, Clone)]
struct Echo {
    tool_router: ToolRouter<Self>,
}

#[tool_router(router = tool_router)]
impl Echo {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Return the text unchanged.")]
    fn echo(&self, Parameters(Text { text }): Parameters<Text>) -> String {
        format!("echo: {text}")
    }

    #[tool(description = "Always fail.")]
    fn fail(&self, Parameters(Text { text }): Parameters<Text>) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(format!("failed on {text}"))])
    }

    #[tool(description = "Never answer.")]
    async fn hang(&self) -> String {
        std::future::pending::<()>().await;
        String::new()
    }

    #[tool(description = "Return `bytes` bytes of text.")]
    fn big(&self, Parameters(Size { bytes }): Parameters<Size>) -> String {
        "x".repeat(bytes)
    }

    #[tool(description = "Exit the server process.")]
    fn crash(&self) -> String {
        std::process::exit(3)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = Echo::new().serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}
