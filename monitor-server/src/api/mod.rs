//! HTTP: the central monitor page, the JSON API and the live WebSocket.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /` | anyone | the central monitor page (it logs in through the API) |
//! | `GET /login?code=…` | anyone | redeems a one-time login code, sets the session cookie |
//! | `POST /api/v1/login` | anyone | username + password → session cookie (and CSRF token) |
//! | `POST /api/v1/logout` | staff | ends the session |
//! | `GET /api/v1/me` | staff | who am I, CSRF token |
//! | `GET /api/v1/streams` | clinicians, admin | per-stream accounting with the bound patient |
//! | `GET /api/v1/streams/unassigned` | staff | streams bound to nobody (no patient data) |
//! | `GET /api/v1/beds` | clinicians | beds with patient, binding and live status |
//! | `PUT /api/v1/beds/{bed}` | admin | create or reorder a bed |
//! | `GET /api/v1/admissions` | clinicians | admitted patients |
//! | `POST /api/v1/admissions` | clinicians | admit a patient to a bed |
//! | `POST /api/v1/admissions/{id}/discharge` | clinicians | discharge (ends the binding) |
//! | `PUT /api/v1/admissions/{id}/binding` | clinicians | bind a device stream to the patient |
//! | `DELETE /api/v1/admissions/{id}/binding` | clinicians | unbind |
//! | `GET /api/v1/admissions/{id}/history` | clinicians | stored trace for a time range, gaps preserved |
//! | `GET /api/v1/live` | clinicians | WebSocket live feed |
//! | `GET /api/v1/alarms` | clinicians | alarm history, newest first |
//! | `POST /api/v1/alarms/{id}/acknowledge` | clinicians | acknowledge an alarm (audited) |
//! | `GET /api/v1/gateways` | staff | gateway presence |
//! | `GET /api/v1/ingest` | staff | ingest and fan-out counters, rejections |
//! | `GET /api/v1/audit` | admin | the audit log, newest first |
//! | `GET/POST /api/v1/staff` | admin | staff accounts |
//! | `POST /api/v1/login-codes` | admin | one-time login code for a staff member |
//! | `GET /healthz` | anyone | liveness (no data) |
//! | `GET /api/openapi.json` | anyone | the OpenAPI document of the PHR, clinician and FHIR routes |
//!
//! The mothers' PHR API (`/phr/v1`), the clinicians' PHR routes (`/api/v1/phr/…`, `/api/v1/clinics`)
//! and the FHIR R4 read API (`/fhir/r4`) are listed in [`crate::phr`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post, put};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::Core;

pub mod alarms;
pub mod handlers;
pub mod session;
pub mod web;
pub mod ws;

/// Patient data must not linger in caches.
fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// Builds the router over the shared core.
pub fn router(core: Arc<Core>) -> Router {
    let api = Router::new()
        .route("/login", post(handlers::login))
        .route("/logout", post(handlers::logout))
        .route("/me", get(handlers::me))
        .route("/streams", get(handlers::streams))
        .route("/streams/unassigned", get(handlers::unassigned_streams))
        .route("/beds", get(handlers::beds))
        .route("/beds/{bed}", put(handlers::put_bed))
        .route("/admissions", get(handlers::admissions).post(handlers::admit))
        .route("/admissions/{id}/discharge", post(handlers::discharge))
        .route("/admissions/{id}/binding", put(handlers::bind).delete(handlers::unbind))
        .route("/admissions/{id}/history", get(handlers::history))
        .route("/live", get(ws::live))
        .route("/alarms", get(alarms::list))
        .route("/alarms/{id}/acknowledge", post(alarms::acknowledge))
        .route("/gateways", get(handlers::gateways))
        .route("/ingest", get(handlers::ingest))
        .route("/audit", get(handlers::audit_log))
        .route("/staff", get(handlers::list_staff).post(handlers::create_staff))
        .route("/login-codes", post(handlers::create_login_code))
        .merge(crate::phr::staff_routes())
        .fallback(handlers::api_not_found)
        .layer(no_store());
    Router::new()
        .route("/", get(web::index))
        .route("/app.js", get(web::app_js))
        .route("/style.css", get(web::style_css))
        .route("/favicon.svg", get(web::favicon))
        .route("/login", get(handlers::login_with_code))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/openapi.json", get(crate::phr::openapi))
        .nest("/api/v1", api)
        .nest("/phr/v1", crate::phr::mother_routes().layer(no_store()))
        .nest("/fhir/r4", crate::phr::fhir_routes().layer(no_store()))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .with_state(core)
}

/// Serves HTTP on `listener` until `shutdown` resolves; open WebSockets are told and closed.
pub async fn run(
    listener: tokio::net::TcpListener,
    core: Arc<Core>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = core.shutdown.clone();
    let app = router(core).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Viewers watch this token and close their sockets, so the shutdown completes.
            token.cancel();
        })
        .await
}
