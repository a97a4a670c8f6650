//! Class names of a detector, one a line (`coco.names`).

use std::path::Path;

use crate::error::{Context, Error, Result};

#[derive(Clone, Debug)]
pub struct Labels {
    names: Vec<String>,
}

impl Labels {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).input_err(|| format!("labels '{}'", path.display()))?;
        Self::parse(&text).map_err(|e| Error::input(format!("labels '{}': {e}", path.display())))
    }

    /// One name a line; blank lines are skipped.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if names.is_empty() {
            return Err("no class names in the file".into());
        }
        Ok(Self { names })
    }

    /// Names a model carries in its metadata, in class-id order.
    pub fn from_names(names: Vec<String>) -> Self {
        Self { names }
    }

    /// Numbered names (`class0`, …) for models without a labels file.
    pub fn numbered(count: usize) -> Self {
        Self {
            names: (0..count).map(|i| format!("class{i}")).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, class_id: usize) -> &str {
        self.names.get(class_id).map_or("?", String::as_str)
    }

    /// Class ids for a comma-separated list of names; an unknown name is an error that lists
    /// a few valid ones.
    pub fn ids_of(&self, list: &str) -> Result<Vec<usize>> {
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|name| self.id_of(name).map_err(Error::input))
            .collect()
    }

    /// The id of one class name (case-insensitive); the error names it and some known ones.
    pub fn id_of(&self, name: &str) -> std::result::Result<usize, String> {
        self.names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                let some: Vec<&str> = self.names.iter().take(8).map(String::as_str).collect();
                format!("unknown class '{name}' (known: {}, …)", some.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_case_insensitively_and_rejects_unknown_ones() {
        let labels = Labels {
            names: vec!["person".into(), "bicycle".into(), "car".into()],
        };
        assert_eq!(labels.ids_of("person, Car").unwrap(), vec![0, 2]);
        let err = labels.ids_of("person,unicorn").unwrap_err().to_string();
        assert!(err.contains("'unicorn'"), "{err}");
        assert_eq!(labels.name(2), "car");
        assert_eq!(labels.name(9), "?");
    }
}
