//! What a `RustENetPeer` sends: `put_packet`, the frame's flush, and the reports of what failed.

use bytes::Bytes;
use godot::global::Error;
use godot::prelude::*;
use rust_enet_session::{AfterPoll, PutError, SendFailure, Target, UserChannel};

use super::RustENetPeer;
use super::conversions::to_transfer;

pub(super) fn report_flush_errors(errors: Vec<std::io::Error>) {
    for e in errors {
        godot_error!("RustENetConnection.flush: {e}");
    }
}

/// Send failures of `put_packet`, through the rate-limited diagnostics (a game that keeps
/// sending to a peer that is gone would otherwise print a line per packet).
pub(super) fn report_send_failure(failure: SendFailure) {
    match failure {
        SendFailure::Inactive => tracing::warn!("send dropped: the peer is not active"),
        SendFailure::HostDestroyed => tracing::warn!("send dropped: the host was destroyed"),
        SendFailure::Refused { channel, error } => {
            tracing::error!("send dropped: unable to send the packet on channel {channel}: {error}")
        }
    }
}

impl RustENetPeer {
    pub(super) fn put_packet_bytes(&mut self, data: Bytes) -> Error {
        let Some(session) = &mut self.session else {
            godot_error!(
                "RustENetPeer.put_packet: the multiplayer instance isn't currently active"
            );
            return Error::ERR_UNCONFIGURED;
        };
        let target = self.target_peer;
        // Like Godot, send failures (e.g. a channel the connection lacks) are reported but do
        // not change the result.
        let result = session.put(
            Target::from_target_peer(target),
            to_transfer(self.transfer_mode),
            UserChannel(self.transfer_channel),
            data,
            &mut report_send_failure,
        );
        match result {
            Ok(AfterPoll::FrameFlush) => self.schedule_flush(),
            Ok(AfterPoll::Nothing) => {}
            Err(PutError::NotConnected) => {
                godot_error!(
                    "RustENetPeer.put_packet: the multiplayer instance isn't currently connected to any server or client"
                );
                return Error::ERR_UNCONFIGURED;
            }
            Err(PutError::InvalidTarget) => {
                godot_error!("RustENetPeer.put_packet: invalid target peer {target}");
                return Error::ERR_INVALID_PARAMETER;
            }
            Err(PutError::NoServerPeer) => {
                godot_error!("RustENetPeer.put_packet: the client has no server peer");
                return Error::ERR_BUG;
            }
            Err(PutError::ChannelOutOfRange) => {
                // Godot's peer returns OK here too (it truncates the ENet channel to 8 bits and
                // sends on the wrong channel); the packet is dropped instead, with the error.
                godot_error!(
                    "RustENetPeer.put_packet: transfer channel {} is out of range (at most 253); packet dropped",
                    self.transfer_channel
                );
                return Error::OK;
            }
        }
        Error::OK
    }

    /// Makes sure a deferred `_flush_queued_sends` runs at the end of this frame.
    pub(super) fn schedule_flush(&mut self) {
        if self.flush_callable.is_none() {
            self.flush_callable = Some(Callable::from_object_method(
                &self.to_gd(),
                "_flush_queued_sends",
            ));
        }
        if let Some(flush) = &self.flush_callable {
            flush.call_deferred(&[]);
        }
    }
}
