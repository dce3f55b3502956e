//! Explanations and refactors with the default model, as a user runs them from the CLI.

use std::process::Command;

use crate::support::{DEFAULT, quill_bin, real_model};

/// A function with a planted off-by-one bug (the loop skips the first element).
const BUGGY: &str = r#"def total_price(prices, tax_rate):
    total = 0
    for i in range(1, len(prices)):
        total += prices[i]
    return round(total * (1 + tax_rate), 2)


if __name__ == "__main__":
    print(total_price([10.0, 20.0, 5.5], 0.2))
"#;

fn quill(args: &[&str]) -> std::process::Output {
    Command::new(quill_bin())
        .args(args)
        .output()
        .expect("run quill")
}

fn python_parses(path: &std::path::Path) -> bool {
    Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(path)
        .status()
        .unwrap()
        .success()
}

#[test]
fn explain_and_fix_a_planted_off_by_one() {
    let Some((_path, _guard)) = real_model(DEFAULT) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.py");
    std::fs::write(&file, BUGGY).unwrap();
    let target = format!("{}:3", file.display());

    let out = quill(&["explain", &target, "--model", DEFAULT]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prose = String::from_utf8(out.stdout).unwrap();
    eprintln!("explanation:\n{prose}");
    assert!(
        prose.split_whitespace().count() >= 10,
        "too short: {prose:?}"
    );

    let out = quill(&[
        "refactor", &target, "--action", "fix", "--write", "--model", DEFAULT,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    if out.status.success() {
        // Offered: the file still parses, and the old one is kept as a backup.
        assert!(
            python_parses(&file),
            "{}",
            std::fs::read_to_string(&file).unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("prices.py.orig")).unwrap(),
            BUGGY
        );
    } else {
        // Not offered (the model's code did not parse): the file is untouched.
        assert!(stderr.contains("no change made"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), BUGGY);
    }
}

#[test]
fn docstring_refactor_keeps_behaviour() {
    let Some((_path, _guard)) = real_model(DEFAULT) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.py");
    std::fs::write(&file, BUGGY).unwrap();
    let out = quill(&[
        "refactor",
        &format!("{}:1", file.display()),
        "--action",
        "doc",
        "--write",
        "--model",
        DEFAULT,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::read_to_string(&file).unwrap();
    eprintln!("{after}");
    assert!(python_parses(&file));
    assert!(
        after.contains("\"\"\"") || after.contains("'''"),
        "no docstring:\n{after}"
    );
    // Same results on the same inputs, before and after.
    let run = |path: &std::path::Path| {
        let script = "import importlib.util, sys\n\
            spec = importlib.util.spec_from_file_location('m', sys.argv[1])\n\
            m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n\
            print([m.total_price(p, t) for p, t in [([1.0, 2.0, 3.0], 0.1), ([], 0.5), ([9.99], 0.0), ([4, 5, 6, 7], 0.25)]])";
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let before = dir.path().join("before.py");
    std::fs::write(&before, BUGGY).unwrap();
    assert_eq!(run(&file), run(&before));
}
