//! DTLS on a `RustENetConnection`: the `dtls_*` methods and what they read from `TLSOptions`.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::classes::{CryptoKey, TlsOptions, X509Certificate};
use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::{DtlsClientOptions, DtlsError, DtlsServerOptions};

use super::RustENetConnection;

#[godot_api(secondary)]
impl RustENetConnection {
    /// Encrypts all traffic of this server host with DTLS, using `server_options` from
    /// `TLSOptions.server`. Call it right after `create_host_bound` (or
    /// `RustENetPeer.create_server`), before clients connect. Compatible with
    /// `ENetConnection.dtls_server_setup`. Needs Godot 4.3 or later. Returns `OK`;
    /// `ERR_UNCONFIGURED` if the host does not exist; `ERR_INVALID_PARAMETER` for missing or
    /// unusable options; `FAILED` if DTLS is already on or cannot be set up. Errors also print a
    /// message.
    #[func]
    pub fn dtls_server_setup(&mut self, server_options: Option<Gd<TlsOptions>>) -> Error {
        if !self.is_active() {
            godot_error!("RustENetConnection.dtls_server_setup: the host is not active");
            return Error::ERR_UNCONFIGURED;
        }
        let Some(options) = server_options else {
            godot_error!("RustENetConnection.dtls_server_setup: the server options are null");
            return Error::ERR_INVALID_PARAMETER;
        };
        let Some(tls) = read_tls_options(&options) else {
            return Error::FAILED;
        };
        if !tls.is_server {
            godot_error!(
                "RustENetConnection.dtls_server_setup: use TLSOptions.server(key, certificate)"
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        let options = DtlsServerOptions::new(tls.certificate_pem, tls.private_key_pem);
        let result = self.with_host(|udp| udp.dtls_server_setup(options));
        dtls_result("dtls_server_setup", result)
    }

    /// Encrypts all traffic of this client host with DTLS. `hostname` is the name the server's
    /// certificate must carry, unless `client_options` (`TLSOptions.client` or
    /// `TLSOptions.client_unsafe`) says otherwise. Call it before the first packet leaves, for
    /// example right after `RustENetPeer.create_client`. Compatible with
    /// `ENetConnection.dtls_client_setup`. Needs Godot 4.3 or later. Returns the same codes as
    /// `dtls_server_setup`.
    #[func]
    pub fn dtls_client_setup(
        &mut self,
        hostname: GString,
        // Godot declares a null default and then refuses null; gdext 0.5 cannot declare object
        // defaults, so the argument is required here.
        client_options: Option<Gd<TlsOptions>>,
    ) -> Error {
        if !self.is_active() {
            godot_error!("RustENetConnection.dtls_client_setup: the host is not active");
            return Error::ERR_UNCONFIGURED;
        }
        let Some(options) = client_options else {
            godot_error!(
                "RustENetConnection.dtls_client_setup: the client options are null; use TLSOptions.client()"
            );
            return Error::ERR_INVALID_PARAMETER;
        };
        let Some(tls) = read_tls_options(&options) else {
            return Error::FAILED;
        };
        if tls.is_server {
            godot_error!("RustENetConnection.dtls_client_setup: use TLSOptions.client()");
            return Error::ERR_INVALID_PARAMETER;
        }
        let hostname = if tls.common_name_override.is_empty() {
            hostname.to_string()
        } else {
            tls.common_name_override
        };
        let options = DtlsClientOptions {
            hostname,
            trusted_certificates_pem: tls.trusted_chain_pem,
            unsafe_skip_verification: tls.is_unsafe_client,
        };
        let result = self.with_host(|udp| udp.dtls_client_setup(options));
        dtls_result("dtls_client_setup", result)
    }

    /// On a DTLS server, stops (if `refuse` is `true`) or resumes accepting new DTLS sessions. Has
    /// no effect on hosts without DTLS; use `MultiplayerPeer.refuse_new_connections` for a
    /// `RustENetPeer`.
    #[func]
    pub fn refuse_new_connections(&mut self, refuse: bool) {
        self.with_host(|udp| udp.set_dtls_refuse_new_connections(refuse));
    }
}

/// What `TLSOptions` holds, read through the getters Godot 4.3 added (called dynamically, as the
/// addon is built against the 4.2 API).
struct TlsSettings {
    is_server: bool,
    is_unsafe_client: bool,
    common_name_override: String,
    certificate_pem: String,
    private_key_pem: String,
    trusted_chain_pem: Option<String>,
}

fn read_tls_options(options: &Gd<TlsOptions>) -> Option<TlsSettings> {
    let mut options = options.clone();
    if !options.has_method("get_private_key") {
        godot_error!("RustENetConnection: DTLS needs Godot 4.3 or later (to read TLSOptions)");
        return None;
    }
    let mut get = |getter: &str| options.call(getter, &[]);
    let certificate_pem = |value: Variant| {
        let certificate = value.try_to::<Option<Gd<X509Certificate>>>().ok().flatten();
        certificate.map(|mut c| c.save_to_string().to_string())
    };
    let private_key = get("get_private_key")
        .try_to::<Option<Gd<CryptoKey>>>()
        .ok()
        .flatten();
    Some(TlsSettings {
        is_server: get("is_server").try_to::<bool>().unwrap_or(false),
        is_unsafe_client: get("is_unsafe_client").try_to::<bool>().unwrap_or(false),
        common_name_override: get("get_common_name_override")
            .try_to::<GString>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        certificate_pem: certificate_pem(get("get_own_certificate")).unwrap_or_default(),
        private_key_pem: private_key
            .map(|mut k| k.save_to_string().to_string())
            .unwrap_or_default(),
        trusted_chain_pem: certificate_pem(get("get_trusted_ca_chain")),
    })
}

/// Maps a driver DTLS setup result to Godot's codes and messages.
fn dtls_result(what: &str, result: Option<Result<(), DtlsError>>) -> Error {
    match result {
        Some(Ok(())) => Error::OK,
        Some(Err(e)) => {
            godot_error!("RustENetConnection.{what}: {e}");
            match e {
                DtlsError::Unavailable | DtlsError::AlreadyEnabled | DtlsError::Setup(_) => {
                    Error::FAILED
                }
                _ => Error::ERR_INVALID_PARAMETER,
            }
        }
        None => Error::ERR_UNCONFIGURED,
    }
}
