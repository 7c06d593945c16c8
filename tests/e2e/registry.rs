//! Plugins from OCI registries, against a real registry (Debian's
//! docker-registry, distribution 2.8, started on loopback per test) and an
//! independent client (oras-py): push with wasmtrace and pull with oras, and
//! the reverse; a pulled plugin on real probes; a tag moved while events
//! flow; the cache used when the registry is down; a tampered layer and bad
//! signatures refused (signatures made by openssl in cosign's format); TLS
//! with basic auth.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::run_command as run;
use crate::harness::{Daemon, Tracer, another_build, child_opens, example_plugins, free_port, unique, wasmtrace};

/// A registry on loopback, with its storage in a folder of its own.
pub struct Registry {
    pub host: String,
    pub dir: tempfile::TempDir,
    daemon: Option<Daemon>,
    config: PathBuf,
    /// The CA to trust and the user's credentials, when it has TLS and auth.
    pub secured: Option<Secured>,
}

pub struct Secured {
    pub ca: PathBuf,
    pub user: &'static str,
    pub password: &'static str,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(false, |_| String::new())
    }

    /// With TLS (a CA made here) and htpasswd (bcrypt) auth.
    pub fn start_secured() -> Registry {
        Registry::start_with(true, |_| String::new())
    }

    /// With token auth: it accepts the bearer tokens that the RSA key
    /// `token.key` in its folder signs (its certificate is the registry's
    /// `rootcertbundle`), for the service `wasmtrace-test`.
    pub fn start_token() -> Registry {
        Registry::start_with(false, |dir| {
            let (key, cert) = (dir.join("token.key"), dir.join("token.pem"));
            run(Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
                .args(["-subj", "/CN=wasmtrace-test-tokens", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert));
            format!(
                "auth:\n  token: {{realm: \"http://127.0.0.1:1/token\", service: wasmtrace-test, \
                 issuer: wasmtrace-test-issuer, rootcertbundle: {}}}\n",
                cert.display()
            )
        })
    }

    /// A bearer token for `start_token`'s registry, granting `actions` on
    /// `repository` until `expires` (seconds from now; negative: expired),
    /// as a token server would issue it: a JWT, RS256 (made with openssl).
    pub fn token(&self, repository: &str, actions: &[&str], expires: i64) -> String {
        let actions = serde_json::to_string(actions).unwrap();
        self.oras(&format!(
            r#"
            import time
            b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
            der = subprocess.run(["openssl", "x509", "-in", "token.pem", "-outform", "DER"],
                                 check=True, capture_output=True).stdout
            header = {{"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}}
            now = int(time.time())
            claims = {{"iss": "wasmtrace-test-issuer", "sub": "puller", "aud": "wasmtrace-test",
                      "exp": now + ({expires}), "nbf": now - 60, "iat": now, "jti": str(now),
                      "access": [{{"type": "repository", "name": "{repository}", "actions": {actions}}}]}}
            signed = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
            open("jwt.txt", "w").write(signed)
            signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", "token.key", "jwt.txt"],
                                       check=True, capture_output=True).stdout
            print(signed + "." + b64(signature))
            "#
        ))
    }

    fn start_with(secured: bool, auth: impl FnOnce(&Path) -> String) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\n\
             http:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        let secured = secured.then(|| {
            let (ca, cert, key) = ca_and_server_certificate(dir.path());
            let (user, password) = ("puller", "wt-s3cret");
            let hash = run(Command::new("python3").args([
                "-W",
                "ignore",
                "-c",
                &format!("import crypt; print(crypt.crypt('{password}', crypt.mksalt(crypt.METHOD_BLOWFISH)))"),
            ]));
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config += &format!(
                "  tls: {{certificate: {}, key: {}}}\nauth:\n  htpasswd: {{realm: wasmtrace-test, path: {}}}\n",
                cert.display(),
                key.display(),
                htpasswd.display()
            );
            Secured { ca, user, password }
        });
        config += &auth(dir.path());
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut registry = Registry {
            host,
            dir,
            daemon: None,
            config: config_path,
            secured,
        };
        registry.resume();
        registry
    }

    /// Starts (again) on the same port and storage.
    pub fn resume(&mut self) {
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running docker-registry (scripts/install-deps installs it)");
        self.daemon = Some(Daemon(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&self.host).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}",
                self.host
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it, as a registry that goes down.
    pub fn stop(&mut self) {
        self.daemon = None;
    }

    pub fn reference(&self, repository: &str) -> String {
        format!("{}/{repository}", self.host)
    }

    /// The `[registry."HOST"]` table that reaches it.
    pub fn table(&self) -> String {
        match &self.secured {
            None => format!("[registry.\"{}\"]\nplain_http = true\n", self.host),
            Some(s) => {
                let password = self.dir.path().join("password");
                std::fs::write(&password, format!("{}\n", s.password)).unwrap();
                format!(
                    "[registry.\"{}\"]\nca_file = \"{}\"\nusername = \"{}\"\npassword_file = \"{}\"\n",
                    self.host,
                    s.ca.display(),
                    s.user,
                    password.display()
                )
            }
        }
    }

    /// A config file holding only [`Registry::table`], for `wasmtrace plugin`.
    pub fn config_file(&self) -> PathBuf {
        let path = self.dir.path().join("wasmtrace.toml");
        std::fs::write(&path, self.table()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path
    }

    /// Where the registry keeps a blob (to damage it as a compromised registry would).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Runs a Python script with an oras-py client `c` for this registry in scope.
    pub fn oras(&self, script: &str) -> String {
        let client = match &self.secured {
            None => format!("c = oras.client.OrasClient(hostname='{}', insecure=True)\n", self.host),
            Some(s) => format!(
                "c = oras.client.OrasClient(hostname='{}', tls_verify='{}', auth_backend='basic')\n\
                 c.auth.set_basic_auth('{}', '{}')\n",
                self.host,
                s.ca.display(),
                s.user,
                s.password
            ),
        };
        let program = format!(
            "import base64, hashlib, json, os, subprocess, sys\nimport oras.client\n{client}{}",
            dedent(script)
        );
        run(Command::new("python3")
            .arg("-c")
            .arg(program)
            .current_dir(self.dir.path()))
    }
}

fn dedent(script: &str) -> String {
    let indent = script
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    script
        .lines()
        .map(|l| l.get(indent..).unwrap_or("").to_string() + "\n")
        .collect()
}

/// A CA, and a server certificate for 127.0.0.1 that it signed, with openssl.
fn ca_and_server_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, csr) = (dir.join("server.pem"), dir.join("server.key"), dir.join("server.csr"));
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .args(["-days", "1", "-subj", "/CN=wasmtrace-test-ca", "-keyout"])
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca));
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .args(["-CAcreateserial", "-extfile"])
        .arg(&ext)
        .arg("-out")
        .arg(&cert));
    (ca, cert, key)
}

