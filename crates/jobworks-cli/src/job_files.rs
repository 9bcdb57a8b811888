//! Finding and reading job files: `-f FILE` or `-f DIR` (every `*.toml` in it, sorted).

use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// A job file read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFile {
    /// The path as found (relative paths stay relative), used as the source name.
    pub path: PathBuf,
    /// The TOML text.
    pub content: String,
}

impl JobFile {
    /// The source name used in diagnostics: the path as text.
    pub fn source_name(&self) -> String {
        self.path.display().to_string()
    }
}

/// The job files named by `paths`: files as given, directories expanded to their `*.toml`
/// files (not recursive) in sorted order; a file named twice is read once.
///
/// Errors: a path does not exist or cannot be read; a directory holds no `*.toml` file.
pub fn read_job_files(paths: &[PathBuf]) -> anyhow::Result<Vec<JobFile>> {
    let mut found: Vec<PathBuf> = Vec::new();
    for path in paths {
        for file in expand(path)? {
            if !found.contains(&file) {
                found.push(file);
            }
        }
    }
    found
        .into_iter()
        .map(|path| {
            let content = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(JobFile { path, content })
        })
        .collect()
}

fn expand(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list {}", path.display()))?;
        let file = entry.path();
        if file.extension().is_some_and(|ext| ext == "toml") && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no *.toml job files in {}",
        path.display()
    );
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_to_sorted_toml_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["b.toml", "a.toml", "notes.txt"] {
            std::fs::write(dir.path().join(name), name).expect("write");
        }
        std::fs::create_dir(dir.path().join("sub.toml")).expect("mkdir");
        let files = read_job_files(&[dir.path().to_path_buf(), dir.path().join("a.toml")])
            .expect("readable");
        let names: Vec<_> = files
            .iter()
            .map(|file| {
                file.path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
        assert_eq!(files[0].content, "a.toml");
    }

    #[test]
    fn empty_directories_and_missing_paths_are_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = read_job_files(&[dir.path().to_path_buf()]).expect_err("empty");
        assert!(
            error.to_string().starts_with("no *.toml job files in"),
            "{error}"
        );
        let error = read_job_files(&[dir.path().join("missing.toml")]).expect_err("missing");
        assert!(error.to_string().starts_with("cannot read"), "{error}");
    }
}
