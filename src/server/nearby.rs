//! Files near the current one on disk (those it imports, then its folder's of the same
//! language family; not open), read and parsed for context. Bounded: a few files, none
//! large, a bounded look at the folder; the files read are cached by modification time,
//! least recently used dropped first.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tree_sitter::Tree;

use crate::lang::Language;

/// Files handed to the context builder per request.
const MAX_FILES: usize = 8;
/// Larger files are not read.
const MAX_BYTES: u64 = 256 * 1024;
/// Folder entries looked at per request: a folder of 100,000 generated files must not be
/// listed (and each entry's metadata read) on every completion.
pub const MAX_LISTED: usize = 2_000;
/// Files the cache keeps, and the text they may hold together: moving through many
/// folders must not grow it without end.
pub const MAX_CACHED_FILES: usize = 256;
pub const MAX_CACHED_BYTES: usize = 32 << 20;

/// The caps above, separate so tests can make them small.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub listed: usize,
    pub cached_files: usize,
    pub cached_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            listed: MAX_LISTED,
            cached_files: MAX_CACHED_FILES,
            cached_bytes: MAX_CACHED_BYTES,
        }
    }
}

/// A file read from disk for context.
#[derive(Debug)]
pub struct DiskFile {
    pub path: PathBuf,
    pub text: String,
    pub language: Language,
    pub tree: Option<Tree>,
}

#[derive(Debug)]
struct Entry {
    mtime: SystemTime,
    file: Arc<DiskFile>,
    /// The cache's clock when the entry was last used.
    used: u64,
}

#[derive(Debug, Default)]
struct Cached {
    files: HashMap<PathBuf, Entry>,
    /// Text bytes of all `files`.
    bytes: usize,
    clock: u64,
}

impl Cached {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn remove(&mut self, path: &Path) {
        if let Some(old) = self.files.remove(path) {
            self.bytes -= old.file.text.len();
        }
    }

    /// Drops least recently used entries until both caps hold.
    fn evict(&mut self, limits: &Limits) {
        while self.files.len() > limits.cached_files || self.bytes > limits.cached_bytes {
            let Some(oldest) = self
                .files
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
    }
}

#[derive(Debug, Default)]
pub struct DiskCache {
    cached: Mutex<Cached>,
    limits: Limits,
    includes: super::imported::IncludePaths,
}

impl DiskCache {
    pub fn with_limits(limits: Limits) -> Self {
        DiskCache {
            limits,
            ..DiskCache::default()
        }
    }

