//! `quill serve`: the language server on stdin/stdout.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Speak LSP over stdio (the only transport; accepted for clients that pass it)
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: ServeArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("quill-lsp")
        .build()?;
    runtime.block_on(quill::server::serve(
        tokio::io::stdin(),
        tokio::io::stdout(),
        quill::server::Options::default(),
    ));
    // Tokio reads stdin on a blocking thread that only returns when the client closes the
    // pipe; after `exit` the server must not wait for that.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(ExitCode::SUCCESS)
}
