//! The settings as `palaver` flags and `PALAVER_*` variables (clap reads both), built from
//! the table: each flag's help ends with the default it falls back to.

use std::path::PathBuf;

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use serde_json::{Map, Value as Json};

use super::Config;
use super::declare::{Setting, Visit};
use super::rules::Rule;
use super::value::Value;

/// The config file and the settings given as flags or variables. Unset ones fall back to
/// the TOML file, then to the defaults.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// TOML file with the same settings.
    pub config: Option<PathBuf>,
    /// Those given, by TOML key, as a partial document for figment to merge on top.
    given: Map<String, Json>,
}

const CONFIG_FILE: &str = "config";

impl Settings {
    pub(super) fn overrides(&self) -> Json {
        let mut root = Map::new();
        for (key, value) in &self.given {
            match key.split_once('.') {
                None => {
                    root.insert(key.clone(), value.clone());
                }
                Some((section, name)) => {
                    let section = root.entry(section).or_insert_with(|| Json::Object(Map::new()));
                    if let Json::Object(section) = section {
                        section.insert(name.to_owned(), value.clone());
                    }
                }
            }
        }
        Json::Object(root)
    }
}

impl Args for Settings {
    fn augment_args(command: Command) -> Command {
        let file = Arg::new(CONFIG_FILE)
            .long("config")
            .value_name("CONFIG")
            .env("PALAVER_CONFIG")
            .global(true)
            .value_parser(clap::value_parser!(PathBuf))
            .help("TOML file with the same settings (sections `[auth]`, `[database]`, `[limits]`, `[ws]`, `[uploads]`, `[llm]`, `[mcp]`)");
        let mut flags = Flags { command: command.arg(file) };
        Config::default().visit(&mut flags);
        flags.command
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

struct Flags {
    command: Command,
}

impl Visit for Flags {
    fn setting<T: Value>(&mut self, setting: &Setting, default: &T, _: Rule<T>) {
        let default = default.show().unwrap_or_else(|| T::ABSENT.to_owned());
        let arg = Arg::new(setting.key)
            .long(setting.flag())
            .value_name(setting.key.rsplit('.').next().unwrap_or(setting.key).to_ascii_uppercase())
            .env(setting.env())
            .global(true)
            .hide_env_values(setting.secret)
            .help(format!("{} [default: {default}]", setting.help()));
        let command = std::mem::take(&mut self.command);
        self.command = command.arg(T::arg(arg));
    }
}

impl FromArgMatches for Settings {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut settings = Settings::default();
        settings.update_from_arg_matches(matches)?;
        Ok(settings)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        if let Some(path) = matches.get_one::<PathBuf>(CONFIG_FILE) {
            self.config = Some(path.clone());
        }
        let mut read = Given { matches, given: &mut self.given, problem: None };
        Config::default().visit(&mut read);
        match read.problem {
            Some(problem) => Err(clap::Error::raw(clap::error::ErrorKind::InvalidValue, problem)),
            None => Ok(()),
        }
    }
}

struct Given<'a> {
    matches: &'a ArgMatches,
    given: &'a mut Map<String, Json>,
    problem: Option<String>,
}

impl Visit for Given<'_> {
    fn setting<T: Value>(&mut self, setting: &Setting, _: &T, _: Rule<T>) {
        let Some(value) = T::given(self.matches, setting.key) else { return };
        // A path that is not UTF-8 has no TOML spelling either.
        match serde_json::to_value(value) {
            Ok(value) => {
                self.given.insert(setting.key.to_owned(), value);
            }
            Err(e) => self.problem = Some(format!("--{} ({}): {e}\n", setting.flag(), setting.env())),
        }
    }
}
