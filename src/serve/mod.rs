//! `voicegate serve`: live calls over a SIP trunk. Thin drivers around the
//! sans-IO parts: the signalling task runs the SIP user agent
//! ([`crate::sip::UserAgent`]); each answered call is a task that runs the
//! same front end and engine as replay on its RTP; one inference thread
//! scores every call's windows in batches.

mod agents;
mod call;
mod crm;
mod http;
pub(crate) mod media;
mod ports;
mod queues;
mod scorer;
mod signalling;
mod tcp;
mod webrtc;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};

use crate::audio::{PromptError, PromptLibrary};
use crate::callcore::{
    announcement_prompts, AngerSetup, EventSink, FrontEnd, HandoffSettings, JsonLines, KeywordSetup,
};
use crate::config::{ConfigError, GatewayConfig, RegisterSettings, RtpSettings};
use crate::dashboard::LiveCalls;
use crate::engine::EngineConfig;
use crate::infer::{InferError, KeywordModel, WindowModel};
use crate::menu::{self, Menu};
use crate::metrics::Metrics;
use crate::models;
use crate::sip::{AdmissionPolicy, AuthPolicy, Registration, UserAgent};
use crate::store::{Store, StoreSink};

use agents::AgentDesk;
pub use ports::PortPool;
use queues::QueueBoard;
use scorer::Priority;
pub use signalling::{framed_length, MAX_MESSAGE};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path}: {source}")]
    Prompt { path: PathBuf, source: PromptError },
    #[error(transparent)]
    Model(#[from] InferError),
    #[error("{config}: cannot listen for SIP on {transport} {addr}: {source} (stop whatever holds the port, or set sip.listen)")]
    Listen {
        config: PathBuf,
        transport: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{config}: sip.register.registrar {registrar}: cannot resolve its address (check the host name, or give an IP address)")]
    Registrar { config: PathBuf, registrar: String },
    #[error("{config}: {source}")]
    Store {
        config: PathBuf,
        source: crate::store::StoreError,
    },
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
}

impl ServeError {
    /// Configuration and start-up problems are the user's to fix: exit 2.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, ServeError::Runtime(_))
    }
}

/// Longest a new call's history lookup may hold up signalling: past it the
/// caller counts as new (the store is slow or restarting).
const HISTORY_WAIT: Duration = Duration::from_millis(200);

/// What every call shares: configuration, prompts, the models' inference
/// threads, the ports, the event sinks.
pub struct Shared {
    engine: Arc<EngineConfig>,
    menu: Option<Arc<Menu>>,
    prompts: PromptLibrary,
    prompt_lengths: Arc<HashMap<String, Duration>>,
    /// Queue name → Refer-To URI; routing and menus were checked against
    /// `[queues]` at start-up, so every target the engine names has one.
    queues: Arc<HashMap<String, String>>,
    anger_scorer: scorer::Scorer,
    anger: AngerSetup,
    keyword_scorer: scorer::Scorer,
    keywords: KeywordModel,
    rtp: RtpSettings,
    handoff: HandoffSettings,
    ports: PortPool,
    sinks: Vec<Arc<dyn EventSink>>,
    /// The records: written by this sink, read for callers' history.
    records: Arc<StoreSink>,
    history: Store,
    repeat_window: Duration,
    /// Calls in the window that make a repeat caller: more are not counted.
    repeat_calls: u32,
    /// Where each call is recorded, if calls are.
    recordings: Option<PathBuf>,
    /// The prompt that tells callers they are recorded.
    notice: Option<String>,
    /// Asked whether a verified caller is a VIP.
    crm: Option<crm::Crm>,
    /// The one set of counters, kept across reloads.
    metrics: Arc<Metrics>,
    /// The callers waiting for an agent, kept across reloads.
    queue_board: Arc<QueueBoard>,
    /// The dashboard's view of the calls up, kept across reloads.
    live: Arc<LiveCalls>,
    /// The agents answering in the browser, kept across reloads.
    agent_desk: Arc<AgentDesk>,
}

/// What serve keeps across configuration reloads.
#[derive(Clone)]
struct Kept {
    metrics: Arc<Metrics>,
    queue_board: Arc<QueueBoard>,
    live: Arc<LiveCalls>,
    agent_desk: Arc<AgentDesk>,
}

impl Shared {
    fn kept(&self) -> Kept {
        Kept {
            metrics: self.metrics.clone(),
            queue_board: self.queue_board.clone(),
            live: self.live.clone(),
            agent_desk: self.agent_desk.clone(),
        }
    }
}

