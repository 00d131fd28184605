//! What a browser sends on the live socket: both decoders take any bytes without panicking, and what they
//! accept re-encodes to an equal message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use topology::protocol::ClientMsg;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = ClientMsg::from_bytes(data) {
        let again = ClientMsg::from_bytes(&message.to_bytes().expect("encodes")).expect("decodes its own bytes");
        assert_eq!(again, message);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(message) = ClientMsg::from_json(text) {
            let again = ClientMsg::from_json(&message.to_json().expect("encodes")).expect("decodes its own JSON");
            assert_eq!(again, message);
        }
    }
});
