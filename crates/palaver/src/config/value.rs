//! How each type of setting is read from a flag or variable and how its default is shown.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::builder::ValueParser;
use clap::{Arg, ArgAction, ArgMatches, ValueEnum};
use serde::Serialize;

use super::{BlobStorage, LogFormat};

/// A setting's type: a single value, `Option` of one (unset by default) or `Vec` of them
/// (comma-separated in a flag or variable).
pub(super) trait Value: Serialize {
    /// `arg` taught to parse this type.
    fn arg(arg: Arg) -> Arg;
    /// The value given as a flag or variable, if any, ready for figment.
    fn given(matches: &ArgMatches, id: &str) -> Option<Self>
    where
        Self: Sized;
    /// The value as a user would write it; `None` for the absent ones ...
    fn show(&self) -> Option<String>;
    /// ... which read as this.
    const ABSENT: &'static str = "unset";
}

/// A type a flag parses by itself.
pub(super) trait Scalar: Serialize + Clone + Send + Sync + 'static {
    fn parser() -> ValueParser;
    fn show(&self) -> String;
}

macro_rules! scalar {
    ($($t:ty => $show:expr),* $(,)?) => {$(
        impl Scalar for $t {
            fn parser() -> ValueParser {
                clap::value_parser!($t).into()
            }
            fn show(&self) -> String {
                let show: fn(&$t) -> String = $show;
                show(self)
            }
        }

        impl Value for $t {
            fn arg(arg: Arg) -> Arg {
                arg.value_parser(<$t as Scalar>::parser()).action(ArgAction::Set)
            }
            fn given(matches: &ArgMatches, id: &str) -> Option<Self> {
                matches.get_one::<$t>(id).cloned()
            }
            fn show(&self) -> Option<String> {
                Some(Scalar::show(self))
            }
        }
    )*};
}

scalar! {
    u32 => u32::to_string,
    u64 => u64::to_string,
    usize => usize::to_string,
    i64 => i64::to_string,
    f64 => f64::to_string,
    String => String::clone,
    PathBuf => |path| path.display().to_string(),
    SocketAddr => SocketAddr::to_string,
    IpAddr => IpAddr::to_string,
    LogFormat => variant,
    BlobStorage => variant,
}

/// An enum as its flag spells it.
fn variant<T: ValueEnum>(value: &T) -> String {
    value.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}

impl<T: Scalar> Value for Option<T> {
    fn arg(arg: Arg) -> Arg {
        arg.value_parser(T::parser()).action(ArgAction::Set)
    }
    fn given(matches: &ArgMatches, id: &str) -> Option<Self> {
        matches.get_one::<T>(id).cloned().map(Some)
    }
    fn show(&self) -> Option<String> {
        self.as_ref().map(Scalar::show)
    }
}

impl<T: Scalar> Value for Vec<T> {
    fn arg(arg: Arg) -> Arg {
        arg.value_parser(T::parser()).action(ArgAction::Append).value_delimiter(',')
    }
    fn given(matches: &ArgMatches, id: &str) -> Option<Self> {
        matches.get_many::<T>(id).map(|values| values.cloned().collect())
    }
    fn show(&self) -> Option<String> {
        let shown: Vec<String> = self.iter().map(Scalar::show).collect();
        (!shown.is_empty()).then(|| shown.join(","))
    }
    const ABSENT: &'static str = "none";
}
