//! The `switchboard` binary: with no arguments, it serves.

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(feature = "ssr")]
async fn run() -> std::process::ExitCode {
    use std::process::ExitCode;
    use switchboard::config::Config;
    use switchboard::server;

    use switchboard::server::cli::{self, CliError};

    let command = match cli::Cli::read(std::env::args()) {
        Ok(Some(cli)) => cli.command.unwrap_or(cli::Command::Serve),
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return ExitCode::from(2);
        }
    };
    let serve = matches!(command, cli::Command::Serve);

    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if !serve {
        let _ = rustls::crypto::ring::default_provider().install_default();
        return match cli::run(&config, command).await {
            Ok(out) => {
                if !out.is_empty() {
                    println!("{out}");
                }
                ExitCode::SUCCESS
            }
            Err(e @ CliError::Usage(_)) => {
                eprintln!("switchboard: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("switchboard: {e}");
                ExitCode::from(1)
            }
        };
    }
    init_tracing(config.log_json);
    match server::start(config).await {
        Ok(running) => {
            running.until_signal().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switchboard: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(feature = "ssr")]
fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        // One object per line, with the request's, job's or socket's span fields in it.
        logs.json()
            .with_current_span(true)
            .with_span_list(true)
            .init();
    } else {
        logs.init();
    }
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser build has no binary; cargo-leptos builds the server with `ssr`.
}
