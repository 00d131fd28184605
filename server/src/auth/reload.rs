//! A file the server follows while it runs (token file, group map, revocations): re-read when its size or
//! modification time changes, checked with one `stat` per use. A file that stops parsing keeps the last good
//! content (and says so in the log) rather than locking everybody out or letting everybody in.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

type Parser<T> = fn(&str) -> Result<T, String>;

/// The parsed content of a followed file.
#[derive(Debug)]
pub struct Reloading<T> {
    inner: Arc<Mutex<State<T>>>,
}

impl<T> Clone for Reloading<T> {
    fn clone(&self) -> Self {
        Reloading { inner: self.inner.clone() }
    }
}

#[derive(Debug)]
struct State<T> {
    path: PathBuf,
    parse: Parser<T>,
    stamp: Option<(SystemTime, u64)>,
    value: Arc<T>,
}

impl<T: Default> Reloading<T> {
    /// Follows `path`; a missing file reads as `T::default()`.
    pub fn new(path: PathBuf, parse: Parser<T>) -> Reloading<T> {
        let state = State { path, parse, stamp: None, value: Arc::new(T::default()) };
        let reloading = Reloading { inner: Arc::new(Mutex::new(state)) };
        reloading.get();
        reloading
    }

    /// Reads it now, failing on a file that cannot be read or parsed (the check at startup).
    ///
    /// # Errors
    /// A message naming the file and the problem.
    pub fn load(path: PathBuf, parse: Parser<T>) -> Result<Reloading<T>, String> {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Reloading::new(path, parse))
    }

    /// The current content.
    pub fn get(&self) -> Arc<T> {
        let mut state = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stamp = std::fs::metadata(&state.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if stamp != state.stamp {
            match stamp {
                None => state.value = Arc::new(T::default()),
                Some(_) => match std::fs::read_to_string(&state.path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| (state.parse)(&t))
                {
                    Ok(value) => state.value = Arc::new(value),
                    Err(error) => {
                        tracing::error!("keeping the previous content of {}: {error}", state.path.display());
                    }
                },
            }
            state.stamp = stamp;
        }
        state.value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Result<Vec<String>, String> {
        if text.contains("bad") {
            return Err("bad line".into());
        }
        Ok(text.lines().map(str::to_owned).collect())
    }

    #[test]
    fn a_change_is_seen_and_a_broken_file_keeps_the_last_good_content() {
        let path = std::env::temp_dir().join(format!("gestalt-reload-{}", std::process::id()));
        std::fs::write(&path, "one\n").unwrap();
        let file = Reloading::new(path.clone(), lines);
        assert_eq!(*file.get(), vec!["one"]);
        std::fs::write(&path, "one\ntwo\n").unwrap();
        assert_eq!(*file.get(), vec!["one", "two"]);
        std::fs::write(&path, "one\nbad\nthree\n").unwrap();
        assert_eq!(*file.get(), vec!["one", "two"]);
        std::fs::remove_file(&path).unwrap();
        assert!(file.get().is_empty());
    }
}
