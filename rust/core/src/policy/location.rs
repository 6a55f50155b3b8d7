//! Storage locations: where a statement may read or write files.
//!
//! A location string is read the way DataFusion's `ListingTableUrl::parse`
//! reads it (an absolute path, a relative path, or a URL), then normalized
//! before it is compared with the allowed roots:
//! - percent-encoding is decoded, and for bare paths both the literal and the
//!   decoded spelling must be allowed (DataFusion keeps a bare `%` literal, a
//!   `file:` URL decodes it; checking both is never more permissive);
//! - `file:` URLs in every spelling (`file:/p`, `file:///p`, `file://localhost/p`)
//!   become paths, relative paths are joined to the working directory;
//! - `.` and `..` are resolved lexically, as DataFusion's URL parsing does;
//! - the longest existing prefix is canonicalized, so a symlink leading out of
//!   an allowed root is seen where it points.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use percent_encoding::percent_decode_str;
use url::Url;

/// Where a location string points, after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A local file or directory (the path is absolute, normalized and has its
    /// existing prefix canonicalized).
    File(PathBuf),
    /// An object store URL: lowercase scheme and host, decoded path segments
    /// with `.` and `..` resolved.
    Url {
        scheme: String,
        host: String,
        segments: Vec<String>,
    },
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolved::File(path) => write!(f, "{}", path.display()),
            Resolved::Url {
                scheme,
                host,
                segments,
            } => write!(f, "{scheme}://{host}/{}", segments.join("/")),
        }
    }
}

/// Why a location string cannot be judged (and so is denied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableLocation(pub String);

/// Every reading of `location` DataFusion could act on. All of them must be
/// allowed for the location to be allowed.
pub fn resolve(location: &str, cwd: &Path) -> Result<Vec<Resolved>, UnreadableLocation> {
    if location.contains('\0') {
        return Err(UnreadableLocation("contains a NUL byte".into()));
    }
    // DataFusion's order: an absolute path first, then a URL, then a relative path.
    if Path::new(location).is_absolute() {
        return Ok(bare_path_readings(location, cwd));
    }
    match Url::parse(location) {
        Ok(url) => resolve_url(&url, cwd).map(|resolved| vec![resolved]),
        Err(url::ParseError::RelativeUrlWithoutBase) => Ok(bare_path_readings(location, cwd)),
        Err(error) => Err(UnreadableLocation(format!("not a path or URL: {error}"))),
    }
}

fn bare_path_readings(location: &str, cwd: &Path) -> Vec<Resolved> {
    let mut readings = vec![Resolved::File(resolve_path(Path::new(location), cwd))];
    for decoded in decodings(location) {
        let reading = Resolved::File(resolve_path(Path::new(&decoded), cwd));
        if !readings.contains(&reading) {
            readings.push(reading);
        }
    }
    readings
}

/// Successive percent-decodings of `text` until nothing changes (bounded), so
/// double encoding cannot hide a `..`.
fn decodings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = text.to_owned();
    for _ in 0..4 {
        let decoded = percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current {
            break;
        }
        out.push(decoded.clone());
        current = decoded;
    }
    out
}

fn resolve_url(url: &Url, cwd: &Path) -> Result<Resolved, UnreadableLocation> {
    let scheme = url.scheme().to_ascii_lowercase();
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    // The URL parser has already resolved `.`/`..` segments, including their
    // percent-encoded spellings; what remains is decoded here, to a fixpoint.
    let path = decodings(url.path())
        .pop()
        .unwrap_or_else(|| url.path().to_owned());
    if scheme == "file" {
        if !(host.is_empty() || host == "localhost") {
            return Err(UnreadableLocation(format!(
                "file URL names a remote host {host:?}"
            )));
        }
        return Ok(Resolved::File(resolve_path(Path::new(&path), cwd)));
    }
    let segments = normalize_segments(path.split('/'));
    Ok(Resolved::Url {
        scheme,
        host,
        segments,
    })
}

fn normalize_segments<'a>(parts: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut segments: Vec<String> = Vec::new();
    for part in parts {
        match part {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other.to_owned()),
        }
    }
    segments
}

