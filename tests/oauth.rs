//! `oauth::TokenSource` against a real local token endpoint (axum on
//! 127.0.0.1:0) that counts requests, records their form bodies and answers
//! what each test scripts. Real Google / Microsoft endpoints are not reachable
//! from the test machine; this fake speaks RFC 6749 §5 as they do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Form, Json, Router};
use rebound::config::{OAuth2Settings, Secret};
use rebound::oauth::{Error, TokenSource};
use serde_json::{Value, json};

type Params = Vec<(String, String)>;
type Reply = Box<dyn Fn(usize, &Params) -> Response + Send + Sync>;

/// The fake token endpoint's shared state.
struct Fake {
    /// Requests to /token so far.
    hits: AtomicUsize,
    /// Requests to /elsewhere (the target of the redirect test).
    elsewhere_hits: AtomicUsize,
    /// Form bodies received at /token, in order.
    bodies: Mutex<Vec<Params>>,
    /// How long /token waits before answering (`Duration::MAX`: never).
    delay: Duration,
    /// The answer to request number n (0-based) with these parameters.
    reply: Reply,
}

impl Fake {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    fn body(&self, n: usize) -> Params {
        self.bodies.lock().unwrap()[n].clone()
    }
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn token(State(fake): State<Arc<Fake>>, Form(params): Form<Params>) -> Response {
    let n = fake.hits.fetch_add(1, Ordering::SeqCst);
    fake.bodies.lock().unwrap().push(params.clone());
    if fake.delay == Duration::MAX {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(fake.delay).await;
    (fake.reply)(n, &params)
}

async fn elsewhere(State(fake): State<Arc<Fake>>) -> Response {
    fake.elsewhere_hits.fetch_add(1, Ordering::SeqCst);
    ok_token("AT-from-elsewhere", 3600)
}

/// Starts the fake; returns its /token URL.
async fn start(delay: Duration, reply: Reply) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        hits: AtomicUsize::new(0),
        elsewhere_hits: AtomicUsize::new(0),
        bodies: Mutex::new(Vec::new()),
        delay,
        reply,
    });
    let app = Router::new()
        .route("/token", post(token))
        // Any method: a client following a 302 would switch POST to GET.
        .route("/elsewhere", any(elsewhere))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/token"), fake)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn ok_token(token: &str, expires_in: u64) -> Response {
    answer(
        StatusCode::OK,
        json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}),
    )
}

/// Numbered tokens: AT-1, AT-2, … one per request.
fn numbered(expires_in: u64) -> Reply {
    Box::new(move |n, _| ok_token(&format!("AT-{}", n + 1), expires_in))
}

fn settings(url: &str, secret: Option<&str>) -> OAuth2Settings {
    OAuth2Settings {
        client_id: "client-123.apps.example".into(),
        client_secret: secret.map(Secret::new),
        refresh_token: Secret::new("RT-config"),
        token_url: url.into(),
        scopes: vec![
            "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
            "offline_access".into(),
        ],
        mechanism: None,
    }
}

fn source(url: &str) -> TokenSource {
    TokenSource::new(settings(url, Some("CS-secret")), None).unwrap()
}

/// `expires_at` is `secs` after some instant between `before` and now.
fn assert_expires_in(expires_at: Instant, before: Instant, secs: u64) {
    let lifetime = Duration::from_secs(secs);
    assert!(expires_at >= before + lifetime, "expires too early");
    assert!(expires_at <= Instant::now() + lifetime, "expires too late");
}

fn assert_transient(result: Result<impl std::fmt::Debug, Error>, needle: &str) -> String {
    match result {
        Err(Error::Transient(message)) => {
            assert!(
                message.contains(needle),
                "`{message}` does not mention `{needle}`"
            );
            message
        }
        other => panic!("expected Transient mentioning `{needle}`, got {other:?}"),
    }
}

