//! `quill models rm`: deleting a downloaded model's file, and for a model the user added,
//! its entry in `$QUILL_HOME/models.toml` too (`--forget`).
//!
//! Only a model's own file in the models folder is deleted (never a path outside it: file
//! names are checked), with the partial downloads of that file. A pull in progress holds
//! the model's lock file; `rm` then refuses instead of deleting under it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{Manifest, check_file, models_dir_in, quill_home, user};

/// What [`remove`] did.
#[derive(Debug, Default)]
pub struct Removed {
    /// The model file deleted, and its size.
    pub file: Option<(PathBuf, u64)>,
    /// Partial downloads of it deleted.
    pub partials: usize,
    /// Whether its entry left the user's list.
    pub forgotten: bool,
}

/// Deletes model `name`'s file from the cache, and with `forget` its entry in the user's
/// list.
pub fn remove(name: &str, forget: bool) -> Result<Removed> {
    remove_in(&quill_home(), name, forget)
}

/// [`remove`] in the quill home `home`.
pub fn remove_in(home: &Path, name: &str, forget: bool) -> Result<Removed> {
    let list = user::list_path_in(home);
    let (manifest, _) = Manifest::load_from(&list);
    let entry = manifest.get(name).with_context(|| {
        format!(
            "unknown model {name:?}; known: {}",
            manifest.names().join(", ")
        )
    })?;
    if forget && !entry.user {
        bail!(
            "{name} is a built-in model: there is no entry of yours to forget (without \
             --forget, `quill models rm {name}` deletes its file)"
        );
    }
    // Never a path outside the models folder.
    check_file(&entry.file)?;
    let dir = models_dir_in(home);
    let path = dir.join(&entry.file);
    let mut done = Removed::default();
    if dir.is_dir() {
        let _lock = hold_lock(&dir, &entry.file, name)?;
        match path.symlink_metadata() {
            Ok(meta) if meta.is_dir() => {
                bail!(
                    "{} is a folder, not a model file: left as it is",
                    path.display()
                )
            }
            Ok(meta) => {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot delete {}", path.display()))?;
                done.file = Some((path.clone(), meta.len()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
        done.partials = remove_partials(&dir, &entry.file);
        if forget {
            done.forgotten = user::forget(&list, name)?;
        }
    } else if forget {
        done.forgotten = user::forget(&list, name)?;
    }
    if done.file.is_none() && !done.forgotten && done.partials == 0 {
        bail!(
            "{name} is not downloaded ({} does not exist): nothing to remove",
            path.display()
        );
    }
    Ok(done)
}

/// Takes the model's download lock without waiting: a process holding it is pulling the
/// model right now.
fn hold_lock(dir: &Path, file: &str, name: &str) -> Result<Option<std::fs::File>> {
    let (lock, path) = super::pull::open_lock(dir, file)?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another quill process is pulling {name} (it holds {}): let it finish, or stop \
             it, then run this again",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            tracing::warn!("cannot lock {} ({e}); removing unlocked", path.display());
            Ok(None)
        }
    }
}

/// Deletes the staging files of `file` (`.FILE.RANDOM.partial`); with the lock held, no
/// pull is writing them.
fn remove_partials(dir: &Path, file: &str) -> usize {
    let prefix = format!(".{file}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".partial"))
                && e.path().symlink_metadata().is_ok_and(|m| m.is_file())
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_user_model(home: &Path, name: &str, file: &str) {
        let e = user::tests::entry(name, file);
        user::add(&user::list_path_in(home), &e, &[]).unwrap();
    }

    fn listed(home: &Path) -> Vec<String> {
        user::load(&user::list_path_in(home))
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.name)
            .collect()
    }

    #[test]
    fn rm_deletes_the_file_and_its_partials_and_forget_the_entry() {
        let home = tempfile::tempdir().unwrap();
        let dir = models_dir_in(home.path());
        std::fs::create_dir_all(&dir).unwrap();
        add_user_model(home.path(), "mine", "mine.gguf");
        std::fs::write(dir.join("mine.gguf"), b"hello").unwrap();
        std::fs::write(dir.join(".mine.gguf.abc.partial"), b"he").unwrap();
        std::fs::write(dir.join("other.gguf"), b"x").unwrap();

        let done = remove_in(home.path(), "mine", false).unwrap();
        assert_eq!(done.file, Some((dir.join("mine.gguf"), 5)));
        assert_eq!(done.partials, 1);
        assert!(!done.forgotten);
        assert!(!dir.join("mine.gguf").exists() && dir.join("other.gguf").exists());
        assert_eq!(
            listed(home.path()),
            ["mine"],
            "the entry stays without --forget"
        );

        let err = remove_in(home.path(), "mine", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not downloaded") && err.contains("nothing to remove"),
            "{err}"
        );

        let done = remove_in(home.path(), "mine", true).unwrap();
        assert!(done.forgotten && done.file.is_none());
        assert!(listed(home.path()).is_empty());
        let err = remove_in(home.path(), "mine", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown model"), "{err}");
    }

    #[test]
    fn built_in_models_lose_their_file_but_cannot_be_forgotten() {
        let home = tempfile::tempdir().unwrap();
        let dir = models_dir_in(home.path());
        std::fs::create_dir_all(&dir).unwrap();
        let m = Manifest::builtin();
        let e = &m.models[0];
        std::fs::write(dir.join(&e.file), b"x").unwrap();
        let err = remove_in(home.path(), &e.name, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a built-in model"), "{err}");
        assert!(
            dir.join(&e.file).exists(),
            "nothing deleted on a refused rm"
        );
        remove_in(home.path(), &e.name, false).unwrap();
        assert!(!dir.join(&e.file).exists());
    }

    #[test]
    fn rm_refuses_while_a_pull_holds_the_lock() {
        let home = tempfile::tempdir().unwrap();
        let dir = models_dir_in(home.path());
        std::fs::create_dir_all(&dir).unwrap();
        add_user_model(home.path(), "mine", "mine.gguf");
        std::fs::write(dir.join("mine.gguf"), b"hello").unwrap();
        let held = hold_lock(&dir, "mine.gguf", "mine")
            .unwrap()
            .expect("a file system with locks");
        let err = remove_in(home.path(), "mine", true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("another quill process is pulling mine"),
            "{err}"
        );
        assert!(dir.join("mine.gguf").exists());
        assert_eq!(listed(home.path()), ["mine"]);
        drop(held);
        remove_in(home.path(), "mine", true).unwrap();
        assert!(!dir.join("mine.gguf").exists());
    }

    #[test]
    fn a_hand_edited_file_outside_the_cache_is_never_deleted() {
        let home = tempfile::tempdir().unwrap();
        let outside = home.path().join("precious.gguf");
        std::fs::write(&outside, b"keep").unwrap();
        std::fs::create_dir_all(models_dir_in(home.path())).unwrap();
        std::fs::write(
            user::list_path_in(home.path()),
            format!(
                "[[model]]\nname = \"evil\"\nfile = \"../precious.gguf\"\nsize = 4\nsha256 = \"{}\"\n",
                "ab".repeat(32)
            ),
        )
        .unwrap();
        // The entry is refused when the list is read, so there is no such model.
        let err = remove_in(home.path(), "evil", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown model"), "{err}");
        assert!(outside.exists());
    }
}
