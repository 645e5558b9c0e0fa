//! The settings table of docs/configuration.md, rendered from the declarations.

use super::Config;
use super::declare::{Setting, Visit};
use super::rules::Rule;
use super::value::Value;

/// The table between these markers in docs/configuration.md is generated.
pub const BEGIN: &str = "<!-- settings table: generated from crates/palaver/src/config.rs -->";
pub const END: &str = "<!-- end of settings table -->";

/// One row per setting, in declaration order, then the TOML-only ones.
pub fn table() -> String {
    let mut rows =
        Rows(String::from("| TOML key | variable / flag | default | accepts | meaning |\n|---|---|---|---|---|\n"));
    Config::default().visit(&mut rows);
    let mut table = rows.0;
    table.push_str(&format!("| `[[mcp.servers]]` | TOML only | none | names of 1 to 32 of `A-Z a-z 0-9 _ -` without `__`, distinct; one of `command` and `url`; `timeout_secs` 1 to 3600 | {} |\n", cell(MCP_SERVERS_DOC)));
    table
}

/// `[[mcp.servers]]`'s line in docs/configuration.md (a list of tables has no variable).
const MCP_SERVERS_DOC: &str = "MCP tool servers for the assistant: each has `name`, either `command` (+ `args`, \
    `env`) for a stdio server (started when first needed, its stderr in our log) or `url` for streamable HTTP, and \
    `timeout_secs` for each call (default `30`)";

struct Rows(String);

impl Visit for Rows {
    fn setting<T: Value>(&mut self, setting: &Setting, default: &T, rule: Rule<T>) {
        let key = match setting.key.split_once('.') {
            Some((section, name)) => format!("`[{section}] {name}`"),
            None => format!("`{}`", setting.key),
        };
        let mut variable = format!("`{}` / `--{}`", setting.env(), setting.flag());
        if setting.secret {
            variable.push_str(" (secret: never printed)");
        }
        let default = default.show().map_or_else(|| T::ABSENT.to_owned(), |shown| format!("`{shown}`"));
        let accepts = if rule.accepts.is_empty() { "any".to_owned() } else { rule.accepts };
        let row = [key, variable, cell(&default), cell(&accepts), cell(&meaning(setting))].join(" | ");
        self.0.push_str(&format!("| {row} |\n"));
    }
}

/// The whole doc (`--help` has its first paragraph only).
fn meaning(setting: &Setting) -> String {
    let lines = setting.doc.iter().map(|line| line.trim()).filter(|line| !line.is_empty());
    lines.collect::<Vec<_>>().join(" ")
}

/// Text that keeps a table row one row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The variable that makes the test below rewrite the docs instead of failing.
    const REWRITE: &str = "REWRITE_DOCS";

    #[test]
    fn docs_configuration_md_lists_the_settings_as_declared() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let text = std::fs::read_to_string(&path).expect("docs/configuration.md is readable");
        let (head, rest) = text.split_once(super::BEGIN).expect("docs/configuration.md has the begin marker");
        let (written, tail) = rest.split_once(super::END).expect("docs/configuration.md has the end marker");
        let generated = format!("\n{}", super::table());
        if written == generated {
            return;
        }
        if std::env::var_os(REWRITE).is_some() {
            let text = format!("{head}{}{generated}{}{tail}", super::BEGIN, super::END);
            std::fs::write(&path, text).expect("docs/configuration.md is writable");
            return;
        }
        panic!(
            "docs/configuration.md's settings table differs from the declarations in config.rs; \
             regenerate it with `{REWRITE}=1 cargo test -p palaver --lib config::docs` and commit the result"
        );
    }
}