impl Shared {
    /// Answered calls from `caller` within the repeat window (0 if the
    /// store cannot say: a call is never refused for it).
    fn recent_calls(&self, caller: &str) -> u32 {
        self.history
            .recent_calls(
                caller,
                (std::time::SystemTime::now(), self.repeat_window),
                self.repeat_calls,
                HISTORY_WAIT,
            )
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "caller history unavailable");
                0
            })
    }

    /// Says how many windows the models had no time for, if any.
    fn report_skipped_windows(&self) {
        let (anger, keywords) = (self.anger_scorer.skipped(), self.keyword_scorer.skipped());
        if anger + keywords > 0 {
            eprintln!("voicegate: inference fell behind: {anger} anger and {keywords} keyword windows skipped (see scoring.queue_windows)");
        }
    }

    /// A new call's audio front end.
    fn front_end(&self) -> FrontEnd {
        let keywords = KeywordSetup::of_model(&self.keywords);
        FrontEnd::new(self.anger.clone(), Some(keywords))
    }
}

/// Options of `voicegate serve` beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Exit after this many calls have ended.
    pub calls: Option<u64>,
}

/// Loads everything a call needs (failing early on any problem), binds the
/// SIP sockets, and serves calls until Ctrl-C or `options.calls` calls.
pub fn serve(config: &GatewayConfig, options: ServeOptions) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let metrics = Arc::new(Metrics::default());
    let expected_wait = Duration::from_secs_f64(config.transfer.expected_wait_s);
    let live = Arc::new(LiveCalls::default());
    let kept = Kept {
        queue_board: QueueBoard::new(expected_wait, metrics.clone()),
        metrics: metrics.clone(),
        agent_desk: AgentDesk::new(live.clone(), agents::RING_FOR),
        live,
    };
    let shared = Arc::new(load_shared(config, kept.clone())?);
    runtime.block_on(async {
        let listen = config.sip.listen;
        let listen_error = |transport, source| ServeError::Listen {
            config: config.source.clone(),
            transport,
            addr: listen,
            source,
        };
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|e| listen_error("UDP", e))?;
        let tcp = TcpListener::bind(listen)
            .await
            .map_err(|e| listen_error("TCP", e))?;
        let advertised =
            SocketAddr::new(config.sip.advertise.unwrap_or(listen.ip()), listen.port());
        let ring = Duration::from_secs_f64(config.sip.ring_s);
        let mut ua = UserAgent::new(advertised, &config.sip.user, ring);
        apply_sip_settings(&mut ua, config);
        if let Some(register) = &config.sip.register {
            ua.register(Duration::ZERO, registration(config, register).await?);
        }
        if config.metrics.enabled {
            start_metrics(config, metrics).await;
        }
        let (browsers_tx, browsers_rx) = tokio::sync::mpsc::unbounded_channel();
        if config.http.enabled {
            start_dashboard(config, &kept, browsers_tx).await?;
        }
        if let Some(retention) = config.recording_retention() {
            keep_recordings_for(config.recording.dir.clone(), retention);
        }
        eprintln!(
            "voicegate: listening for SIP on udp and tcp {listen}; RTP on {} ports {}-{}",
            config.rtp.address, config.rtp.ports[0], config.rtp.ports[1]
        );
        let mut signalling =
            signalling::Signalling::new(ua, udp, shared, config.clone(), options.calls);
        signalling.listen_tcp(tcp);
        signalling.accept_browsers(browsers_rx);
        signalling.run().await;
        Ok(())
    })
}

/// The `[sip]` settings the user agent takes at start and on every reload.
fn apply_sip_settings(ua: &mut UserAgent, config: &GatewayConfig) {
    let product = config.sip.product.trim();
    ua.set_product((!product.is_empty()).then(|| product.to_string()));
    ua.set_max_calls(config.sip.max_calls);
    ua.set_max_transactions(config.sip.max_transactions);
    ua.set_admission(AdmissionPolicy {
        trusted: config.sip.trusted.clone(),
        untrusted_invites: config.sip.untrusted_invites,
        rate_per_s: config.sip.source_rate,
        burst: config.sip.source_burst,
        ban: Duration::from_secs_f64(config.sip.ban_s),
        ..AdmissionPolicy::default()
    });
    ua.set_auth(config.sip.auth.as_ref().map(|auth| AuthPolicy {
        realm: auth.realm.clone(),
        users: auth.users.clone(),
        nonce_lifetime: Duration::from_secs_f64(auth.nonce_s),
        max_failures: auth.max_failures,
    }));
}

/// SIGHUP: the configuration file read again, with its menu, prompts and
/// models, for the calls that come from now on. `current` names the file.
fn reload(current: &GatewayConfig, kept: Kept) -> Result<(GatewayConfig, Shared), String> {
    if !current.source.is_file() {
        return Err(format!(
            "{} is not a file: serve runs on the built-in configuration (start it with --config FILE to reload one)",
            current.source.display()
        ));
    }
    let config = GatewayConfig::load(&current.source).map_err(|e| e.to_string())?;
    let shared = load_shared(&config, kept).map_err(|e| e.to_string())?;
    Ok((config, shared))
}