#[tokio::test]
async fn refresh_sends_the_grant_and_returns_the_token() {
    let (url, fake) = start(Duration::ZERO, numbered(3600)).await;
    let src = source(&url);
    let before = Instant::now();
    let token = src.access_token().await.unwrap();
    assert_eq!(token.token.expose(), "AT-1");
    assert_expires_in(token.expires_at, before, 3600);

    let body = fake.body(0);
    assert_eq!(param(&body, "grant_type"), Some("refresh_token"));
    assert_eq!(param(&body, "refresh_token"), Some("RT-config"));
    assert_eq!(param(&body, "client_id"), Some("client-123.apps.example"));
    assert_eq!(param(&body, "client_secret"), Some("CS-secret"));
    assert_eq!(
        param(&body, "scope"),
        Some("https://outlook.office.com/IMAP.AccessAsUser.All offline_access")
    );
}

#[tokio::test]
async fn a_public_client_sends_no_secret() {
    let (url, fake) = start(Duration::ZERO, numbered(3600)).await;
    let src = TokenSource::new(settings(&url, None), None).unwrap();
    src.access_token().await.unwrap();
    let body = fake.body(0);
    assert_eq!(param(&body, "client_id"), Some("client-123.apps.example"));
    assert_eq!(param(&body, "client_secret"), None);
}

#[tokio::test]
async fn the_cached_token_is_reused() {
    let (url, fake) = start(Duration::ZERO, numbered(3600)).await;
    let src = source(&url);
    let first = src.access_token().await.unwrap();
    let second = src.access_token().await.unwrap();
    assert_eq!(second.token.expose(), first.token.expose());
    assert_eq!(second.expires_at, first.expires_at);
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_on_the_next_call() {
    let (url, fake) = start(Duration::ZERO, numbered(30)).await;
    let src = source(&url);
    // A fresh 30 s token is still handed out once…
    assert_eq!(src.access_token().await.unwrap().token.expose(), "AT-1");
    // …but inside the 60 s margin the next call refreshes.
    assert_eq!(src.access_token().await.unwrap().token.expose(), "AT-2");
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn a_missing_expires_in_means_one_hour() {
    let reply: Reply = Box::new(|_, _| {
        answer(
            StatusCode::OK,
            json!({"access_token": "AT", "token_type": "bearer"}),
        )
    });
    let (url, _fake) = start(Duration::ZERO, reply).await;
    let before = Instant::now();
    let token = source(&url).access_token().await.unwrap();
    assert_expires_in(token.expires_at, before, 3600);
}

#[tokio::test]
async fn invalidate_forces_a_refresh_with_the_scope_again() {
    let (url, fake) = start(Duration::ZERO, numbered(3600)).await;
    let src = source(&url);
    assert_eq!(src.access_token().await.unwrap().token.expose(), "AT-1");
    src.invalidate();
    assert_eq!(src.access_token().await.unwrap().token.expose(), "AT-2");
    assert_eq!(fake.hits(), 2);
    // Microsoft needs the scope on every refresh, not only the first.
    assert_eq!(param(&fake.body(1), "scope"), param(&fake.body(0), "scope"));
    assert!(param(&fake.body(1), "scope").is_some());
}

#[tokio::test]
async fn a_rotated_refresh_token_is_surfaced_once_and_used_next() {
    let reply: Reply = Box::new(|n, _| match n {
        0 => answer(
            StatusCode::OK,
            json!({"access_token": "AT-1", "token_type": "Bearer", "expires_in": 3600,
                   "refresh_token": "RT-rotated"}),
        ),
        // Echoing the current refresh token is no rotation.
        _ => answer(
            StatusCode::OK,
            json!({"access_token": "AT-2", "token_type": "Bearer", "expires_in": 3600,
                   "refresh_token": "RT-rotated"}),
        ),
    });
    let (url, fake) = start(Duration::ZERO, reply).await;
    let src = source(&url);
    assert!(src.take_rotated_refresh_token().is_none());
    src.access_token().await.unwrap();
    assert_eq!(
        src.take_rotated_refresh_token()
            .map(|s| s.expose().to_owned()),
        Some("RT-rotated".to_owned())
    );
    assert!(src.take_rotated_refresh_token().is_none(), "taken twice");

    src.invalidate();
    src.access_token().await.unwrap();
    assert_eq!(param(&fake.body(0), "refresh_token"), Some("RT-config"));
    assert_eq!(param(&fake.body(1), "refresh_token"), Some("RT-rotated"));
    assert!(
        src.take_rotated_refresh_token().is_none(),
        "unchanged token reported"
    );
}

#[tokio::test]
async fn a_stored_refresh_token_wins_over_the_config() {
    let (url, fake) = start(Duration::ZERO, numbered(3600)).await;
    let src = TokenSource::new(
        settings(&url, Some("CS-secret")),
        Some(Secret::new("RT-stored")),
    )
    .unwrap();
    src.access_token().await.unwrap();
    assert_eq!(param(&fake.body(0), "refresh_token"), Some("RT-stored"));
}

#[tokio::test]
async fn invalid_grant_and_invalid_client_are_refused() {
    let reply: Reply = Box::new(|n, _| match n {
        0 => answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant",
                   "error_description": "AADSTS70008: The refresh token has expired"}),
        ),
        _ => answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"})),
    });
    let (url, _fake) = start(Duration::ZERO, reply).await;
    let src = source(&url);
    let error = src.access_token().await.unwrap_err();
    assert_eq!(
        error,
        Error::Refused {
            code: "invalid_grant".into(),
            description: Some("AADSTS70008: The refresh token has expired".into())
        }
    );
    assert!(error.to_string().contains("re-authorisation"), "{error}");
    assert!(matches!(
        src.access_token().await,
        Err(Error::Refused { code, description: None }) if code == "invalid_client"
    ));
}

