//! Where the built site (wasm, JS glue, CSS, favicon) is, and the Leptos options that point at it.
//!
//! cargo-leptos normally passes these through environment variables when it runs the server; the
//! binary must also run on its own (`target/release/gestalt-live demo` from the repository root, or from
//! an image), so it finds the site by itself.

use std::path::{Path, PathBuf};

use leptos::config::LeptosOptions;

use crate::cli::WebArgs;

/// The name cargo-leptos gives the wasm, JS and CSS files (`output-name` in Cargo.toml).
pub const OUTPUT_NAME: &str = "gestalt-live";

/// Errors finding the site.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The directory given with `--site-root` has no `pkg/` with our wasm in it.
    #[error("site root {0} has no pkg/{OUTPUT_NAME}.js: build it with `make build`")]
    NotBuilt(PathBuf),
    /// No candidate directory holds the built site.
    #[error("cannot find the built site (looked in {0}): run `make build`, or pass --site-root")]
    NotFound(String),
}

fn is_site(dir: &Path) -> bool {
    dir.join("pkg").join(format!("{OUTPUT_NAME}.js")).is_file()
}

/// Picks the site root: `--site-root` if given, else the first candidate that holds a built site.
///
/// # Errors
/// [`SiteError`] when the given or default locations hold no built site.
pub fn find_site_root(explicit: Option<&Path>) -> Result<PathBuf, SiteError> {
    if let Some(dir) = explicit {
        return if is_site(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(SiteError::NotBuilt(dir.to_path_buf()))
        };
    }
    let mut candidates = vec![PathBuf::from("target/site")];
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile_dir) = exe.parent() {
            candidates.push(profile_dir.join("../site"));
        }
    }
    candidates
        .into_iter()
        .find(|dir| is_site(dir))
        .ok_or_else(|| SiteError::NotFound(String::from("target/site and ../site next to the executable")))
}

/// Leptos options for serving the site found for `args`.
///
/// # Errors
/// See [`find_site_root`].
pub fn leptos_options(args: &WebArgs) -> Result<LeptosOptions, SiteError> {
    let root = find_site_root(args.site_root.as_deref())?;
    Ok(LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(args.listen)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_site_root_without_a_build_is_a_clear_error() {
        let dir = std::env::temp_dir().join("gestalt-live-no-site");
        let error = find_site_root(Some(&dir)).unwrap_err();
        assert!(error.to_string().contains("make build"), "{error}");
    }

    #[test]
    fn an_explicit_site_root_with_a_build_is_used() {
        let dir = std::env::temp_dir().join(format!("gestalt-live-site-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("pkg").join("gestalt-live.js"), "").unwrap();
        assert_eq!(find_site_root(Some(&dir)).unwrap(), dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
