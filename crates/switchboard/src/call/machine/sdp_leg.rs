//! One SIP leg's side of the media: our RTP address, our `o=` line, and what its remote end
//! agreed to. Offers and answers on the leg go through here, so re-INVITEs (hold, unhold, a
//! codec change) are answered on the leg that sent them, without involving the other leg.
//!
//! The leg also knows where its signalling comes from, and stamps it on every agreement it
//! hands the media engine: our RTP goes to the remote's SDP address before the remote has
//! sent any only when that address is on the signalling's IP (no reflection at third hosts).

use std::net::IpAddr;

use bytes::Bytes;
use switchboard_media::codec::CodecKind;
use switchboard_sip::sdp::SdpOrigin;
use switchboard_sip::ua::LegId;

use crate::media::{LocalMedia, Negotiation, NegotiationError, OfferSent, RemoteMedia};

/// A SIP leg's media state.
#[derive(Debug, Clone)]
pub struct SdpLeg {
    /// The SIP leg.
    pub sip: LegId,
    /// Our RTP address for it.
    pub local: LocalMedia,
    origin: SdpOrigin,
    /// What the remote agreed to, once it has.
    pub remote: Option<RemoteMedia>,
    /// Our last offer, until its answer arrives.
    offer_sent: Option<OfferSent>,
    /// The last SDP we sent (repeated when a 200 must carry the answer a 183 already gave).
    pub last_sdp: Option<Bytes>,
    /// The IP the leg's SIP signalling comes from, when known: the caller's INVITE's source;
    /// for a callee, the address we sent the INVITE to (its answer is a response to it).
    pub signalling: Option<IpAddr>,
}

impl SdpLeg {
    pub fn new(sip: LegId, local: LocalMedia, session_id: u64, signalling: Option<IpAddr>) -> Self {
        SdpLeg {
            sip,
            local,
            origin: SdpOrigin::new(session_id, 1),
            remote: None,
            offer_sent: None,
            last_sdp: None,
            signalling,
        }
    }

    /// The codec the leg runs, once negotiated.
    pub fn codec(&self) -> Option<CodecKind> {
        self.remote.as_ref().map(|r| r.codec)
    }

    /// Answers the remote's offer; `prefer` first, to match the other leg.
    pub fn answer(
        &mut self,
        negotiation: &Negotiation,
        offer: &[u8],
        prefer: &[CodecKind],
        other: Option<CodecKind>,
    ) -> Result<Bytes, NegotiationError> {
        let (sdp, mut remote) =
            negotiation.answer(offer, &self.local, &mut self.origin, prefer, other)?;
        remote.signalling = self.signalling;
        self.remote = Some(remote);
        self.last_sdp = Some(sdp.clone());
        Ok(sdp)
    }

    /// Makes an offer to the remote, `first` listed first.
    pub fn offer(&mut self, negotiation: &Negotiation, first: &[CodecKind]) -> Bytes {
        let sent = negotiation.offer(&self.local, &mut self.origin, first);
        let sdp = sent.sdp.clone();
        self.offer_sent = Some(sent);
        self.last_sdp = Some(sdp.clone());
        sdp
    }

    /// Reads the remote's answer to our last offer.
    pub fn accept(
        &mut self,
        negotiation: &Negotiation,
        answer: &[u8],
        other: Option<CodecKind>,
    ) -> Result<(), NegotiationError> {
        let Some(sent) = self.offer_sent.as_ref() else {
            return Err(NegotiationError {
                status: 400,
                message: "an SDP answer arrived for no offer of ours".into(),
            });
        };
        let mut remote = negotiation.accept(sent, answer, other)?;
        remote.signalling = self.signalling;
        self.remote = Some(remote);
        Ok(())
    }
}