/// The settings a reload cannot change: sockets bound, the user agent's
/// identity and its registration, the TCP tasks' limits.
fn needs_restart(old: &GatewayConfig, new: &GatewayConfig) -> Vec<&'static str> {
    let (old, new) = (&old.sip, &new.sip);
    [
        ("sip.listen", old.listen != new.listen),
        ("sip.advertise", old.advertise != new.advertise),
        ("sip.user", old.user != new.user),
        ("sip.ring_s", old.ring_s != new.ring_s),
        ("sip.register", old.register != new.register),
        (
            "sip.tcp_connections",
            old.tcp_connections != new.tcp_connections,
        ),
        (
            "sip.tcp_per_source",
            old.tcp_per_source != new.tcp_per_source,
        ),
        ("sip.tcp_idle_s", old.tcp_idle_s != new.tcp_idle_s),
        ("sip.tcp_read_s", old.tcp_read_s != new.tcp_read_s),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

fn tcp_limits(config: &GatewayConfig) -> tcp::TcpLimits {
    let sip = &config.sip;
    tcp::TcpLimits {
        connections: sip.tcp_connections,
        per_source: sip.tcp_per_source,
        idle: Duration::from_secs_f64(sip.tcp_idle_s),
        read: Duration::from_secs_f64(sip.tcp_read_s),
        trusted: sip.trusted.clone(),
    }
}

/// Resolves the registrar's host (the one place serve may use DNS).
async fn registration(
    config: &GatewayConfig,
    register: &RegisterSettings,
) -> Result<Registration, ServeError> {
    let host_port = register.registrar.trim_start_matches("sip:");
    let host_port = host_port.split([';', '?']).next().unwrap_or(host_port);
    let host_port = host_port
        .rsplit_once('@')
        .map_or(host_port, |(_, host)| host);
    let with_port = if host_port.contains(':') && !host_port.ends_with(']') {
        host_port.to_string()
    } else {
        format!("{host_port}:5060")
    };
    let addr = tokio::net::lookup_host(&with_port)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ServeError::Registrar {
            config: config.source.clone(),
            registrar: register.registrar.clone(),
        })?;
    Ok(Registration {
        registrar: register.registrar.clone(),
        addr,
        user: register.user.clone(),
        password: register.password.clone(),
        expires: register.expires,
    })
}

/// Removes recordings older than `retention` now and every hour after.
fn keep_recordings_for(dir: PathBuf, retention: Duration) {
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(Duration::from_secs(3600));
        loop {
            hourly.tick().await;
            let (dir, age) = (dir.clone(), retention);
            let removed =
                tokio::task::spawn_blocking(move || crate::recording::remove_older_than(&dir, age))
                    .await;
            match removed {
                Ok(Ok(0)) => {}
                Ok(Ok(count)) => tracing::info!(count, "recordings past their retention removed"),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "recordings past their retention could not be removed")
                }
                Err(_) => return,
            }
        }
    });
}

/// The dashboard and its API on `[http] listen`; a port already taken costs
/// the dashboard, not the calls.
async fn start_dashboard(
    config: &GatewayConfig,
    kept: &Kept,
    browsers: tokio::sync::mpsc::UnboundedSender<webrtc::FromBrowser>,
) -> Result<(), ServeError> {
    let store_error = |source| ServeError::Store {
        config: config.source.clone(),
        source,
    };
    let store = Store::open(&config.store_url().map_err(store_error)?).map_err(store_error)?;
    let token = config.http.token.trim();
    let (http, loopback) = (&config.http, config.http.listen.ip().is_loopback());
    let live = kept.live.clone();
    let door = http
        .webrtc
        .then(|| webrtc::WebRtcDoor::new(browsers, http.max_browser_calls, loopback, live.clone()))
        .and_then(|door| {
            door.map_err(|error| eprintln!("voicegate: warning: browser calls are off: {error}"))
                .ok()
        });
    let dashboard = Arc::new(http::Dashboard {
        door,
        agent_desk: kept.agent_desk.clone(),
        live,
        store: Arc::new(store),
        repeat_window: config.repeat_window(),
        thresholds: config.alarm_thresholds(),
        token: (!token.is_empty()).then(|| token.to_string()),
    });
    let listen = config.http.listen;
    let bound = http::serve_dashboard(listen, dashboard).await;
    announce(config, ("the dashboard", "[http]", "/"), listen, bound);
    Ok(())
}

