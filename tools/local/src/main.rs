//! `parley-local`: the local stack's command line. See README.md ("Run it locally").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use parley_local::{cors::Cors, registry, router::Router, server::Gateway, template::Template};
use shared::platform::config::{self, ProcessEnv};

#[derive(Parser)]
#[command(name = "parley-local", about = "Parley's local stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every template route on loopback, calling the handlers in-process.
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Write the bound port here once listening (for scripts using port 0).
        #[arg(long)]
        port_file: Option<PathBuf>,
    },
    /// Print an HS256 user token signed with PARLEY_JWT_SECRET (local development only).
    Token {
        /// The user id (`sub`); a new one when omitted.
        #[arg(long)]
        user: Option<uuid::Uuid>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
    /// Apply pending migrations (PARLEY_MIGRATE_DATABASE_URL).
    Migrate,
    /// Create the template's DynamoDB tables and KMS keys in the emulator; print their env.
    Provision,
    /// Print the connection and concurrency budget the templates imply (docs/scaling.md);
    /// `--write` puts it into docs/scaling.md.
    Capacity {
        #[arg(long)]
        write: bool,
    },
    /// A local Twilio (Verify and Messages) for TWILIO_*_BASE_URL; see src/twilio_stub.rs.
    TwilioStub {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// Write the bound port here once listening.
        #[arg(long)]
        port_file: Option<PathBuf>,
    },
    /// Send an inbound SMS to the local gateway, signed as Twilio signs it
    /// (PARLEY_URL, PARLEY_PUBLIC_URL, TWILIO_AUTH_TOKEN), and print the TwiML answer.
    Sms {
        /// The sender, in E.164 (a user's verified phone).
        #[arg(long)]
        from: String,
        /// The message text.
        body: String,
    },
    /// Serve the local Stripe stub (tools/local/src/stripe_stub.rs) on loopback.
    StripeStub {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:12111")]
        addr: SocketAddr,
        /// Write the bound port here once listening.
        #[arg(long)]
        port_file: Option<PathBuf>,
    },
    /// Act as Stripe towards the local stack (PARLEY_STRIPE_API_BASE, STRIPE_WEBHOOK_SECRET, PARLEY_URL).
    Stripe {
        #[command(subcommand)]
        command: StripeCommand,
    },
    /// Run a scheduled job (or migrate) once with an event file, e.g.
    /// `parley-local invoke verify-chains events/verify-chains/nightly.json`.
    Invoke {
        /// The function's crate name under functions/.
        function: String,
        /// A JSON event; `{}` when omitted.
        event: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum StripeCommand {
    /// Pay a pending Checkout Session in the stub, then sign its events and deliver them
    /// to the local gateway's webhook, as `stripe trigger` would.
    Pay {
        /// The Checkout Session id (`cs_test_…`).
        session: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    shared::platform::telemetry::init();
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parley-local: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { addr, port_file } => serve(addr, port_file).await,
        Command::Token { user, ttl_secs } => {
            let secret = config::secret(&ProcessEnv, "PARLEY_JWT_SECRET").map_err(|e| e.to_string())?;
            let issuer = config::required(&ProcessEnv, "PARLEY_JWT_ISSUER").map_err(|e| e.to_string())?;
            let audience = config::required(&ProcessEnv, "PARLEY_JWT_AUDIENCE").map_err(|e| e.to_string())?;
            let user = user.unwrap_or_else(uuid::Uuid::now_v7);
            println!(
                "{}",
                shared::platform::identity::mint_user_token(
                    &secret,
                    &issuer,
                    &audience,
                    user,
                    Duration::from_secs(ttl_secs)
                )
            );
            Ok(())
        }
        Command::Migrate => {
            let state = migrate::State::from_env().await.map_err(|e| e.to_string())?;
            let report = migrate::run(&state).await?;
            eprintln!(
                "migrations applied: {}",
                if report.applied.is_empty() { "none pending".to_owned() } else { report.applied.join(", ") }
            );
            Ok(())
        }
        Command::Invoke { function, event } => {
            let payload = match event {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?
                }
                None => serde_json::json!({}),
            };
            let result = registry::invoke(&function, payload).await?;
            println!("{}", serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::StripeStub { addr, port_file } => {
            let listener = listen_announced(addr, port_file, "Stripe stub").await?;
            tokio::select! {
                () = parley_local::stripe_stub::serve(listener) => {}
                () = shutdown_signal() => {}
            }
            Ok(())
        }
        Command::TwilioStub { addr, port_file } => {
            let sid = config::required(&ProcessEnv, "TWILIO_ACCOUNT_SID").map_err(|e| e.to_string())?;
            let token = config::required(&ProcessEnv, "TWILIO_AUTH_TOKEN").map_err(|e| e.to_string())?;
            let listener = listen_announced(addr, port_file, "Twilio stub").await?;
            tokio::select! {
                () = parley_local::twilio_stub::TwilioStub::new(&sid, &token).serve(listener) => {}
                () = shutdown_signal() => {}
            }
            Ok(())
        }
        Command::Stripe { command: StripeCommand::Pay { session } } => stripe_pay(&session).await,
        Command::Sms { from, body } => {
            let get = |name: &str| config::required(&ProcessEnv, name).map_err(|e| e.to_string());
            let (url, public, token) = (get("PARLEY_URL")?, get("PARLEY_PUBLIC_URL")?, get("TWILIO_AUTH_TOKEN")?);
            let answer = parley_local::inbound_sms(&url, &public, &token, &from, &body).await?;
            println!("{answer}");
            Ok(())
        }
        Command::Capacity { write } => {
            let root = parley_local::repo_root();
            let read = |p: &str| std::fs::read_to_string(root.join(p)).map_err(|e| format!("{p}: {e}"));
            let block = parley_local::capacity::markdown(&read("infra/template.yaml")?, &read("infra/data.yaml")?)?;
            if write {
                let doc = parley_local::capacity::replace_block(&read("docs/scaling.md")?, &block)?;
                std::fs::write(root.join("docs/scaling.md"), doc).map_err(|e| e.to_string())?;
                println!("docs/scaling.md updated");
            } else {
                print!("{block}");
            }
            Ok(())
        }
        Command::Provision => {
            let template = Template::load(&parley_local::template_path())?;
            let aws = shared::platform::aws::load().await;
            for (k, v) in parley_local::provision::provision(&template, &aws).await? {
                println!("{k}={v}");
            }
            Ok(())
        }
    }
}

async fn serve(addr: SocketAddr, port_file: Option<PathBuf>) -> Result<(), String> {
    let path = parley_local::template_path();
    let template = Template::load(&path)?;
    let router = Router::from_template(&template);
    let handlers = registry::build_all(router.entries().iter().map(|e| e.function.as_str())).await?;
    let openapi = std::fs::read_to_string(path.with_file_name("openapi.yaml")).ok();
    let cors_origins = config::optional(&ProcessEnv, parley_local::cors::ORIGINS_ENV);
    let cors = Cors::from_template(&template, cors_origins.as_deref())?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(file) = port_file {
        std::fs::write(&file, bound.port().to_string()).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    eprintln!(
        "parley-local: serving {} routes on http://{bound}{}",
        router.entries().len(),
        if cors.is_some() { "" } else { " (no CORS: PARLEY_CORS_ORIGINS and the template allow no origin)" }
    );
    Gateway::new(router, handlers, openapi, cors).serve(listener, shutdown_signal()).await;
    eprintln!("parley-local: stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("can install a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `parley-local stripe pay`: the stub pays the session; each event it reports is signed
/// with STRIPE_WEBHOOK_SECRET (`t=…,v1=HMAC-SHA256("{t}.{body}")`) and posted to the gateway.
async fn stripe_pay(session: &str) -> Result<(), String> {
    let env = |name: &str| config::required(&ProcessEnv, name).map_err(|e| e.to_string());
    let (base, key, secret, url) = (
        env("PARLEY_STRIPE_API_BASE")?,
        env("PARLEY_STRIPE_SECRET_KEY")?,
        env("STRIPE_WEBHOOK_SECRET")?,
        env("PARLEY_URL")?,
    );
    let http = reqwest::Client::new();
    let paid = http
        .post(format!("{}/_stub/checkout/sessions/{session}/pay", base.trim_end_matches('/')))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| format!("the Stripe stub did not answer: {e}"))?;
    let status = paid.status();
    let body: serde_json::Value = paid.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("the Stripe stub refused: {body}"));
    }
    for event in body["data"].as_array().cloned().unwrap_or_default() {
        let payload = event.to_string();
        let signature = parley_local::stripe_stub::sign(&payload, &secret, chrono::Utc::now().timestamp());
        let delivered = http
            .post(format!("{url}/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(payload)
            .send()
            .await
            .map_err(|e| format!("the gateway did not answer: {e}"))?;
        println!(
            "{} {} -> {}",
            event["type"].as_str().unwrap_or("?"),
            event["id"].as_str().unwrap_or("?"),
            delivered.status()
        );
    }
    Ok(())
}

/// Listens on `addr` for a local provider stub, writes the bound port to `port_file` (so a
/// script can ask for port 0) and says where it listens.
async fn listen_announced(
    addr: SocketAddr,
    port_file: Option<PathBuf>,
    what: &str,
) -> Result<tokio::net::TcpListener, String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(file) = port_file {
        std::fs::write(&file, bound.port().to_string()).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    eprintln!("parley-local: {what} on http://{bound}");
    Ok(listener)
}
