use clap::{Args, Command, FromArgMatches};

use super::*;

/// The settings as `palaver <args>` gives them (variables of this process included).
fn given(args: &[&str]) -> Settings {
    let command = Settings::augment_args(Command::new("palaver"));
    let matches = command.try_get_matches_from(std::iter::once("palaver").chain(args.iter().copied())).unwrap();
    Settings::from_arg_matches(&matches).unwrap()
}

#[test]
fn the_write_budget_is_checked_at_start() {
    let cases = [
        (["--limits-writes-per-sec=0"], "limits.writes_per_sec"),
        (["--limits-writes-per-sec=-1"], "limits.writes_per_sec"),
        (["--limits-write-burst=0.5"], "limits.write_burst"),
    ];
    for (args, named) in cases {
        let config = Config::load(&given(&args)).expect("the settings parse");
        let error = config.validate().expect_err("an unusable budget is refused").to_string();
        assert!(error.contains(named), "the error names {named}: {error}");
    }
}

#[test]
fn mcp_servers_are_checked_at_start() {
    let server = |name: &str, command: Option<&str>, url: Option<&str>| McpServerConfig {
        name: name.into(),
        command: command.map(Into::into),
        args: vec![],
        env: Default::default(),
        url: url.map(Into::into),
        timeout_secs: 30,
    };
    let mut config = Config::default();
    config.mcp.servers = vec![server("everything", Some("npx"), None), server("remote", None, Some("http://h/mcp"))];
    config.validate().unwrap();
    config.mcp.servers = vec![
        server("a__b", Some("x"), None),
        server("dup", Some("x"), None),
        server("dup", None, None),
        server("both", Some("x"), Some("http://h")),
        server("ftp", None, Some("ftp://h")),
    ];
    let error = config.validate().unwrap_err().to_string();
    for expected in ["\"a__b\"", "used twice", "\"dup\" needs exactly one", "\"both\" needs exactly one", "\"ftp\" url"]
    {
        assert!(error.contains(expected), "{expected}: {error}");
    }
}

#[test]
fn redis_is_for_instances_that_share_postgres() {
    let mut config = Config { redis_url: Some("redis://127.0.0.1:6379".into()), ..Config::default() };
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("redis_url (PALAVER_REDIS_URL) needs a PostgreSQL database_url"), "{error}");
    config.database_url = Some("postgres://postgres@127.0.0.1/test".into());
    config.validate().unwrap();
    config.redis_url = Some("http://127.0.0.1:6379".into());
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("redis_url (PALAVER_REDIS_URL) is not a Redis URL"), "{error}");
}

#[test]
fn trusted_proxies_come_from_the_command_line_or_the_environment() {
    let config = Config::load(&given(&["--limits-trusted-proxies", "127.0.0.1,::1"])).unwrap();
    let expected: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    assert_eq!(config.limits.trusted_proxies, expected);
}

#[test]
fn the_defaults_are_valid() {
    Config::default().validate().unwrap();
}

#[test]
fn a_zero_is_refused_with_the_setting_as_the_user_wrote_it() {
    let mut config = Config::default();
    config.ws.rate_per_sec = 0.0;
    config.database.max_connections = 0;
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("ws.rate_per_sec (PALAVER_WS_RATE_PER_SEC) must be"), "{error}");
    assert!(error.contains("database.max_connections (PALAVER_DATABASE_MAX_CONNECTIONS) must be"), "{error}");
}

/// Every setting, given as its flag with the default `--help` shows, loads back to the
/// default: the help is honest and each flag reaches its own field.
#[test]
fn every_default_shown_in_help_is_accepted_back() {
    struct Defaults(Vec<String>);
    impl Visit for Defaults {
        fn setting<T: Value>(&mut self, setting: &Setting, default: &T, _: Rule<T>) {
            if let Some(shown) = default.show() {
                self.0.push(format!("--{}={shown}", setting.flag()));
            }
        }
    }
    let mut defaults = Defaults(Vec::new());
    Config::default().visit(&mut defaults);
    assert!(defaults.0.len() >= 40, "{:?}", defaults.0);
    let args: Vec<&str> = defaults.0.iter().map(String::as_str).collect();
    let settings = given(&args);
    let overrides = settings.overrides();
    let count = |v: &serde_json::Value| {
        v.as_object().map_or(0, |o| o.values().map(|v| v.as_object().map_or(1, |o| o.len())).sum())
    };
    assert_eq!(count(&overrides), args.len(), "each flag is one setting: {overrides}");
    let loaded = Config::load(&settings).unwrap();
    assert_eq!(serde_json::to_value(loaded).unwrap(), serde_json::to_value(Config::default()).unwrap());
}

#[test]
fn a_flag_overrides_the_file_which_overrides_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palaver.toml");
    std::fs::write(&file, "log = \"debug\"\n[ws]\nrate_per_sec = 7\nrate_burst = 8\n").unwrap();
    let path = file.to_str().unwrap();
    let config = Config::load(&given(&["--config", path, "--ws-rate-burst", "9"])).unwrap();
    assert_eq!((config.log.as_str(), config.ws.rate_per_sec, config.ws.rate_burst), ("debug", 7.0, 9.0));
    assert_eq!(config.ws.outbox_frames, WsConfig::default().outbox_frames);
}

#[test]
fn every_flag_and_variable_is_distinct_and_helped_with_its_default() {
    let command = Settings::augment_args(Command::new("palaver"));
    let mut seen = std::collections::HashSet::new();
    for arg in command.get_arguments() {
        let long = arg.get_long().expect("every setting has a flag");
        let env = arg.get_env().expect("every setting has a variable").to_string_lossy().into_owned();
        assert!(seen.insert(long.to_owned()) && seen.insert(env.clone()), "{long} / {env} twice");
        assert_eq!(env, format!("PALAVER_{}", long.replace('-', "_").to_ascii_uppercase()));
        let help = arg.get_help().expect("every setting has a help").to_string();
        assert!(long == "config" || help.contains("[default: "), "--{long}: {help}");
    }
    let help = command.get_arguments().find(|a| a.get_long() == Some("uploads-max-bytes")).unwrap();
    assert!(help.get_help().unwrap().to_string().ends_with("[default: 10485760]"), "{help:?}");
}