/// `wasmtrace plugin ARGS...`: its exit status, stdout and stderr.
pub fn plugin_command(args: &[&str]) -> (bool, String, String) {
    let out = wasmtrace().arg("plugin").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Pushes `file` to `reference` with wasmtrace; returns the manifest digest.
pub fn push(registry: &Registry, file: &Path, reference: &str) -> String {
    let config = registry.config_file();
    let (ok, out, err) = plugin_command(&[
        "push",
        file.to_str().unwrap(),
        reference,
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok, "push failed:\n{out}\n{err}");
    out.trim().rsplit('@').next().unwrap().to_string()
}

/// `wasmtrace plugin pull` of `reference` gives the example plugin `name`'s very bytes; its stdout.
fn pulls_as(registry: &Registry, config: &Path, reference: &str, name: &str) -> String {
    let out_file = registry.dir.path().join("pulled.wasm");
    let (ok, out, err) = plugin_command(&[
        "pull",
        reference,
        "-o",
        out_file.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(std::fs::read(&out_file).unwrap(), std::fs::read(example(name)).unwrap());
    out
}

/// Pushes a build of opensnoop of its own (`tag` appended as a custom
/// section: other bytes, same behaviour) to `reference`; returns its digest.
fn push_build(registry: &Registry, work: &Path, tag: &str, reference: &str) -> String {
    let build = another_build(&std::fs::read(example("opensnoop")).unwrap(), tag);
    push(registry, &file_with(work, "opensnoop.wasm", &build), reference)
}

fn example(name: &str) -> PathBuf {
    example_plugins().join(format!("{name}.wasm"))
}

/// A component file in a folder of the test's own.
fn file_with(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A config that runs opensnoop from `reference`, counting opens of `comm`.
fn pulling(registry: &Registry, cache: &Path, reference: &str, extra: &str, comm: &str) -> String {
    format!(
        "cache_dir = \"{}\"\n[limits]\nplugin_emits_per_interval = 1000000\n[probe.\"file.open\"]\ncomm = [\"{comm}\"]\n\
         [plugin.opensnoop]\nimage = \"{reference}\"\n{extra}\n{}",
        cache.display(),
        registry.table()
    )
}

/// A private cache folder, as wasmtrace requires of the folder it runs code from.
fn cache_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

#[test]
fn pushed_by_wasmtrace_pulled_by_oras_and_the_reverse() {
    let registry = Registry::start();
    let reference = registry.reference("wasmtrace/opensnoop:1.0");
    let digest = push(&registry, &example("opensnoop"), &reference);

    // oras sees the CNCF wasm layout, and pulls the very bytes.
    let pulled = registry.oras(&format!(
        r#"
        m = c.get_manifest('{reference}')
        print(json.dumps([m['mediaType'], m['config']['mediaType'], [l['mediaType'] for l in m['layers']]]))
        for path in c.pull(target='{reference}', outdir='oras-out'):
            print(path)
        "#
    ));
    let mut lines = pulled.lines();
    assert_eq!(
        lines.next().unwrap(),
        r#"["application/vnd.oci.image.manifest.v1+json", "application/vnd.wasm.config.v0+json", ["application/wasm"]]"#
    );
    let file = PathBuf::from(lines.next().unwrap());
    assert_eq!(
        file.file_name().unwrap(),
        "opensnoop.wasm",
        "named by its title annotation"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(example("opensnoop")).unwrap()
    );
    let config = registry.oras(&format!(
        r#"
        m = c.get_manifest('{reference}')
        r = c.get_blob('{reference}', m['config']['digest'])
        print(r.text)
        "#
    ));
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert!(
        config["component"]["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("wasmtrace:plugin/maps")),
        "{config}"
    );

    // The reverse: oras pushes a component (with wkg's config type), wasmtrace pulls it.
    let tally = registry.reference("wasmtrace/tally:2");
    std::fs::copy(example("tally"), registry.dir.path().join("tally.wasm")).unwrap();
    registry.oras(&format!(
        r#"
        c.push(target='{tally}', files=['tally.wasm:application/wasm'],
               manifest_config='none.json:application/vnd.wasm.config.v0+json', disable_path_validation=True)
        "#
    ));
    let config = registry.config_file();
    let out = pulls_as(&registry, &config, &tally, "tally");
    assert!(out.contains(&format!("pulled {tally}@sha256:")), "{out}");

    // inspect: what it reaches and what it subscribes to, from the registry, without running it for real.
    let (ok, out, err) = plugin_command(&["inspect", &reference, "--config", config.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("digest:     {digest}")), "{out}");
    assert!(out.contains("probes:     file.open (asked for by init"), "{out}");
    assert!(out.contains("wasmtrace:plugin/maps"), "{out}");
    assert!(out.contains("signature:  not checked"), "{out}");
    // A plugin whose runtime can read files says what lets it.
    let (ok, out, err) = plugin_command(&["inspect", example("opentop").to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("wasi:filesystem/types") && out.contains("files: none unless [plugin.NAME.grant] read_dirs"),
        "{out}"
    );
    assert!(!out.contains("will not link"), "{out}");

    // Not an artifact of ours: a layer of another type is refused with what it is.
    std::fs::write(registry.dir.path().join("notes.txt"), "hello").unwrap();
    let notes = registry.reference("wasmtrace/notes:1");
    registry.oras(&format!(
        "c.push(target='{notes}', files=['notes.txt:text/plain'], disable_path_validation=True)"
    ));
    let (ok, _, err) = plugin_command(&["pull", &notes, "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("is not a WebAssembly plugin: its layers are [text/plain]"),
        "{err}"
    );
}

#[test]
fn a_pulled_plugin_runs_and_a_moved_tag_is_swapped_in_without_loss() {
    require_kernel!();
    const N: usize = 3000;
    let registry = Registry::start();
    let reference = registry.reference("wasmtrace/opensnoop:stable");
    let work = tempfile::tempdir().unwrap();
    let v1 = std::fs::read(example("opensnoop")).unwrap();
    push(&registry, &file_with(work.path(), "opensnoop.wasm", &v1), &reference);
    let cache = cache_dir();
    let comm = unique("wt-oci-");
    let mut tracer = Tracer::start(&pulling(&registry, cache.path(), &reference, "refresh = \"1s\"", &comm));

    // A steady stream of opens while the tag moves.
    let stream = crate::harness::steady_opens(&comm, N);
    std::thread::sleep(Duration::from_millis(200));
    let v2 = another_build(&v1, "v2");
    let moved_to = push(&registry, &file_with(work.path(), "opensnoop.wasm", &v2), &reference);
    tracer.wait_for_stderr(&format!("moved to {moved_to}"));
    tracer.wait_for_stderr("plugin `opensnoop`: new version swapped in");
    let pid = stream.join().unwrap();
    crate::harness::assert_each_open_once(&tracer.stop(), &comm, N, pid);
    // The cache holds the version now running, and no longer the first.
    let components: Vec<_> = std::fs::read_dir(cache.path().join("oci/components"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wasm"))
        .collect();
    let v2_digest = format!("sha256-{}.wasm", &sha256_hex(&v2));
    assert_eq!(components, [v2_digest]);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_registry_that_is_down_leaves_the_cached_copy_running_and_says_so_once() {
    require_kernel!();
    let mut registry = Registry::start();
    let reference = registry.reference("wasmtrace/opensnoop:1");
    push(&registry, &example("opensnoop"), &reference);
    let cache = cache_dir();
    let comm = unique("wt-down-");
    let config = pulling(&registry, cache.path(), &reference, "refresh = \"1s\"", &comm);

    // Pulled once, while it is up.
    let tracer = Tracer::start(&config);
    child_opens(&comm, Path::new("/dev/null"), 2);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(2), "{}", out.stderr);

    // Down: the node starts from its cache, says so once, and follows the tag quietly.
    registry.stop();
    let tracer = Tracer::start(&config);
    std::thread::sleep(Duration::from_millis(3500));
    child_opens(&comm, Path::new("/dev/null"), 3);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(3), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("cannot reach the registry").count(),
        2,
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.matches("from the cache").count(), 1, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("the running version (sha256:").count(),
        1,
        "{}",
        out.stderr
    );

    // With no copy cached, the reason and the fix.
    let empty = cache_dir();
    let (ok, stderr) = run_briefly(&pulling(&registry, empty.path(), &reference, "", &comm));
    assert!(!ok);
    assert!(
        stderr.contains("cannot reach the registry") && stderr.contains("this node has no copy of it cached"),
        "{stderr}"
    );
}

/// `wasmtrace run` for a moment: its success and stderr.
fn run_briefly(config: &str) -> (bool, String) {
    // In a folder of its own: root runs only a config that root alone can change.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasmtrace.toml");
    std::fs::write(&file, config).unwrap();
    let out = wasmtrace()
        .args(["run", "--duration", "1s", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_tampered_layer_is_refused_by_run_and_pull() {
    require_kernel!();
    let registry = Registry::start();
    let reference = registry.reference("wasmtrace/opensnoop:1");
    push(&registry, &example("opensnoop"), &reference);
    let layer = format!("sha256:{}", sha256_hex(&std::fs::read(example("opensnoop")).unwrap()));
    // The registry's copy changed behind its digest (one byte, same length).
    let blob = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    let cache = cache_dir();
    let (ok, stderr) = run_briefly(&pulling(&registry, cache.path(), &reference, "", "wt-none"));
    assert!(!ok);
    assert!(stderr.contains("plugin `opensnoop`"), "{stderr}");
    assert!(
        stderr.contains("nothing of it is run") || stderr.contains("does not match"),
        "{stderr}"
    );
    let config = registry.config_file();
    let out = registry.dir.path().join("tampered.wasm");
    let (ok, _, err) = plugin_command(&[
        "pull",
        &reference,
        "--config",
        config.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("does not match"), "{err}");
    assert!(!out.exists());
    // Nothing of it reached the cache.
    assert_eq!(
        std::fs::read_dir(cache.path().join("oci/components")).unwrap().count(),
        0
    );
}

/// Signs the manifest `digest` of `repository` as cosign does, with openssl's
/// `key`, and pushes the signature with oras; `payload_digest` is the digest
/// the payload names (another's, for a signature copied from elsewhere).
fn cosign_sign(registry: &Registry, repository: &str, digest: &str, payload_digest: &str, key: &Path) {
    registry.oras(&format!(
        r#"
        payload = json.dumps({{"critical": {{"identity": {{"docker-reference": "{host}/{repository}"}},
            "image": {{"docker-manifest-digest": "{payload_digest}"}}, "type": "cosign container image signature"}},
            "optional": None}}, separators=(",", ":")).encode()
        open("payload.json", "wb").write(payload)
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", "{key}", "payload.json"],
                                   check=True, capture_output=True).stdout
        target = "{host}/{repository}:" + "{digest}".replace(":", "-") + ".sig"
        layer = {{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": len(payload),
                 "digest": "sha256:" + hashlib.sha256(payload).hexdigest(),
                 "annotations": {{"dev.cosignproject.cosign/signature": base64.b64encode(signature).decode()}}}}
        open("config.json", "wb").write(b"{{}}")
        config = {{"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                  "digest": "sha256:" + hashlib.sha256(b"{{}}").hexdigest()}}
        container = c.get_container(target)
        c.upload_blob("payload.json", container, layer).raise_for_status()
        c.upload_blob("config.json", container, config).raise_for_status()
        c.upload_manifest({{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config, "layers": [layer]}}, container).raise_for_status()
        "#,
        host = registry.host,
        key = key.display()
    ));
}

/// An ECDSA P-256 key pair made with openssl, as `cosign generate-key-pair` makes (unencrypted).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, public) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
    run(Command::new("openssl")
        .args(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out"])
        .arg(&key));
    run(Command::new("openssl")
        .args(["ec", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public));
    (key, public)
}

#[test]
fn a_plugin_pinned_to_a_key_runs_only_with_a_signature_that_verifies() {
    require_kernel!();
    let registry = Registry::start();
    let keys = tempfile::tempdir().unwrap();
    let (team_key, team_pub) = key_pair(keys.path(), "team");
    let (other_key, _) = key_pair(keys.path(), "other");
    let key_line = format!("key = \"{}\"", team_pub.display());
    let comm = unique("wt-sig-");

    // Unsigned.
    let unsigned = registry.reference("wasmtrace/opensnoop:unsigned");
    push(&registry, &example("opensnoop"), &unsigned);
    let (ok, stderr) = run_briefly(&pulling(&registry, cache_dir().path(), &unsigned, &key_line, &comm));
    assert!(!ok);
    assert!(stderr.contains("it is not signed: no cosign signature at"), "{stderr}");

    // Signed by another key.
    let work = tempfile::tempdir().unwrap();
    let by_other = registry.reference("wasmtrace/opensnoop:other");
    let digest = push_build(&registry, work.path(), "o", &by_other);
    cosign_sign(&registry, "wasmtrace/opensnoop", &digest, &digest, &other_key);
    let (ok, stderr) = run_briefly(&pulling(&registry, cache_dir().path(), &by_other, &key_line, &comm));
    assert!(!ok);
    assert!(stderr.contains("made with another key"), "{stderr}");

    // A good signature of one artifact, copied to another's tag.
    let signed = registry.reference("wasmtrace/opensnoop:signed");
    let signed_digest = push_build(&registry, work.path(), "s", &signed);
    cosign_sign(
        &registry,
        "wasmtrace/opensnoop",
        &signed_digest,
        &signed_digest,
        &team_key,
    );
    let copied = registry.reference("wasmtrace/opensnoop:copied");
    let copied_digest = push_build(&registry, work.path(), "c", &copied);
    cosign_sign(
        &registry,
        "wasmtrace/opensnoop",
        &copied_digest,
        &signed_digest,
        &team_key,
    );
    let (ok, stderr) = run_briefly(&pulling(&registry, cache_dir().path(), &copied, &key_line, &comm));
    assert!(!ok);
    assert!(stderr.contains("the signature is for"), "{stderr}");

    // Signed with the team's key: it runs, on real events.
    let tracer = Tracer::start(&pulling(&registry, cache_dir().path(), &signed, &key_line, &comm));
    child_opens(&comm, Path::new("/dev/null"), 4);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(4), "{}", out.stderr);
    let config = registry.config_file();
    let (ok, out, err) = plugin_command(&[
        "inspect",
        &signed,
        "--key",
        team_pub.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("signature:  verified with {}", team_pub.display())),
        "{out}"
    );
}

#[test]
fn over_tls_with_basic_auth() {
    require_kernel!();
    let registry = Registry::start_secured();
    let reference = registry.reference("wasmtrace/opensnoop:1");
    let secured = registry.secured.as_ref().unwrap();

    // Without credentials: refused, with where to give them.
    let anonymous = registry.dir.path().join("anonymous.toml");
    std::fs::write(
        &anonymous,
        format!(
            "[registry.\"{}\"]\nca_file = \"{}\"\n",
            registry.host,
            secured.ca.display()
        ),
    )
    .unwrap();
    let (ok, _, err) = plugin_command(&[
        "push",
        example("opensnoop").to_str().unwrap(),
        &reference,
        "--config",
        anonymous.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("refused") && err.contains("password_file"), "{err}");
    // Without the CA: the certificate is not trusted.
    let (ok, _, err) = plugin_command(&["push", example("opensnoop").to_str().unwrap(), &reference]);
    assert!(!ok);
    assert!(err.contains(&registry.host), "{err}");

    let digest = push(&registry, &example("opensnoop"), &reference);
    // oras, over the same TLS and auth, pulls what wasmtrace pushed.
    let pulled = registry.oras(&format!("print(c.pull(target='{reference}', outdir='oras-out')[0])"));
    assert_eq!(
        std::fs::read(pulled).unwrap(),
        std::fs::read(example("opensnoop")).unwrap()
    );
    // Credentials from a podman/docker auths file work the same.
    let auths = registry.dir.path().join("auth.json");
    let basic = base64_of(&format!("{}:{}", secured.user, secured.password));
    std::fs::write(
        &auths,
        format!(r#"{{"auths": {{"{}": {{"auth": "{basic}"}}}}}}"#, registry.host),
    )
    .unwrap();
    let (ok, out, err) = plugin_command(&[
        "inspect",
        &reference,
        "--ca-file",
        secured.ca.to_str().unwrap(),
        "--auth-file",
        auths.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains(&digest), "{out}");

    // A session pulls it and runs it.
    let comm = unique("wt-tls-");
    let cache = cache_dir();
    let tracer = Tracer::start(&pulling(&registry, cache.path(), &reference, "", &comm));
    child_opens(&comm, Path::new("/dev/null"), 3);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(3), "{}", out.stderr);
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn bearer_tokens_from_the_environment_or_a_file() {
    let registry = Registry::start_token();
    let reference = registry.reference("wasmtrace/opensnoop:1");
    let push_with = |table: &str, env: &[(&str, &str)]| {
        let config = registry.dir.path().join("bearer.toml");
        std::fs::write(
            &config,
            format!("[registry.\"{}\"]\nplain_http = true\n{table}", registry.host),
        )
        .unwrap();
        let out = wasmtrace()
            .args(["plugin", "push"])
            .arg(example("opensnoop"))
            .arg(&reference)
            .arg("--config")
            .arg(&config)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let token = registry.token("wasmtrace/opensnoop", &["pull", "push"], 300);
    let (ok, err) = push_with(
        "bearer_token_env = \"WT_REGISTRY_TOKEN\"\n",
        &[("WT_REGISTRY_TOKEN", &token)],
    );
    assert!(ok, "{err}");

    // Pulled with a pull-only token from a file; the token is not in any message.
    let pull_only = registry.token("wasmtrace/opensnoop", &["pull"], 300);
    let token_file = registry.dir.path().join("token");
    std::fs::write(&token_file, format!("{pull_only}\n")).unwrap();
    let config = registry.dir.path().join("pull.toml");
    std::fs::write(
        &config,
        format!(
            "[registry.\"{}\"]\nplain_http = true\nbearer_token_file = \"{}\"\n",
            registry.host,
            token_file.display()
        ),
    )
    .unwrap();
    pulls_as(&registry, &config, &reference, "opensnoop");

    // Refused: a pull-only token pushing, an expired token; each said as a refusal.
    for (what, table, env) in [
        (
            "pull-only",
            "bearer_token_file = \"TOKEN\"\n".replace("TOKEN", token_file.to_str().unwrap()),
            vec![],
        ),
        (
            "expired",
            "bearer_token_env = \"WT_REGISTRY_TOKEN\"\n".to_string(),
            vec![(
                "WT_REGISTRY_TOKEN",
                registry.token("wasmtrace/opensnoop", &["pull", "push"], -3600),
            )],
        ),
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (ok, err) = push_with(&table, &env);
        assert!(!ok, "{what}: pushed");
        assert!(err.contains("refused"), "{what}: {err}");
        assert!(
            !err.contains(&pull_only) && !err.contains(&token),
            "{what}: a token in a message: {err}"
        );
    }
    // No token: the registry's token server (named in its challenge) is asked, and is not there.
    let (ok, err) = push_with("", &[]);
    assert!(!ok);
    assert!(
        err.contains("cannot reach") && err.contains("127.0.0.1:1/token"),
        "{err}"
    );
    // A variable named but not set.
    let (ok, err) = push_with("bearer_token_env = \"WT_UNSET_TOKEN\"\n", &[]);
    assert!(!ok);
    assert!(err.contains("WT_UNSET_TOKEN") && err.contains("not set"), "{err}");
}

/// A registry written to hurt (a Python server): a manifest without end, a
/// layer that names URLs elsewhere, an error answer of 64 MiB.
const HOSTILE_REGISTRY: &str = r#"
import http.server, json, sys, hashlib
hits = open(sys.argv[2], "a")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, code, body, kind="application/json"):
        self.send_response(code); self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        p = self.path
        if p == "/v2/": return self.send(200, b"{}")
        if p.startswith("/elsewhere"):
            hits.write(p + "\n"); hits.flush(); return self.send(200, b"x")
        if p.endswith("/manifests/endless"):
            self.send_response(200); self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            chunk = b" " * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            except Exception:
                return
        if p.endswith("/manifests/urls"):
            digest = "sha256:" + hashlib.sha256(b"component").hexdigest()
            m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": digest, "size": 9},
                 "layers": [{"mediaType": "application/wasm", "digest": digest, "size": 9,
                             "urls": ["http://%s/elsewhere/metadata" % self.headers["Host"]]}]}
            return self.send(200, json.dumps(m).encode(), "application/vnd.oci.image.manifest.v1+json")
        if p.endswith("/manifests/huge-error"):
            return self.send(500, b"\x1b[31m" + b"E" * (64 << 20))
        if "/blobs/" in p: return self.send(404, b"{}")
        self.send(404, b"{}")
class S(http.server.ThreadingHTTPServer):
    def handle_error(self, *a): pass  # a client that hung up on an endless answer
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// Runs `wasmtrace ARGS`, returning its exit status, stderr and peak RSS
/// in MiB (its VmHWM, sampled every 5 ms while it runs: getrusage's figure
/// would include the test process it was forked from).
fn run_measured(args: &[&str]) -> (bool, String, u64) {
    let mut child = wasmtrace()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
        stderr
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let hwm = std::fs::read_to_string(&status_file).unwrap_or_default();
        if let Some(kib) = hwm
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (status.success(), reader.join().unwrap(), peak_kib / 1024)
}

#[test]
fn a_hostile_registry_is_refused_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hits = dir.path().join("hits");
    let _server = Daemon(
        Command::new("python3")
            .args(["-c", HOSTILE_REGISTRY, &port.to_string()])
            .arg(&hits)
            .spawn()
            .unwrap(),
    );
    let host = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "the hostile registry did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = dir.path().join("out.wasm");
    let pull = |tag: &str| {
        run_measured(&[
            "plugin",
            "pull",
            &format!("{host}/evil:{tag}"),
            "--plain-http",
            "-o",
            out.to_str().unwrap(),
        ])
    };

    let (ok, err, rss) = pull("endless");
    assert!(!ok);
    assert!(err.contains("more than the 4194304 bytes a manifest may have"), "{err}");
    assert!(rss < 200, "peak RSS {rss} MiB for an endless manifest");
    eprintln!("endless manifest: refused at 4 MiB, peak RSS {rss} MiB");

    let (ok, err, _) = pull("urls");
    assert!(!ok);
    assert!(err.contains("names URLs to fetch it from elsewhere"), "{err}");
    assert!(
        !hits.exists() || std::fs::read_to_string(&hits).unwrap().is_empty(),
        "a node fetched a URL the registry named"
    );

    let (ok, err, rss) = pull("huge-error");
    assert!(!ok);
    assert!(
        err.len() < 2048 && err.contains("HTTP 500"),
        "{} bytes: {}",
        err.len(),
        &err[..err.len().min(300)]
    );
    assert!(
        !err.contains('\x1b'),
        "a registry's escape sequence reached the terminal"
    );
    assert!(rss < 200, "peak RSS {rss} MiB for a 64 MiB error answer");
    eprintln!(
        "64 MiB error answer: {} bytes of message, peak RSS {rss} MiB",
        err.len()
    );
}
