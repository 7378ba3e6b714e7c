//! The few libopus declarations we call (`opus.h`, `opus_defines.h` of libopus 1.x; the API
//! and these values have been stable since 1.0).

use std::ffi::c_int;

/// libopus's opaque encoder state.
#[repr(C)]
pub(crate) struct OpusEncoder {
    _private: [u8; 0],
}

/// libopus's opaque decoder state.
#[repr(C)]
pub(crate) struct OpusDecoder {
    _private: [u8; 0],
}

pub(crate) const OPUS_OK: c_int = 0;
pub(crate) const OPUS_BAD_ARG: c_int = -1;
pub(crate) const OPUS_BUFFER_TOO_SMALL: c_int = -2;
pub(crate) const OPUS_INVALID_PACKET: c_int = -4;
pub(crate) const OPUS_UNIMPLEMENTED: c_int = -5;
pub(crate) const OPUS_ALLOC_FAIL: c_int = -7;

pub(crate) const OPUS_APPLICATION_VOIP: c_int = 2048;
pub(crate) const OPUS_APPLICATION_AUDIO: c_int = 2049;
pub(crate) const OPUS_APPLICATION_RESTRICTED_LOWDELAY: c_int = 2051;

// Requests that take one `opus_int32` argument.
pub(crate) const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
pub(crate) const OPUS_SET_VBR_REQUEST: c_int = 4006;
pub(crate) const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
pub(crate) const OPUS_SET_INBAND_FEC_REQUEST: c_int = 4012;
pub(crate) const OPUS_SET_PACKET_LOSS_PERC_REQUEST: c_int = 4014;

#[allow(unsafe_code)] // declarations of a C library's functions
unsafe extern "C" {
    pub(crate) fn opus_encoder_create(
        fs: i32,
        channels: c_int,
        application: c_int,
        error: *mut c_int,
    ) -> *mut OpusEncoder;
    pub(crate) fn opus_encoder_destroy(st: *mut OpusEncoder);
    pub(crate) fn opus_encoder_ctl(st: *mut OpusEncoder, request: c_int, ...) -> c_int;
    pub(crate) fn opus_encode(
        st: *mut OpusEncoder,
        pcm: *const i16,
        frame_size: c_int,
        data: *mut u8,
        max_data_bytes: i32,
    ) -> i32;
    pub(crate) fn opus_decoder_create(
        fs: i32,
        channels: c_int,
        error: *mut c_int,
    ) -> *mut OpusDecoder;
    pub(crate) fn opus_decoder_destroy(st: *mut OpusDecoder);
    pub(crate) fn opus_decode(
        st: *mut OpusDecoder,
        data: *const u8,
        len: i32,
        pcm: *mut i16,
        frame_size: c_int,
        decode_fec: c_int,
    ) -> c_int;
}
