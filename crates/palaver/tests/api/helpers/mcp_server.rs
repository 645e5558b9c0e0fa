//! Where the real MCP `everything` server is: the API tests use it from `helpers`, the unit
//! tests of `assistant::mcp` include this same file with `#[path]`.

/// `PALAVER_TEST_MCP_EVERYTHING`, or where `.ci/mcp-servers` installs the server. Fails the
/// test, saying how to install it, when it is not there.
pub fn mcp_everything_entry() -> String {
    if let Ok(path) = std::env::var("PALAVER_TEST_MCP_EVERYTHING")
        && !path.is_empty()
    {
        return path;
    }
    let cache = std::env::var("PALAVER_MCP_CACHE")
        .unwrap_or_else(|_| format!("{}/.cache/palaver-mcp", std::env::var("HOME").unwrap_or_default()));
    let entry = format!("{cache}/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        std::path::Path::new(&entry).exists(),
        "these tests need the MCP `everything` server, which is not at {entry}: `.ci/mcp-servers` \
         installs it (once, from npm), or set PALAVER_TEST_MCP_EVERYTHING to its entry point"
    );
    entry
}