/// `GET /metrics`; a port already taken costs the metrics, not the calls.
async fn start_metrics(config: &GatewayConfig, metrics: Arc<Metrics>) {
    let listen = config.metrics.listen;
    let bound = http::serve_metrics(listen, metrics).await;
    announce(config, ("metrics", "[metrics]", "/metrics"), listen, bound);
}

/// Says where an HTTP listener (`what`, configured in `section`, serving
/// `path`) is, or why it is not; the calls go on either way.
fn announce(
    config: &GatewayConfig,
    (what, section, path): (&str, &str, &str),
    listen: SocketAddr,
    bound: std::io::Result<SocketAddr>,
) {
    match bound {
        Ok(bound) => eprintln!("voicegate: {what} on http://{bound}{path}"),
        Err(error) => eprintln!(
            "voicegate: warning: {}: cannot serve {what} on {listen}: {error} (set {section} listen, or enabled = false); calls go on",
            config.source.display()
        ),
    }
}

/// One keyword model for each of `scoring.keyword_threads`: `keywords`'
/// own, then the same file loaded again for each further thread.
fn keyword_instances(
    config: &GatewayConfig,
    keywords: &KeywordModel,
) -> Result<Vec<Arc<dyn scorer::RowModel>>, ServeError> {
    let mut instances: Vec<Arc<dyn scorer::RowModel>> = vec![keywords.model().clone()];
    for _ in 1..config.scoring.keyword_threads {
        instances.push(Arc::new(WindowModel::load(&config.keyword_model_path())?));
    }
    Ok(instances)
}

fn load_shared(config: &GatewayConfig, kept: Kept) -> Result<Shared, ServeError> {
    let Kept {
        metrics,
        queue_board,
        live,
        agent_desk,
    } = kept;
    let menu = config.load_menu()?;
    let mut names: Vec<String> = menu::prompt_texts(&menu)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.push(config.transfer.sorry_prompt.clone());
    if config.transfer.announce_place {
        names.extend(announcement_prompts());
    }
    names.extend(config.recording_notice());
    let prompts_dir = config.prompts_dir();
    let prompts =
        PromptLibrary::load(&prompts_dir, names.iter().map(String::as_str)).map_err(|source| {
            ServeError::Prompt {
                path: config.source.clone(),
                source,
            }
        })?;
    let anger = Arc::new(models::anger_model(config)?);
    let anger_setup = AngerSetup::of_model(&anger, config.scoring.smoothing)
        .map_err(|e| InferError::Run(format!("{}: {e}", config.anger_model_path().display())))?;
    let keywords = models::keyword_model(config)?;
    let queue = config.scoring.queue_windows;
    let anger_scorer =
        scorer::Scorer::start(vec![anger.clone()], Priority::Calls, queue, metrics.clone())
            .map_err(ServeError::Runtime)?;
    let keyword_scorer = scorer::Scorer::start(
        keyword_instances(config, &keywords)?,
        Priority::BelowCalls,
        queue,
        metrics.clone(),
    )
    .map_err(ServeError::Runtime)?;
    let handoff = HandoffSettings {
        sorry_prompt: config.transfer.sorry_prompt.clone(),
        retry: Duration::from_secs_f64(config.transfer.retry_s),
        announce_place: config.transfer.announce_place,
        ..HandoffSettings::default()
    };
    let store_error = |source| ServeError::Store {
        config: config.source.clone(),
        source,
    };
    let store_url = config.store_url().map_err(store_error)?;
    let counted = metrics.clone();
    let on_failure = Box::new(move || counted.count_error("store_write"));
    let records = Arc::new(
        StoreSink::start(&store_url, config.record_settings(), on_failure).map_err(store_error)?,
    );
    let history = Store::open(&store_url).map_err(store_error)?;
    Ok(Shared {
        engine: config.engine_config(),
        menu: Some(menu),
        prompt_lengths: Arc::new(prompts.lengths()),
        prompts,
        queues: Arc::new(config.queue_uris()),
        anger_scorer,
        anger: anger_setup,
        keyword_scorer,
        keywords,
        rtp: config.rtp.clone(),
        handoff,
        ports: PortPool::new(config.rtp.address, config.rtp.ports),
        sinks: vec![
            Arc::new(JsonLines::new(std::io::stdout())),
            records.clone(),
            metrics.clone(),
            live.clone(),
        ],
        records,
        history,
        repeat_window: config.repeat_window(),
        repeat_calls: config.policy.repeat_caller_calls,
        recordings: config.record_settings().recordings,
        notice: config.recording_notice(),
        crm: crm::Crm::new(&config.crm),
        metrics,
        queue_board,
        live,
        agent_desk,
    })
}
