//! Script arguments the class converts: `TLSOptions`, link simulation dictionaries and
//! directions, DTLS results as Godot error codes.

use godot::classes::{CryptoKey, TlsOptions, X509Certificate};
use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::{DtlsError, LinkConditions, LinkDirection};

use crate::settings;
use crate::simulation;

use super::RustENetConnection;

/// What `TLSOptions` holds, read through the getters Godot 4.3 added (called dynamically, as the
/// addon is built against the 4.2 API).
pub(super) struct TlsSettings {
    pub(super) is_server: bool,
    pub(super) is_unsafe_client: bool,
    pub(super) common_name_override: String,
    pub(super) certificate_pem: String,
    pub(super) private_key_pem: String,
    pub(super) trusted_chain_pem: Option<String>,
}

pub(super) fn read_tls_options(options: &Gd<TlsOptions>) -> Option<TlsSettings> {
    let mut options = options.clone();
    if !options.has_method("get_private_key") {
        godot_error!("RustENetConnection: DTLS needs Godot 4.3 or later (to read TLSOptions)");
        return None;
    }
    let certificate_pem = options
        .call("get_own_certificate", &[])
        .try_to::<Option<Gd<X509Certificate>>>()
        .ok()
        .flatten()
        .map(|mut c| c.save_to_string().to_string())
        .unwrap_or_default();
    let private_key_pem = options
        .call("get_private_key", &[])
        .try_to::<Option<Gd<CryptoKey>>>()
        .ok()
        .flatten()
        .map(|mut k| k.save_to_string().to_string())
        .unwrap_or_default();
    let trusted_chain_pem = options
        .call("get_trusted_ca_chain", &[])
        .try_to::<Option<Gd<X509Certificate>>>()
        .ok()
        .flatten()
        .map(|mut c| c.save_to_string().to_string());
    Some(TlsSettings {
        is_server: options
            .call("is_server", &[])
            .try_to::<bool>()
            .unwrap_or(false),
        is_unsafe_client: options
            .call("is_unsafe_client", &[])
            .try_to::<bool>()
            .unwrap_or(false),
        common_name_override: options
            .call("get_common_name_override", &[])
            .try_to::<GString>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        certificate_pem,
        private_key_pem,
        trusted_chain_pem,
    })
}

/// Maps a driver DTLS setup result to Godot's codes and messages.
pub(super) fn dtls_result(what: &str, result: Option<Result<(), DtlsError>>) -> Error {
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

/// A `LINK_*` constant as a direction.
pub(crate) fn link_direction(direction: i32) -> Option<LinkDirection> {
    match direction {
        RustENetConnection::LINK_BOTH => Some(LinkDirection::Both),
        RustENetConnection::LINK_OUTGOING => Some(LinkDirection::Outgoing),
        RustENetConnection::LINK_INCOMING => Some(LinkDirection::Incoming),
        _ => None,
    }
}

/// Link conditions from a script's dictionary (see `set_link_simulation`).
pub(crate) fn conditions_of(conditions: &VarDictionary) -> LinkConditions {
    simulation::conditions_from(|key| conditions.get(key).as_ref().and_then(settings::number))
}

/// Converts a script integer to a `u32` bandwidth, treating negatives as 0 (unlimited).
pub(super) fn clamp_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}
