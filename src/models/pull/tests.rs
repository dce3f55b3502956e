use std::io::Write;

use sha2::{Digest, Sha256};

use super::*;
use crate::models::staged::hex;

/// A hub no test reaches: these tests never download.
fn hub() -> Hub {
    Hub::new("http://127.0.0.1:9", None)
}

fn entry(bytes: &[u8]) -> ModelEntry {
    ModelEntry {
        name: "t".into(),
        file: "t.gguf".into(),
        size: bytes.len() as u64,
        sha256: hex(&Sha256::digest(bytes)),
        license: "x".into(),
        description: "x".into(),
        family: "x".into(),
        fim_tokens: vec![],
        chat_template: "gguf".into(),
        default: false,
        checksum: None,
        sources: vec![],
        user: false,
    }
}

#[test]
fn good_download_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let e = entry(b"hello model");
    let mut s = Staged::create(dir.path(), &e.file, e.size).unwrap();
    s.write(b"hello ").unwrap();
    s.write(b"model").unwrap();
    let dest = dir.path().join("t.gguf");
    s.commit(&e, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"hello model");
    // Nothing else is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn corrupt_or_short_download_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = entry(b"hello model");
    let dest = dir.path().join("t.gguf");
    let mut s = Staged::create(dir.path(), &e.file, e.size).unwrap();
    s.write(b"hello MODEL").unwrap();
    let err = s.commit(&e, &dest).unwrap_err().to_string();
    assert!(err.contains("sha256"), "{err}");
    let mut s = Staged::create(dir.path(), &e.file, e.size).unwrap();
    s.write(b"hello").unwrap();
    let err = s.commit(&e, &dest).unwrap_err().to_string();
    assert!(err.contains("expected 11"), "{err}");
    // An interrupted download (dropped mid-way) is removed too.
    let mut s = Staged::create(dir.path(), &e.file, e.size).unwrap();
    s.write(b"hel").unwrap();
    drop(s);
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_source_sending_more_than_the_manifest_size_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let e = entry(b"hello model");
    let mut s = Staged::create(dir.path(), &e.file, e.size).unwrap();
    s.write(b"hello model").unwrap();
    let err = s.write(b"!").unwrap_err().to_string();
    assert!(err.contains("more than the 11 bytes"), "{err}");
    drop(s);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn staging_names_do_not_collide_between_processes() {
    // Two pullers sharing a cache (same pid in two containers) get two files.
    let dir = tempfile::tempdir().unwrap();
    let e = entry(b"x");
    let a = Staged::create(dir.path(), &e.file, e.size).unwrap();
    let b = Staged::create(dir.path(), &e.file, e.size).unwrap();
    assert_ne!(a.path, b.path);
    for s in [&a, &b] {
        let name = s.path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".t.gguf.") && name.ends_with(PARTIAL_SUFFIX));
        assert!(!name.contains(&std::process::id().to_string()), "{name}");
    }
    let w1 = TempDir::create(dir.path(), WHEELS_PREFIX).unwrap();
    let w2 = TempDir::create(dir.path(), WHEELS_PREFIX).unwrap();
    assert_ne!(w1.0, w2.0);
    assert!(w1.0.is_dir() && w2.0.is_dir());
}

#[test]
fn the_file_on_disk_is_hashed_before_it_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let e = entry(b"hello model");
    let dest = dir.path().join("t.gguf");
    let mut s = Staged::create(dir.path(), &e.file, e.size).unwrap();
    s.write(b"hello model").unwrap();
    s.out.as_mut().unwrap().flush().unwrap();
    // The disk does not hold what was handed to it (simulated: the bytes change).
    std::fs::write(&s.path, b"hello MODEL").unwrap();
    let err = s.commit(&e, &dest).unwrap_err().to_string();
    assert!(err.contains("once written"), "{err}");
    assert!(!dest.exists());
}

#[test]
fn stale_staging_is_swept_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let old = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    let age = |p: &Path| {
        // (The owner may set the times through a read-only handle, also a folder's.)
        File::open(p).unwrap().set_modified(old).unwrap();
    };
    for name in [
        ".t.gguf.4242.partial",
        ".t.gguf.abc123.partial",
        "t.gguf",
        "notes.partial",
        ".t.gguf.lock",
    ] {
        std::fs::write(d.join(name), b"x").unwrap();
        age(&d.join(name));
    }
    std::fs::write(d.join(".t.gguf.fresh.partial"), b"x").unwrap();
    let wheels = d.join(".wheels-old");
    std::fs::create_dir(&wheels).unwrap();
    std::fs::write(wheels.join("a.whl"), b"x").unwrap();
    age(&wheels);
    std::fs::create_dir(d.join(".wheels-fresh")).unwrap();
    sweep_stale(d, STALE_AFTER);
    let mut left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".t.gguf.fresh.partial",
            ".t.gguf.lock",
            ".wheels-fresh",
            "notes.partial",
            "t.gguf"
        ]
    );
}

/// Holds `e`'s lock in `dir` while `waiter` starts on another thread (with `dir` and
/// `e`), writes the model and lets go; returns what `waiter` returned.
fn behind_the_lock<T: Send + 'static>(
    dir: &Path,
    e: &ModelEntry,
    waiter: impl FnOnce(PathBuf, ModelEntry) -> T + Send + 'static,
) -> T {
    let held = lock_model(dir, e)
        .unwrap()
        .expect("a file system with locks");
    let (d, e2) = (dir.to_path_buf(), e.clone());
    let waiter = std::thread::spawn(move || waiter(d, e2));
    std::fs::write(dir.join(&e.file), b"hello model").unwrap();
    drop(held);
    waiter.join().unwrap()
}

#[test]
fn a_second_puller_waits_for_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let e = entry(b"hello model");
    let read = behind_the_lock(dir.path(), &e, |d, e| {
        let _lock = lock_model(&d, &e).unwrap();
        // Only once the first let go: by then it had written the model.
        std::fs::read(d.join("t.gguf")).unwrap()
    });
    assert_eq!(read, b"hello model");
}

#[test]
fn a_model_pulled_while_waiting_is_found_present() {
    let dir = tempfile::tempdir().unwrap();
    // No source: only finding the model present can succeed.
    let e = entry(b"hello model");
    let pulled = behind_the_lock(dir.path(), &e, |d, e| {
        pull_in(&d, &hub(), &e, &PullOptions::default()).map_err(|e| e.to_string())
    });
    assert_eq!(pulled.unwrap(), dir.path().join("t.gguf"));
    // Without it, the pull has nothing to pull from.
    std::fs::remove_file(dir.path().join("t.gguf")).unwrap();
    let err = pull_in(dir.path(), &hub(), &e, &PullOptions::default()).unwrap_err();
    assert!(err.to_string().contains("has no"), "{err}");
}
