//! A registry's credentials, read when they are needed (a rotated secret is
//! picked up at the next pull), from the config's files or variables, or
//! from an `auths` file as `podman login`, `docker login` and `oras login`
//! write it.

use std::path::Path;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

use super::OciError;
use crate::config::{Auth, Credentials};

/// No auths file comes near this.
const MAX_AUTH_FILE_BYTES: u64 = 1 << 20;

pub(super) fn registry_auth(credentials: Option<&Credentials>, registry: &str) -> Result<RegistryAuth, OciError> {
    let secret = |s: &crate::config::Secret| {
        s.read()
            .map_err(|e| OciError::Credentials(format!("credentials for {registry}: {e}")))
    };
    match credentials {
        None => Ok(RegistryAuth::Anonymous),
        Some(Credentials::Given(Auth::Basic { username, password })) => {
            Ok(RegistryAuth::Basic(username.clone(), secret(password)?))
        }
        Some(Credentials::Given(Auth::Bearer { token })) => Ok(RegistryAuth::Bearer(secret(token)?)),
        Some(Credentials::AuthFile(path)) => from_auth_file(path, registry),
    }
}

/// The entry for `registry` in an auths file: `auth` (base64 of
/// `user:password`) or `registrytoken` (a bearer token).
fn from_auth_file(path: &Path, registry: &str) -> Result<RegistryAuth, OciError> {
    let fail = |why: String| OciError::Credentials(format!("auth_file {}: {why}", path.display()));
    let bytes = crate::uprobe_target::read_small(path, MAX_AUTH_FILE_BYTES).map_err(fail)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
    let Some(entry) = json.get("auths").and_then(|a| a.get(registry)) else {
        return Err(fail(format!(
            "it holds no entry for {registry} under \"auths\" (log in with `podman login --authfile {} {registry}`)",
            path.display()
        )));
    };
    if let Some(token) = entry.get("registrytoken").and_then(|t| t.as_str()) {
        return Ok(RegistryAuth::Bearer(token.to_string()));
    }
    let auth = entry.get("auth").and_then(|a| a.as_str()).ok_or_else(|| {
        fail(format!(
            "the entry for {registry} has neither \"auth\" nor \"registrytoken\""
        ))
    })?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| fail(format!("the \"auth\" of {registry} is not base64 of USER:PASSWORD")))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| fail(format!("the \"auth\" of {registry} is not base64 of USER:PASSWORD")))?;
    Ok(RegistryAuth::Basic(user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_podman_and_docker_auths_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        let basic = base64::engine::general_purpose::STANDARD.encode("puller:s3cret:with:colons");
        std::fs::write(
            &file,
            serde_json::json!({"auths": {
                "localhost:5000": {"auth": basic},
                "ghcr.io": {"registrytoken": "tok"},
                "bad.example": {"auth": "%%%"}
            }})
            .to_string(),
        )
        .unwrap();
        let auth = |r| registry_auth(Some(&Credentials::AuthFile(file.clone())), r);
        assert!(matches!(auth("localhost:5000").unwrap(),
            RegistryAuth::Basic(u, p) if u == "puller" && p == "s3cret:with:colons"));
        assert!(matches!(auth("ghcr.io").unwrap(), RegistryAuth::Bearer(t) if t == "tok"));
        let err = auth("other.example").unwrap_err().to_string();
        assert!(
            err.contains("no entry for other.example") && err.contains("podman login"),
            "{err}"
        );
        assert!(auth("bad.example").unwrap_err().to_string().contains("not base64"));
        assert!(matches!(registry_auth(None, "x").unwrap(), RegistryAuth::Anonymous));
    }
}
