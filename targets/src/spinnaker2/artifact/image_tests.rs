use super::*;

#[test]
fn synapse_word_round_trip() {
    let w = synapse_word(1023, 15, 3, -32768).unwrap_or(0);
    let s = Synapse::decode(w);
    assert_eq!((s.post, s.delay, s.k, s.weight), (1023, 15, 3, -32768));
    assert_eq!(s.encode(), Ok(w));
    assert!(synapse_word(1024, 1, 0, 0).is_err());
    assert!(synapse_word(0, 0, 0, 0).is_err());
    assert!(synapse_word(0, 16, 0, 0).is_err());
    assert!(synapse_word(0, 1, 4, 0).is_err());
    assert!(synapse_word(0, 1, 0, 32768).is_err());
}
