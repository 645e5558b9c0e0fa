//! The web client's module graph (docs/web.md, "Modules"): `main.js` builds the views and
//! wires them with callbacks, so no view imports another, nothing imports `main.js`, there
//! is no import cycle, and a view keeps no state at module level and is handed the shared
//! state rather than importing it. Read from the `import` lines of `web/app/*.js`.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The modules that are not views: the entry point, the shared state, and what any module
/// may use (the API and socket clients, DOM and text helpers, the data sync, and what the
/// timeline and the thread pane both draw: attachments, reactions, a thread's summary). Every other
/// module of `web/app/` is a view, so a new one is held to the view rules until listed here.
const NOT_VIEWS: &[&str] = &[
    "main.js",
    "state.js",
    "sync.js",
    "api.js",
    "socket.js",
    "dom.js",
    "markdown.js",
    "message-text.js",
    "attachment.js",
    "reactions.js",
    "threading.js",
];

/// One static import: the module named and the names it binds (`*` for a namespace).
struct Import {
    from: String,
    names: Vec<String>,
}

/// The static imports of a module's source (`import ... from "x";` and `export ... from "x";`,
/// on one line or several); a dynamic `import(` is reported by [`problems`].
fn imports(source: &str) -> Vec<Import> {
    let mut found = Vec::new();
    let mut statement: Option<String> = None;
    for line in source.lines() {
        let trimmed = line.trim_start();
        // Top-level statements only: an import never sits inside a block.
        let starts =
            line == trimmed && ["import ", "import{", "export {", "export *"].iter().any(|s| trimmed.starts_with(s));
        if statement.is_none() && starts {
            statement = Some(String::new());
        }
        let Some(text) = statement.as_mut() else { continue };
        text.push_str(trimmed);
        text.push(' ');
        if !trimmed.trim_end().ends_with(';') {
            continue;
        }
        let text = statement.take().unwrap_or_default();
        let Some(from) = last_quoted(&text) else { continue };
        let head = text.split(" from ").next().unwrap_or_default();
        let names = if head.contains('*') {
            vec!["*".to_owned()]
        } else {
            head.split(['{', '}', ','])
                .skip(1)
                .map(|name| name.split(" as ").next().unwrap_or_default().trim().to_owned())
                .filter(|name| !name.is_empty())
                .collect()
        };
        found.push(Import { from, names });
    }
    found
}

fn last_quoted(text: &str) -> Option<String> {
    let end = text.rfind(['"', '\''])?;
    let start = text[..end].rfind(['"', '\''])?;
    Some(text[start + 1..end].to_owned())
}

/// Everything wrong with a set of modules (file name → source); empty when the graph is sound.
fn problems(modules: &BTreeMap<String, String>) -> Vec<String> {
    let is_view = |name: &str| !NOT_VIEWS.contains(&name);
    let mut problems = Vec::new();
    let mut graph: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, source) in modules {
        if source.contains("import(") {
            problems.push(format!("{name}: a dynamic import(); the graph must be readable from its import lines"));
        }
        let mut edges = Vec::new();
        for import in imports(source) {
            let Some(target) = import.from.strip_prefix("./").filter(|t| modules.contains_key(*t)) else {
                problems.push(format!("{name} imports {:?}: not a module of web/app/", import.from));
                continue;
            };
            if target == "main.js" {
                problems.push(format!("{name} imports main.js, the entry point"));
            }
            if is_view(target) && name != "main.js" {
                problems.push(format!("{name} imports the view {target}: only main.js wires views"));
            }
            if is_view(name) && target == "state.js" && import.names.iter().any(|n| n == "state" || n == "*") {
                problems.push(format!("the view {name} imports the shared state: main.js hands it in"));
            }
            edges.push(target.to_owned());
        }
        if is_view(name) {
            for line in source.lines().filter(|l| l.starts_with("let ") || l.starts_with("var ")) {
                problems.push(format!("the view {name} keeps state at module level: {line}"));
            }
            if !imports(&modules["main.js"]).iter().any(|i| i.from == format!("./{name}")) {
                problems.push(format!("the view {name} is not wired by main.js"));
            }
        }
        graph.insert(name, edges);
    }
    problems.extend(cycles(&graph));
    problems
}

/// Each import cycle, found by a depth-first walk, as "a.js -> b.js -> a.js".
fn cycles(graph: &BTreeMap<&str, Vec<String>>) -> Vec<String> {
    fn walk<'a>(
        at: &'a str,
        graph: &'a BTreeMap<&str, Vec<String>>,
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
        found: &mut Vec<String>,
    ) {
        if let Some(start) = path.iter().position(|m| *m == at) {
            let mut cycle = path[start..].to_vec();
            cycle.push(at);
            found.push(format!("an import cycle: {}", cycle.join(" -> ")));
            return;
        }
        if done.contains(&at) {
            return;
        }
        path.push(at);
        for next in graph.get(at).into_iter().flatten() {
            walk(next, graph, path, done, found);
        }
        path.pop();
        done.push(at);
    }
    let mut found = Vec::new();
    let mut done = Vec::new();
    for name in graph.keys() {
        walk(name, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn modules_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(name, source)| ((*name).to_owned(), (*source).to_owned())).collect()
}

#[test]
fn the_client_modules_form_no_cycle_and_views_are_wired_only_by_main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/app");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "js") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            modules.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    // The check read something: main.js wires the views it is known to wire.
    let wired: Vec<String> = imports(&modules["main.js"]).into_iter().map(|i| i.from).collect();
    for view in [
        "./rooms.js",
        "./conversation.js",
        "./composer.js",
        "./members.js",
        "./notifications.js",
        "./assistant.js",
        "./thread.js",
        "./threads.js",
        "./search.js",
    ] {
        assert!(wired.iter().any(|from| from == view), "main.js imports {view}: {wired:?}");
    }
    let problems = problems(&modules);
    assert!(problems.is_empty(), "the web client's modules:\n  {}", problems.join("\n  "));
}

/// The check itself: it sees a cycle, a view importing a view or the state, module-level
/// state in a view, and an import spread over several lines.
#[test]
fn the_module_check_catches_cycles_and_views_importing_views() {
    let modules = modules_of(&[
        ("main.js", "import { createRooms } from \"./rooms.js\";\nimport { createMembers } from \"./members.js\";\n"),
        ("rooms.js", "import {\n  createMembers,\n} from \"./members.js\";\nlet open = null;\n"),
        ("members.js", "import { state } from \"./state.js\";\n"),
        ("state.js", "import * as sync from \"./sync.js\";\nexport const state = {};\n"),
        ("sync.js", "import { state } from './state.js';\n"),
        ("orphan.js", "const later = () => import(\"./rooms.js\");\n"),
    ]);
    let found = problems(&modules);
    let expect = [
        "rooms.js imports the view members.js",
        "the view members.js imports the shared state",
        "the view rooms.js keeps state at module level: let open = null;",
        "the view orphan.js is not wired by main.js",
        "orphan.js: a dynamic import()",
        "an import cycle: state.js -> sync.js -> state.js",
    ];
    for wanted in expect {
        assert!(found.iter().any(|p| p.starts_with(wanted)), "{wanted:?} in {found:#?}");
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");

    let sound = modules_of(&[
        ("main.js", "import { createRooms } from \"./rooms.js\";\nimport { state } from \"./state.js\";\n"),
        (
            "rooms.js",
            "import { roomTitle } from \"./state.js\";\nexport function createRooms(state) {\n  let open = null;\n}\n",
        ),
        ("state.js", "export const state = {};\n"),
    ]);
    assert_eq!(problems(&sound), Vec::<String>::new());
}
