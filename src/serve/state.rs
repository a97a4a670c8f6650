//! The changes made through the REST API, kept beside the config file so they survive a
//! restart; the config file itself is never rewritten.
//!
//! Which wins: at start, the API's entry for a camera (a section, or its deletion) wins over
//! the file's `[cameras.NAME]`: it is the newer word. At a reload (SIGHUP), a camera whose section
//! the file changed takes the file's version again, and its API entry is dropped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// The file `vigil.toml`'s API changes live in: `vigil.state.json` beside it.
pub fn path_beside(config: &Path) -> PathBuf {
    config.with_extension("state.json")
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    /// A camera's section as the API last put it; `null`: deleted through the API.
    cameras: BTreeMap<String, Option<serde_json::Value>>,
}

/// The API's changes, as on disk.
pub struct ApiState {
    path: PathBuf,
    contents: Contents,
}

impl ApiState {
    /// Reads the state file; a missing one is an empty state, an unreadable one an error that
    /// names it (the daemon refuses to start rather than forget what the API was told).
    pub fn load(path: &Path) -> Result<Self> {
        let contents = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Error::input(format!(
                    "API state '{}': {e} (fix or remove the file)",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Contents::default(),
            Err(e) => {
                return Err(Error::input(format!(
                    "API state '{}': cannot read: {e}",
                    path.display()
                )))
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            contents,
        })
    }

    /// Every camera the API has a word on: `Some(section)` put, `None` deleted.
    pub fn cameras(&self) -> &BTreeMap<String, Option<serde_json::Value>> {
        &self.contents.cameras
    }

    pub fn put(&mut self, name: &str, section: serde_json::Value) -> Result<()> {
        self.contents.cameras.insert(name.into(), Some(section));
        self.save()
    }

    pub fn delete(&mut self, name: &str) -> Result<()> {
        self.contents.cameras.insert(name.into(), None);
        self.save()
    }

    /// Drops the API's word on these cameras (the file changed them since).
    pub fn forget(&mut self, names: &[String]) -> Result<()> {
        let before = self.contents.cameras.len();
        self.contents
            .cameras
            .retain(|name, _| !names.contains(name));
        if self.contents.cameras.len() == before {
            return Ok(());
        }
        self.save()
    }

    /// Written to a temporary file in the same folder, synced, then renamed over the old one:
    /// a crash leaves the old state or the new, never half of one.
    fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&self.contents)
            .map_err(|e| Error::internal(format!("API state: {e}")))?;
        let what = || format!("API state '{}'", tmp.display());
        let mut file = std::fs::File::create(&tmp).input_err(what)?;
        file.write_all(&text).input_err(what)?;
        file.sync_all().input_err(what)?;
        std::fs::rename(&tmp, &self.path)
            .input_err(|| format!("API state '{}'", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_a_reload_from_disk_and_a_bad_file_is_named() {
        let dir = std::env::temp_dir().join(format!("vigil-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = path_beside(&dir.join("vigil.toml"));
        assert_eq!(path, dir.join("vigil.state.json"));
        let _ = std::fs::remove_file(&path);
        let mut state = ApiState::load(&path).unwrap();
        state
            .put("door", serde_json::json!({"url": "rtsp://x/1"}))
            .unwrap();
        state.delete("yard").unwrap();
        let again = ApiState::load(&path).unwrap();
        assert_eq!(again.cameras().len(), 2);
        assert!(again.cameras()["yard"].is_none());
        let mut again = again;
        again.forget(&["door".to_string()]).unwrap();
        assert_eq!(ApiState::load(&path).unwrap().cameras().len(), 1);
        std::fs::write(&path, "{not json").unwrap();
        let e = ApiState::load(&path).err().unwrap().to_string();
        assert!(e.contains("vigil.state.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
