//! Files near the current one on disk (same folder, same language, not open), read and
//! parsed for context. Bounded: a few files, none large; cached by modification time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use dashmap::DashMap;
use tree_sitter::Tree;

use crate::lang::Language;

const MAX_FILES: usize = 8;
const MAX_BYTES: u64 = 256 * 1024;

/// A file read from disk for context.
#[derive(Debug)]
pub struct DiskFile {
    pub path: PathBuf,
    pub text: String,
    pub language: Language,
    pub tree: Option<Tree>,
}

#[derive(Debug, Default)]
pub struct DiskCache {
    files: DashMap<PathBuf, (SystemTime, Arc<DiskFile>)>,
}

impl DiskCache {
    /// Up to `MAX_FILES` files of `lang` in `current`'s folder, newest first, skipping
    /// `open` ones and anything unreadable, large or binary.
    pub fn near(
        &self,
        current: &Path,
        lang: Language,
        open: &HashSet<PathBuf>,
    ) -> Vec<Arc<DiskFile>> {
        let Some(dir) = current.parent() else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut found: Vec<(SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                let meta = e.metadata().ok()?;
                let same_lang = Language::from_path(&path) == Some(lang);
                (meta.is_file()
                    && same_lang
                    && meta.len() <= MAX_BYTES
                    && path != current
                    && !open.contains(&path))
                .then(|| (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), path))
            })
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        found
            .into_iter()
            .take(MAX_FILES)
            .filter_map(|(mtime, path)| self.load(path, mtime, lang))
            .collect()
    }

    fn load(&self, path: PathBuf, mtime: SystemTime, lang: Language) -> Option<Arc<DiskFile>> {
        if let Some(hit) = self.files.get(&path)
            && hit.0 == mtime
        {
            return Some(hit.1.clone());
        }
        let bytes = std::fs::read(&path).ok()?;
        let text = crate::text::decode_source(&bytes).ok()?;
        let tree = crate::syntax::parse(lang, &text, None);
        let file = Arc::new(DiskFile {
            path: path.clone(),
            text,
            language: lang,
            tree,
        });
        self.files.insert(path, (mtime, file.clone()));
        Some(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_siblings_of_the_same_language_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("main.py"), "import util\n").unwrap();
        std::fs::write(p("util.py"), "def helper():\n    return 1\n").unwrap();
        std::fs::write(p("open.py"), "x = 1\n").unwrap();
        std::fs::write(p("notes.md"), "# notes\n").unwrap();
        std::fs::write(p("blob.py"), b"\0\0\0").unwrap();
        let cache = DiskCache::default();
        let open: HashSet<PathBuf> = [p("open.py")].into_iter().collect();
        let got = cache.near(&p("main.py"), Language::Python, &open);
        let names: Vec<String> = got
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["util.py"]);
        assert!(got[0].tree.is_some());
    }
}
