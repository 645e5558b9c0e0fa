//! The `settings!` table's machinery: from one declaration per setting it generates the
//! section structs and their defaults, and a walk over every setting that validation, the
//! command line, the environment and docs/configuration.md are all derived from.

use super::rules::Rule;
use super::value::Value;

/// One setting as declared: its TOML key and its `///` lines.
pub(super) struct Setting {
    /// `section.name`, or `name` at the top level.
    pub key: &'static str,
    pub doc: &'static [&'static str],
    /// Its variable's value is never printed (`--help` shows the name only).
    pub secret: bool,
}

impl Setting {
    /// `ws.rate_per_sec` is set by `PALAVER_WS_RATE_PER_SEC` ...
    pub fn env(&self) -> String {
        env_var(self.key)
    }

    /// ... and by `--ws-rate-per-sec`.
    pub fn flag(&self) -> String {
        self.key.replace(['.', '_'], "-")
    }

    /// The first paragraph of the doc, for `--help`.
    pub fn help(&self) -> String {
        let first = self.doc.iter().map(|line| line.trim()).take_while(|line| !line.is_empty());
        first.collect::<Vec<_>>().join(" ")
    }
}

pub(super) fn env_var(key: &str) -> String {
    format!("PALAVER_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Something done for every setting in turn: validating, building flags, reading them,
/// writing the docs table.
pub(super) trait Visit {
    fn setting<T: Value>(&mut self, setting: &Setting, value: &T, rule: Rule<T>);
}

/// Declares the settings. Each is `/// doc`, `name: Type = default, rule` and, for a secret,
/// `, secret`; the first doc paragraph is its `--help`, the whole doc its line in
/// docs/configuration.md. Top-level settings come first, then one `[section] Struct { ... }`
/// per TOML table, then the fields only the TOML file sets.
macro_rules! settings {
    (@secret) => { false };
    (@secret secret) => { true };
    (
        top {
            $( $(#[doc = $tdoc:literal])* $tname:ident: $tty:ty = $tdefault:expr, $trule:expr $(, $tsecret:ident)?; )*
        }
        $(
            $(#[doc = $sdoc:literal])*
            [$sec:ident] $Sec:ident {
                $( $(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr, $rule:expr $(, $secret:ident)?; )*
            }
        )*
        file_only {
            $( $(#[doc = $fdoc:literal])* $fname:ident: $fty:ty, )*
        }
    ) => {
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Config {
            $( $(#[doc = $tdoc])* pub $tname: $tty, )*
            $( $(#[doc = $sdoc])* pub $sec: $Sec, )*
            $( $(#[doc = $fdoc])* pub $fname: $fty, )*
        }

        impl Default for Config {
            fn default() -> Self {
                Self {
                    $( $tname: $tdefault, )*
                    $( $sec: $Sec::default(), )*
                    $( $fname: Default::default(), )*
                }
            }
        }

        $(
            $(#[doc = $sdoc])*
            #[derive(Debug, Clone, Serialize, Deserialize)]
            #[serde(default, deny_unknown_fields)]
            pub struct $Sec {
                $( $(#[doc = $doc])* pub $name: $ty, )*
            }

            impl Default for $Sec {
                fn default() -> Self {
                    Self { $( $name: $default, )* }
                }
            }
        )*

        impl Config {
            /// Every setting of the table, in its order, with its value in `self`.
            fn visit(&self, visit: &mut impl $crate::config::declare::Visit) {
                use $crate::config::declare::Setting;
                $(
                    let setting = Setting {
                        key: stringify!($tname),
                        doc: &[$($tdoc),*],
                        secret: settings!(@secret $($tsecret)?),
                    };
                    visit.setting(&setting, &self.$tname, $trule);
                )*
                $($(
                    let setting = Setting {
                        key: concat!(stringify!($sec), ".", stringify!($name)),
                        doc: &[$($doc),*],
                        secret: settings!(@secret $($secret)?),
                    };
                    visit.setting(&setting, &self.$sec.$name, $rule);
                )*)*
            }
        }
    };
}

pub(super) use settings;
