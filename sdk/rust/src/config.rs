//! A plugin's config table, with typed getters.

use crate::bindings::wasmtrace::plugin::types::ConfigValue;

/// The `[plugin.NAME.config]` table from wasmtrace's config file.
pub struct Config {
    entries: Vec<(String, ConfigValue)>,
}

impl Config {
    #[doc(hidden)]
    pub fn new(entries: Vec<(String, ConfigValue)>) -> Config {
        Config { entries }
    }

    fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A string value; `Err` names the key when it has another type.
    pub fn text(&self, key: &str) -> Result<Option<&str>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Text(s)) => Ok(Some(s)),
            Some(_) => Err(format!("config key `{key}` must be a string")),
        }
    }

    /// An integer value; `Err` names the key when it has another type.
    pub fn integer(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Integer(n)) => Ok(Some(*n)),
            Some(_) => Err(format!("config key `{key}` must be an integer")),
        }
    }

    /// A boolean value; `Err` names the key when it has another type.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Boolean(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("config key `{key}` must be true or false")),
        }
    }

    /// A list of strings; `Err` names the key when it has another type.
    pub fn texts(&self, key: &str) -> Result<Option<&[String]>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Texts(list)) => Ok(Some(list)),
            Some(_) => Err(format!("config key `{key}` must be a list of strings")),
        }
    }
}