#[tokio::test]
async fn server_errors_are_transient() {
    let reply: Reply = Box::new(|n, _| match n {
        0 => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        // A 5xx is transient even with an OAuth error code in its body.
        1 => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "invalid_grant"}),
        ),
        2 => answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "temporarily_unavailable"}),
        ),
        _ => ok_token("AT-ok", 3600),
    });
    let (url, _fake) = start(Duration::ZERO, reply).await;
    let src = source(&url);
    assert_transient(src.access_token().await, "HTTP 500");
    assert_transient(src.access_token().await, "HTTP 503");
    assert_transient(src.access_token().await, "temporarily_unavailable");
    // The next attempt succeeds: a transient failure leaves nothing behind.
    assert_eq!(src.access_token().await.unwrap().token.expose(), "AT-ok");
}

#[tokio::test]
async fn too_many_requests_is_transient_with_the_retry_hint() {
    let reply: Reply = Box::new(|_, _| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "120")],
            Json(json!({"error": "slow_down"})),
        )
            .into_response()
    });
    let (url, _fake) = start(Duration::ZERO, reply).await;
    let message = assert_transient(source(&url).access_token().await, "HTTP 429");
    assert!(message.contains("retry after 120"), "{message}");
}

#[tokio::test]
async fn unparsable_answers_are_transient() {
    let reply: Reply = Box::new(|n, _| match n {
        0 => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{not json",
        )
            .into_response(),
        1 => (StatusCode::OK, "<html>captive portal</html>").into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html")],
            "<h1>400</h1>",
        )
            .into_response(),
    });
    let (url, _fake) = start(Duration::ZERO, reply).await;
    let src = source(&url);
    assert_transient(src.access_token().await, "not a token response");
    assert_transient(src.access_token().await, "Content-Type");
    assert_transient(src.access_token().await, "not a token response");
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let src = source(&format!("http://127.0.0.1:{port}/token"));
    let started = Instant::now();
    assert_transient(src.access_token().await, "could not be reached");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_endpoint_that_never_answers_times_out_as_transient() {
    let (url, fake) = start(Duration::MAX, numbered(3600)).await;
    let src = source(&url).with_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let result = src.access_token().await;
    let took = started.elapsed();
    let message = assert_transient(result, "");
    assert!(
        message.contains("within 1000 ms") || message.contains("timed out"),
        "{message}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(fake.hits(), 1, "the request reached the endpoint");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let reply: Reply =
        Box::new(|_, _| (StatusCode::FOUND, [(header::LOCATION, "/elsewhere")]).into_response());
    let (url, fake) = start(Duration::ZERO, reply).await;
    let message = assert_transient(source(&url).access_token().await, "HTTP 302");
    assert!(
        message.contains("/elsewhere") && message.contains("not followed"),
        "{message}"
    );
    assert_eq!(fake.hits(), 1);
    assert_eq!(
        fake.elsewhere_hits.load(Ordering::SeqCst),
        0,
        "redirect followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_refresh() {
    let (url, fake) = start(Duration::from_millis(200), numbered(3600)).await;
    let src = Arc::new(source(&url));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let src = src.clone();
        tasks.spawn(async move { src.access_token().await });
    }
    let mut tokens = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        tokens.push(joined.unwrap().unwrap().token.expose().to_owned());
    }
    assert_eq!(tokens, vec!["AT-1".to_owned(); 10]);
    assert_eq!(fake.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_failure() {
    let reply: Reply = Box::new(|_, _| (StatusCode::BAD_GATEWAY, "upstream down").into_response());
    let (url, fake) = start(Duration::from_millis(200), reply).await;
    let src = Arc::new(source(&url));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let src = src.clone();
        tasks.spawn(async move { src.access_token().await });
    }
    while let Some(joined) = tasks.join_next().await {
        assert_transient(joined.unwrap(), "HTTP 502");
    }
    assert_eq!(fake.hits(), 1, "a failing endpoint was hit once per caller");
}

#[tokio::test]
async fn no_token_text_in_debug_or_messages() {
    let reply: Reply = Box::new(|n, params| match n {
        0 => answer(
            StatusCode::OK,
            json!({"access_token": "AT-SECRET-0", "token_type": "Bearer", "expires_in": 3600,
                   "refresh_token": "RT-SECRET-ROTATED"}),
        ),
        // A server that echoes what it was sent.
        1 => answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant",
                   "error_description": format!("token {} secret {} revoked",
                       param(params, "refresh_token").unwrap(),
                       param(params, "client_secret").unwrap())}),
        ),
        // A malformed success answer that carries a token.
        _ => answer(
            StatusCode::OK,
            json!({"access_token": "AT-SECRET-2", "token_type": "Bearer", "expires_in": "soon"}),
        ),
    });
    let (url, _fake) = start(Duration::ZERO, reply).await;
    let src = source(&url);
    let token = src.access_token().await.unwrap();
    src.invalidate();
    let refused = src.access_token().await.unwrap_err();
    assert!(matches!(refused, Error::Refused { .. }));
    let unparsable = src.access_token().await.unwrap_err();
    assert!(matches!(unparsable, Error::Transient(_)));

    let texts = [
        format!("{src:?}"),
        format!("{token:?}"),
        format!("{refused:?}"),
        refused.to_string(),
        format!("{unparsable:?}"),
        unparsable.to_string(),
    ];
    for text in &texts {
        for secret in ["AT-SECRET", "RT-SECRET", "RT-config", "CS-secret"] {
            assert!(!text.contains(secret), "`{secret}` leaked in `{text}`");
        }
    }
    assert!(texts[5].contains("field at `expires_in`"), "{}", texts[5]);
    assert!(
        texts[3].contains("token [redacted] secret [redacted] revoked"),
        "{}",
        texts[3]
    );
}

#[tokio::test]
async fn settings_that_would_leak_or_cannot_work_are_config_errors() {
    let plain = settings("http://auth.example.com/token", Some("CS-secret"));
    assert!(matches!(
        TokenSource::new(plain, None),
        Err(Error::Config(_))
    ));
    let garbage = settings("::not a url::", Some("CS-secret"));
    assert!(matches!(
        TokenSource::new(garbage, None),
        Err(Error::Config(_))
    ));
}
