//! The API client's secret: read from an environment variable or from a
//! file only its owner can read, held in a type that never prints it.
//!
//! Invariant: the secret's text leaves this module only through
//! [`Secret::expose`], for the token request's body. `Debug` and every
//! error message name where it comes from, never what it is.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where the secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `client_secret_env`: an environment variable's name.
    Env(String),
    /// `client_secret_file`: a file readable by its owner only.
    File(PathBuf),
}

/// The client secret. Prints as `Secret(<redacted>)`.
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// The secret's text, for the token request only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the secret from `source`. `config` is the configuration file,
    /// named in errors.
    pub fn read(source: &Source, config: &Path) -> Result<Secret> {
        let bad = |reason: String| Error::Config {
            path: config.to_owned(),
            reason,
        };
        let text = match source {
            Source::Env(name) => std::env::var(name).map_err(|_| {
                bad(format!(
                    "client_secret_env: the environment variable {name} is not set (or not UTF-8); set it to the External Client App's consumer secret"
                ))
            })?,
            Source::File(path) => {
                check_owner_only(path).map_err(bad)?;
                std::fs::read_to_string(path).map_err(|e| {
                    bad(format!("client_secret_file {}: {e}", path.display()))
                })?
            }
        };
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(bad(format!(
                "{}: the client secret is empty",
                describe(source)
            )));
        }
        Ok(Secret(text))
    }
}

fn describe(source: &Source) -> String {
    match source {
        Source::Env(name) => format!("client_secret_env {name}"),
        Source::File(path) => format!("client_secret_file {}", path.display()),
    }
}

/// Refuses a secret file that others than its owner may read or write.
#[cfg(unix)]
fn check_owner_only(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("client_secret_file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "client_secret_file {}: readable by others (mode {mode:o}); make it readable by its owner only: chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path) -> std::result::Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_secret_must_be_owner_only_and_never_prints() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Secret::read(&Source::File(path.clone()), &config).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("chmod 600") && msg.contains("config.toml"),
            "{msg}"
        );
        assert!(!msg.contains("s3cr3t"), "{msg}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = Secret::read(&Source::File(path), &config).unwrap();
        assert_eq!(s.expose(), "s3cr3t-value");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn a_missing_or_empty_variable_is_a_config_error_naming_it() {
        let config = Path::new("/a/config.toml");
        let name = "CONVAULT_TEST_SECRET_THAT_IS_NOT_SET";
        let e = Secret::read(&Source::Env(name.into()), config).unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "  \n").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let e = Secret::read(&Source::File(empty), config).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