    /// Up to `MAX_FILES` files for context of `current` (holding `text`, of `lang`): the
    /// files its imports name ([`super::imported`]), then its folder's files of the same
    /// language family, newest first; skipping `open` ones and anything unreadable, large
    /// or binary. Only the first `limits.listed` entries of the folder are looked at.
    pub fn near(
        &self,
        current: &Path,
        text: &str,
        lang: Language,
        open: &HashSet<PathBuf>,
    ) -> Vec<Arc<DiskFile>> {
        let Some(dir) = current.parent() else {
            return Vec::new();
        };
        let targets = super::imported::targets(lang, text);
        let mut out: Vec<Arc<DiskFile>> =
            super::imported::resolve(current, &targets, &self.includes)
                .into_iter()
                .filter(|p| !open.contains(p))
                .filter_map(|p| {
                    let meta = std::fs::metadata(&p).ok()?;
                    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    (meta.len() <= MAX_BYTES).then_some((p, mtime))
                })
                .take(MAX_FILES)
                .filter_map(|(p, mtime)| self.load(p, mtime, lang))
                .collect();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        let mut found: Vec<(SystemTime, PathBuf)> = entries
            .take(self.limits.listed)
            .filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                // The name first: most entries are not of the language (family: a C++ file
                // sees the headers beside it), and need no stat.
                if Language::from_path(&path).is_none_or(|l| l.family() != lang.family())
                    || path == current
                    || open.contains(&path)
                {
                    return None;
                }
                let meta = e.metadata().ok()?;
                (meta.is_file() && meta.len() <= MAX_BYTES)
                    .then(|| (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), path))
            })
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let room = MAX_FILES.saturating_sub(out.len());
        let imported: HashSet<PathBuf> = out.iter().map(|f| f.path.clone()).collect();
        out.extend(
            found
                .into_iter()
                .filter(|(_, p)| !imported.contains(p))
                .take(room)
                .filter_map(|(mtime, path)| self.load(path, mtime, lang)),
        );
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads and parses `path` (as its own language: a C++ file's header is C++, a
    /// TypeScript file's import may be JavaScript; else as `lang`).
    fn load(&self, path: PathBuf, mtime: SystemTime, lang: Language) -> Option<Arc<DiskFile>> {
        let lang = Language::from_path(&path).unwrap_or(lang);
        {
            let mut cached = self.lock();
            let now = cached.tick();
            if let Some(hit) = cached.files.get_mut(&path)
                && hit.mtime == mtime
            {
                hit.used = now;
                return Some(hit.file.clone());
            }
        }
        // Read and parse without the lock: other requests use the cache meanwhile.
        // Regular files only, capped: it may have grown, or been swapped, since it was listed.
        let bytes = crate::regular_file::read(&path, MAX_BYTES).ok()?;
        let text = crate::text::decode_source(&bytes).ok()?;
        let tree = crate::syntax::parse(lang, &text, None);
        let file = Arc::new(DiskFile {
            path: path.clone(),
            text,
            language: lang,
            tree,
        });
        let mut cached = self.lock();
        let used = cached.tick();
        cached.remove(&path);
        cached.bytes += file.text.len();
        cached.files.insert(
            path,
            Entry {
                mtime,
                file: file.clone(),
                used,
            },
        );
        cached.evict(&self.limits);
        Some(file)
    }

    /// Files cached, and their text bytes.
    #[cfg(test)]
    fn size(&self) -> (usize, usize) {
        let cached = self.lock();
        (cached.files.len(), cached.bytes)
    }

    #[cfg(test)]
    fn holds(&self, path: &Path) -> bool {
        self.lock().files.contains_key(path)
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
        let got = cache.near(&p("main.py"), "", Language::Python, &open);
        let names: Vec<String> = got
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["util.py"]);
        assert!(got[0].tree.is_some());
    }

    #[test]
    fn only_the_first_entries_of_a_huge_folder_are_looked_at() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: String| dir.path().join(n);
        for i in 0..40 {
            std::fs::write(
                p(format!("m{i:02}.py")),
                format!("def f{i}():\n    return {i}\n"),
            )
            .unwrap();
        }
        let open = HashSet::new();
        let current = p("main.py".into());
        // Unlimited enough: the usual cap of files handed on.
        let all = DiskCache::default().near(&current, "", Language::Python, &open);
        assert_eq!(all.len(), MAX_FILES);
        // Five entries listed: at most five files, whatever order the folder lists in.
        let few = DiskCache::with_limits(Limits {
            listed: 5,
            ..Limits::default()
        });
        let got = few.near(&current, "", Language::Python, &open);
        assert!(!got.is_empty() && got.len() <= 5, "{}", got.len());
        // None listed, none read.
        let none = DiskCache::with_limits(Limits {
            listed: 0,
            ..Limits::default()
        });
        assert!(none.near(&current, "", Language::Python, &open).is_empty());
        assert_eq!(none.size(), (0, 0));
    }

    #[test]
    fn the_cache_drops_the_least_recently_used_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::with_limits(Limits {
            cached_files: 3,
            ..Limits::default()
        });
        let open = HashSet::new();
        // One file per folder, so each `near` reads one.
        let folder = |name: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("lib.py"), format!("def {name}():\n    pass\n")).unwrap();
            d
        };
        let dirs: Vec<PathBuf> = ["a", "b", "c", "d"].iter().map(|n| folder(n)).collect();
        let near = |d: &Path| cache.near(&d.join("main.py"), "", Language::Python, &open);
        for d in &dirs[..3] {
            assert_eq!(near(d).len(), 1);
        }
        assert_eq!(cache.size().0, 3);
        // `a` is used again: `b` is now the least recently used, and goes for `d`.
        assert_eq!(near(&dirs[0]).len(), 1);
        assert_eq!(near(&dirs[3]).len(), 1);
        assert_eq!(cache.size().0, 3);
        assert!(cache.holds(&dirs[0].join("lib.py")));
        assert!(!cache.holds(&dirs[1].join("lib.py")));
        assert!(cache.holds(&dirs[2].join("lib.py")));
        assert!(cache.holds(&dirs[3].join("lib.py")));
        // A dropped file is read again when needed.
        let again = near(&dirs[1]);
        assert!(again[0].text.contains("def b()"));
    }

    #[test]
    fn the_cache_holds_at_most_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::with_limits(Limits {
            cached_bytes: 2_500,
            ..Limits::default()
        });
        let open = HashSet::new();
        let body = format!("X = '{}'\n", "x".repeat(1_000));
        for name in ["a", "b", "c", "d"] {
            let d = dir.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("lib.py"), &body).unwrap();
            assert_eq!(
                cache
                    .near(&d.join("main.py"), "", Language::Python, &open)
                    .len(),
                1
            );
            let (files, bytes) = cache.size();
            assert!(bytes <= 2_500 && files <= 2, "{files} files, {bytes} bytes");
        }
        assert_eq!(cache.size(), (2, 2 * body.len()));
        // Newest kept.
        assert!(cache.holds(&dir.path().join("d/lib.py")));
        assert!(cache.holds(&dir.path().join("c/lib.py")));
    }

    #[test]
    fn a_changed_file_replaces_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib.py");
        std::fs::write(&lib, "A = 1\n").unwrap();
        let cache = DiskCache::default();
        let open = HashSet::new();
        let main = dir.path().join("main.py");
        assert_eq!(
            cache.near(&main, "", Language::Python, &open)[0].text,
            "A = 1\n"
        );
        std::fs::write(&lib, "A = 22\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&lib)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(
            cache.near(&main, "", Language::Python, &open)[0].text,
            "A = 22\n"
        );
        assert_eq!(cache.size(), (1, "A = 22\n".len()));
    }
}