/// Absolute, lexically normalized, with its longest existing prefix
/// canonicalized (symlinks followed).
pub fn resolve_path(path: &Path, cwd: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    canonicalize_existing_prefix(&normalize_lexically(&absolute))
}

fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(prefix) => out.push(prefix.as_os_str()),
            Component::RootDir => out.push(Component::RootDir.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

fn canonicalize_existing_prefix(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            // A dangling symlink made `canonicalize` fail further down, so the
            // tail cannot contain one; append it as it is.
            return missing
                .iter()
                .rev()
                .fold(canonical, |acc, name| acc.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                // A symlink that exists but dangles: judge where it points.
                if let Ok(target) = std::fs::read_link(existing) {
                    let target = parent.join(target);
                    let rest: PathBuf = missing.iter().rev().collect();
                    return canonicalize_existing_prefix(&normalize_lexically(&target.join(rest)));
                }
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// The places locations may point to.
#[derive(Debug, Clone, Default)]
pub struct AllowedLocations {
    /// Local directories (as configured; resolved at each check, since they
    /// may be created or re-linked after the server starts).
    roots: Vec<String>,
    /// Whole URL schemes, lowercase (for example `s3`).
    schemes: Vec<String>,
}

impl AllowedLocations {
    pub fn new(roots: Vec<String>, schemes: Vec<String>) -> Self {
        let schemes = schemes.iter().map(|s| s.to_ascii_lowercase()).collect();
        Self { roots, schemes }
    }

    /// Whether one resolved reading is inside an allowed root or scheme.
    pub fn allows(&self, target: &Resolved, cwd: &Path) -> bool {
        let scheme = match target {
            Resolved::File(_) => "file",
            Resolved::Url { scheme, .. } => scheme.as_str(),
        };
        if self.schemes.iter().any(|allowed| allowed == scheme) {
            return true;
        }
        self.roots
            .iter()
            // A root is what its literal spelling names.
            .filter_map(|root| resolve(root, cwd).ok()?.into_iter().next())
            .any(|root| contains(&root, target))
    }
}

fn contains(root: &Resolved, target: &Resolved) -> bool {
    match (root, target) {
        (Resolved::File(root), Resolved::File(target)) => target.starts_with(root),
        (
            Resolved::Url {
                scheme: root_scheme,
                host: root_host,
                segments: root_segments,
            },
            Resolved::Url {
                scheme,
                host,
                segments,
            },
        ) => root_scheme == scheme && root_host == host && segments.starts_with(root_segments),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Resolved {
        Resolved::File(PathBuf::from(path))
    }

    /// A scratch directory with a symlink `root/out` pointing outside `root`.
    struct Scratch {
        base: PathBuf,
    }

    impl Scratch {
        fn new(name: &str) -> Self {
            let base = std::env::temp_dir().join(format!(
                "flightserver-location-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&base);
            std::fs::create_dir_all(base.join("root/sub")).unwrap();
            std::fs::create_dir_all(base.join("outside")).unwrap();
            std::os::unix::fs::symlink(base.join("outside"), base.join("root/out")).unwrap();
            std::os::unix::fs::symlink(base.join("nowhere"), base.join("root/dangling")).unwrap();
            let base = base.canonicalize().unwrap();
            Self { base }
        }

        fn path(&self, rel: &str) -> String {
            self.base.join(rel).display().to_string()
        }

        fn allowed(&self) -> AllowedLocations {
            AllowedLocations::new(vec![self.path("root")], vec![])
        }

        fn allows(&self, location: &str) -> bool {
            let allowed = self.allowed();
            resolve(location, &self.base)
                .is_ok_and(|readings| readings.iter().all(|r| allowed.allows(r, &self.base)))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    #[test]
    fn file_url_spellings_resolve_to_the_same_path() {
        let cwd = Path::new("/");
        for spelling in [
            "/etc/passwd",
            "file:/etc/passwd",
            "file:///etc/passwd",
            "file://localhost/etc/passwd",
            "FILE:///etc/passwd",
            "file:///etc/./passwd",
            "file:///tmp/../etc/passwd",
            "file:///tmp/%2e%2e/etc/passwd",
            "file:///tmp/%2E%2E/etc/passwd",
            "file:///etc/pass%77d",
        ] {
            let readings = resolve(spelling, cwd).unwrap();
            assert!(
                readings.contains(&file("/etc/passwd")),
                "{spelling}: {readings:?}"
            );
        }
    }

    #[test]
    fn file_url_with_a_remote_host_is_unreadable() {
        assert!(resolve("file://evil/etc/passwd", Path::new("/")).is_err());
    }

    #[test]
    fn bare_paths_are_checked_literally_and_decoded() {
        let readings = resolve("/tmp/%2e%2e/etc", Path::new("/")).unwrap();
        assert!(readings.contains(&file("/tmp/%2e%2e/etc")), "{readings:?}");
        assert!(readings.contains(&file("/etc")), "{readings:?}");
        // Double encoding decodes to the same place.
        let readings = resolve("/tmp/%252e%252e/etc", Path::new("/")).unwrap();
        assert!(readings.contains(&file("/etc")), "{readings:?}");
    }

    #[test]
    fn relative_paths_join_the_working_directory() {
        let readings = resolve("a/../../b", Path::new("/srv/x")).unwrap();
        assert_eq!(readings, vec![file("/srv/b")]);
    }

    #[test]
    fn urls_keep_scheme_and_host_and_resolve_dots() {
        let readings = resolve("S3://Bucket/a/%2e%2e/b/./c", Path::new("/")).unwrap();
        assert_eq!(
            readings,
            vec![Resolved::Url {
                scheme: "s3".into(),
                host: "bucket".into(),
                segments: vec!["b".into(), "c".into()],
            }]
        );
    }

    #[test]
    fn garbage_is_unreadable() {
        assert!(resolve("http://[::1", Path::new("/")).is_err());
        assert!(resolve("/a\0b", Path::new("/")).is_err());
    }

    #[test]
    fn inside_the_root_is_allowed_in_every_spelling() {
        let s = Scratch::new("inside");
        let root = s.path("root");
        for location in [
            root.clone(),
            format!("{root}/"),
            format!("{root}/sub/new/file.parquet"),
            format!("file://{root}/sub"),
            format!("file:{root}/sub"),
            format!("{root}/sub/../x.csv"),
            "root/sub".to_owned(),
            "./root/./sub/".to_owned(),
        ] {
            assert!(s.allows(&location), "{location}");
        }
    }

    #[test]
    fn escapes_are_denied() {
        let s = Scratch::new("escapes");
        let root = s.path("root");
        for location in [
            s.path("outside"),
            format!("{root}/../outside"),
            format!("{root}/sub/../../outside/x"),
            format!("file://{root}/%2e%2e/outside"),
            format!("{root}/%2e%2e/outside"),
            format!("{root}/%252e%252e/outside"),
            format!("{root}/out"),
            format!("{root}/out/x.parquet"),
            format!("file://{root}/out/new/x.parquet"),
            format!("{root}/dangling/x"),
            format!("{root}x"),
            "root/../outside".to_owned(),
            "/etc".to_owned(),
            "s3://bucket/x".to_owned(),
        ] {
            assert!(!s.allows(&location), "{location}");
        }
    }

    #[test]
    fn a_scheme_or_url_prefix_can_be_allowed() {
        let allowed = AllowedLocations::new(vec!["s3://bucket/data/".into()], vec!["GS".into()]);
        let cwd = Path::new("/");
        let check = |location: &str| {
            resolve(location, cwd)
                .unwrap()
                .iter()
                .all(|r| allowed.allows(r, cwd))
        };
        assert!(check("s3://bucket/data/t/1.parquet"));
        assert!(check("s3://BUCKET/data"));
        assert!(check("gs://any/thing"));
        assert!(!check("s3://bucket/data/../secret"));
        assert!(!check("s3://bucket/datas"));
        assert!(!check("s3://other/data"));
        assert!(!check("/tmp"));
    }
}
