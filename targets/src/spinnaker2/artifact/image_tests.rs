use super::super::digest::fnv1a32;
use super::*;

/// A LIF image with two types, four slots and two key blocks (one payload), shared empty rows.
fn lif() -> PeImage {
    let w = |post, delay, k, wt| synapse_word(post, delay, k, wt).unwrap_or(0);
    let blocks = vec![
        MatrixBlock {
            key: 0x200,
            mask: 0xffff_fffc,
            payload: true,
            rows: vec![vec![w(0, 1, 1, 3)], vec![]],
        },
        MatrixBlock {
            key: 0x100,
            mask: 0xffff_fff8,
            payload: false,
            rows: vec![
                vec![w(0, 1, 0, -5), w(2, 4, 0, 7)],
                vec![],
                vec![w(1, 2, 1, 100)],
            ],
        },
    ];
    let (master, synapses) = build_synaptic_matrix(blocks).unwrap_or_default();
    PeImage {
        role: PeRole::Lif,
        n: 3,
        key_base: 0x400,
        record: true,
        payload: false,
        reset_subtract: true,
        sends: true,
        synapses_dram: false,
        start_tick: 2,
        state_bits: 16,
        frac_bits: 8,
        k: 2,
        d: 4,
        first: 6,
        neurons: (0..3)
            .map(|i| NeuronParams {
                decay: 200 + i,
                bias: -i,
                threshold: 50,
                v_reset: 0,
            })
            .collect(),
        requant: (0..2)
            .map(|k| {
                (0..3)
                    .map(|i| RequantEntry {
                        multiplier: 1 << 20 | (k * 3 + i),
                        shift: 20,
                        zero_point: 0,
                        lo: -32768,
                        hi: 32767,
                    })
                    .collect()
            })
            .collect(),
        master,
        synapses,
    }
}

fn encoded() -> Vec<u8> {
    lif().encode().unwrap_or_default()
}

/// Re-encodes `words` with a correct checksum, so a test reaches the check after it.
fn seal(mut words: Vec<u32>) -> Vec<u8> {
    if let Some(c) = words.get_mut(19) {
        *c = 0;
    }
    let sum = fnv1a32(&bytes_of(&words));
    if let Some(c) = words.get_mut(19) {
        *c = sum;
    }
    bytes_of(&words)
}

fn words() -> Vec<u32> {
    words_of(&encoded())
}

#[test]
fn synapse_word_round_trip() {
    let w = synapse_word(1023, 15, 3, -32768).unwrap_or(0);
    let s = Synapse::decode(w);
    assert_eq!((s.post, s.delay, s.k, s.weight), (1023, 15, 3, -32768));
    assert_eq!(s.encode(), Ok(w));
    assert_eq!(
        synapse_word(5, 2, 1, -1),
        Ok(0xffff_0000 | 1 << 14 | 2 << 10 | 5)
    );
    assert!(synapse_word(1024, 1, 0, 0).is_err());
    assert!(synapse_word(0, 0, 0, 0).is_err());
    assert!(synapse_word(0, 16, 0, 0).is_err());
    assert!(synapse_word(0, 1, 4, 0).is_err());
    assert!(synapse_word(0, 1, 0, 32768).is_err());
}

#[test]
fn matrix_layout() {
    let img = lif();
    // Shared empty row at 0; block 0x100 (sorted first): pointers at 1..4, rows after.
    assert_eq!(img.master.len(), 2);
    assert_eq!(img.master[0].key, 0x100);
    assert_eq!(img.master[0].index_off, 1);
    assert_eq!(img.master[0].n_rows, 3);
    assert_eq!(&img.synapses[1..4], &[4, 0, 7]);
    assert_eq!(img.synapses[4], 2);
    assert_eq!(img.master[1].index_off, 9);
    assert_eq!(img.synapses.len(), 13);
    assert_eq!(img.row(&img.master[0], 1), Some(&[][..]));
    assert_eq!(img.row(&img.master[0], 2).map(<[u32]>::len), Some(1));
    assert_eq!(img.row(&img.master[0], 3), None);
    assert_eq!(img.lookup(0x102).map(|e| e.key), Some(0x100));
    assert_eq!(img.lookup(0x107).map(|e| e.key), Some(0x100));
    assert_eq!(img.lookup(0x203).map(|e| e.key), Some(0x200));
    assert_eq!(img.lookup(0x108), None);
    assert_eq!(img.lookup(0xff), None);
    assert_eq!(img.lookup(0x204), None);
    assert_eq!(img.state_bytes(), 4 * 3 * (1 + 4 * 2));
}

#[test]
fn round_trip_lif_and_source() {
    let img = lif();
    let bytes = encoded();
    assert_eq!(bytes.len() as u64, 4 * img.words());
    // header 20 + neurons 12 + requant 30 + master 10 + synapses 13
    assert_eq!(img.words(), 85);
    assert_eq!(PeImage::decode(&bytes), Ok(img));
    let w = words_of(&bytes);
    assert_eq!(&w[..4], &[MAGIC, 1, 1, 3]);
    assert_eq!(w[5], FLAG_RECORD | FLAG_RESET_SUBTRACT | FLAG_SENDS);
    assert_eq!(&w[13..19], &[20, 32, 62, 72, 85, 6]);

    let src = PeImage::source(64, 0x1000, 0, true, true);
    let b = src.encode().unwrap_or_default();
    assert_eq!(b.len(), 80);
    assert_eq!(&words_of(&b)[13..18], &[20, 20, 20, 20, 20]);
    assert_eq!(PeImage::decode(&b), Ok(src));
}

#[test]
fn encoding_is_deterministic() {
    assert_eq!(encoded(), encoded());
}

#[test]
fn word_checksum_is_fnv1a32_of_bytes() {
    let w = words();
    assert_eq!(checksum(&w), fnv1a32(&bytes_of(&w)));
    assert_eq!(checksum(&[]), fnv1a32(b""));
}

#[test]
fn corruptions_give_typed_errors() {
    let dec = |b: &[u8]| PeImage::decode(b);
    let bytes = encoded();
    assert!(matches!(
        dec(&bytes[..bytes.len() - 1]),
        Err(ImageError::Size { .. })
    ));
    assert!(matches!(dec(&bytes[..40]), Err(ImageError::Size { .. })));
    assert!(matches!(
        dec(&bytes[..bytes.len() - 4]),
        Err(ImageError::Length { .. })
    ));

    let mut w = words();
    w[0] = 0x1234;
    assert!(matches!(
        dec(&seal(w)),
        Err(ImageError::Magic { found: 0x1234, .. })
    ));
    let mut w = words();
    w[1] = 2;
    assert!(matches!(
        dec(&seal(w)),
        Err(ImageError::Version { found: 2, .. })
    ));
    let mut b = bytes.clone();
    b[4 * 22] ^= 1;
    assert!(matches!(dec(&b), Err(ImageError::Checksum { .. })));

    let header_field = |i: usize, v: u32| {
        let mut w = words();
        w[i] = v;
        dec(&seal(w))
    };
    let is_header = |r: Result<PeImage, ImageError>, f: &str| matches!(r, Err(ImageError::Header { field, .. }) if field == f);
    assert!(is_header(header_field(2, 7), "role"));
    assert!(is_header(header_field(3, 0), "n"));
    assert!(is_header(header_field(3, 1025), "n"));
    assert!(is_header(header_field(5, 0x20), "flags"));
    assert!(is_header(header_field(5, FLAG_PAYLOAD), "flags"));
    assert!(is_header(header_field(7, 1), "state_bits"));
    assert!(is_header(header_field(8, 31), "frac_bits"));
    assert!(is_header(header_field(9, 5), "k"));
    assert!(is_header(header_field(10, 3), "d"));
    assert!(is_header(header_field(10, 32), "d"));
    assert!(is_header(header_field(4, u32::MAX), "key_base"));
    assert!(matches!(
        header_field(13, 21),
        Err(ImageError::Section {
            section: "neuron",
            ..
        })
    ));
    assert!(matches!(
        header_field(16, 70),
        Err(ImageError::Section {
            section: "synapse",
            ..
        })
    ));
    assert!(matches!(
        header_field(12, 14),
        Err(ImageError::Section { .. })
    ));
    // n = 2 shrinks the sections: layout no longer matches.
    assert!(matches!(
        header_field(3, 2),
        Err(ImageError::Section { .. })
    ));
    // Smaller D than a synapse's delay (4).
    assert!(matches!(
        header_field(10, 2),
        Err(ImageError::Synapse { .. })
    ));
    // K = 1 rejects type-1 synapses, but first the requant section size changes.
    assert!(matches!(
        header_field(9, 1),
        Err(ImageError::Section { .. })
    ));
}

#[test]
fn bad_master_and_rows_rejected() {
    let check = |f: &dyn Fn(&mut PeImage)| {
        let mut img = lif();
        f(&mut img);
        let err = img.encode();
        assert!(err.is_err(), "{img:?}");
        err.err()
    };
    let master = |e: Option<ImageError>| matches!(e, Some(ImageError::Master { .. }));
    assert!(master(check(&|i| i.master[0].mask = 0xff00_fff8)));
    assert!(master(check(&|i| i.master[0].key = 0x101)));
    assert!(master(check(&|i| i.master.swap(0, 1))));
    assert!(master(check(&|i| i.master[1].key = 0x104 & 0x100)));
    assert!(master(check(&|i| i.master[0].n_rows = 9)));
    assert!(master(check(&|i| i.master[1].index_off = 12)));
    let row = |e: Option<ImageError>| matches!(e, Some(ImageError::Row { .. }));
    assert!(row(check(&|i| i.synapses[1] = 13)));
    assert!(row(check(&|i| i.synapses[4] = 9)));
    let syn = |e: Option<ImageError>, what: &str| matches!(e, Some(ImageError::Synapse { reason, .. }) if reason.starts_with(what));
    assert!(syn(
        check(&|i| i.synapses[5] = synapse_word(3, 1, 0, 1).unwrap_or(0)),
        "post"
    ));
    assert!(syn(
        check(&|i| i.synapses[5] = synapse_word(0, 1, 2, 1).unwrap_or(0)),
        "type"
    ));
    assert!(syn(
        check(&|i| i.synapses[5] = synapse_word(0, 5, 0, 1).unwrap_or(0)),
        "delay"
    ));
    assert!(syn(check(&|i| i.synapses[5] = 0), "delay"));
    let param = |e: Option<ImageError>| matches!(e, Some(ImageError::Param { .. }));
    assert!(param(check(&|i| i.requant[1][2].multiplier = -1)));
    assert!(param(check(&|i| i.requant[0][0].shift = 63)));
    assert!(param(check(&|i| i.requant[0][0].lo = 40000)));
    assert!(matches!(
        check(&|i| i.neurons.pop().map_or((), drop)),
        Some(ImageError::Section { .. })
    ));
    assert!(matches!(
        check(&|i| i.role = PeRole::Source),
        Some(ImageError::Header { .. })
    ));
}

/// xorshift64*: a tiny deterministic generator for the fuzz loop.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn random_corruption_never_panics() {
    let base = encoded();
    let mut st = 0x9e37_79b9_7f4a_7c15u64;
    let mut rejected = 0;
    for round in 0..4000 {
        let mut b = base.clone();
        match round % 4 {
            0 => {
                let len = (next(&mut st) as usize) % (b.len() + 1);
                b.truncate(len);
            }
            1 => {
                let i = (next(&mut st) as usize) % b.len();
                b[i] ^= 1 << (next(&mut st) % 8);
            }
            _ => {
                // Flip a word and re-seal the checksum so validation past it is exercised.
                let mut w = words_of(&b);
                let i = (next(&mut st) as usize) % w.len();
                w[i] = if round % 8 < 4 {
                    next(&mut st) as u32
                } else {
                    w[i] ^ (1 << (next(&mut st) % 32))
                };
                b = seal(w);
            }
        }
        match PeImage::decode(&b) {
            Ok(img) => {
                // Anything accepted must re-encode to exactly the same bytes.
                assert_eq!(img.encode().ok(), Some(b));
            }
            Err(_) => rejected += 1,
        }
    }
    assert!(rejected > 3000, "only {rejected} corruptions rejected");
}

/// A DRAM image with one BITMAP entry: rows 1 and 40 of a 64-key block present.
fn bitmap_image() -> PeImage {
    let mut img = lif();
    let w = |post, delay, k, wt| synapse_word(post, delay, k, wt).unwrap_or(0);
    img.synapses_dram = true;
    // [0] shared empty row, [1..3] bitmap, [3..5] pointers, rows at 5 and 7.
    img.synapses = vec![
        0,
        1 << 1,
        1 << (40 - 32),
        5,
        7,
        1,
        w(2, 1, 0, 9),
        1,
        w(0, 3, 1, -4),
    ];
    img.master = vec![MasterEntry {
        key: 0x1000,
        mask: !63,
        index_off: 1,
        n_rows: 64,
        payload: false,
        bitmap: true,
    }];
    img
}

#[test]
fn bitmap_rows_and_dram_flag_round_trip() {
    let img = bitmap_image();
    let Ok(bytes) = img.encode() else {
        panic!("encode: {:?}", img.encode().err())
    };
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // Header flags: RECORD | RESET_SUBTRACT | SENDS | SYNAPSES_DRAM.
    assert_eq!(words[5], 1 | 4 | 8 | 16);
    assert_eq!(PeImage::decode(&bytes).ok().as_ref(), Some(&img));
    let e = img.master[0];
    assert_eq!(img.row(&e, 1), Some(&img.synapses[6..7]));
    assert_eq!(img.row(&e, 40), Some(&img.synapses[8..9]));
    assert_eq!(img.row_span(&e, 2), Some((0, 0)));
    assert_eq!(img.row(&e, 63), Some(&[][..]));
    assert_eq!(img.row(&e, 64), None);
    // The synapse section is in DRAM: SRAM holds the rest.
    assert_eq!(img.dram_bytes(), 9 * 4);
    assert_eq!(img.sram_words(), img.words() - 9);
    let mut sram = img.clone();
    sram.synapses_dram = false;
    assert_eq!(sram.sram_words(), sram.words());
    assert_eq!(sram.dram_bytes(), 0);
}

#[test]
fn bad_bitmaps_and_flags_rejected() {
    // A bit past n_rows.
    let mut img = bitmap_image();
    img.master[0].n_rows = 40;
    assert!(matches!(img.validate(), Err(ImageError::Master { .. })));
    // More set bits than pointers in the section.
    let mut img = bitmap_image();
    img.synapses[2] = u32::MAX;
    assert!(img.validate().is_err());
    // A pointer outside the section.
    let mut img = bitmap_image();
    img.synapses[4] = 100;
    assert!(matches!(img.validate(), Err(ImageError::Row { .. })));
    // SYNAPSES_DRAM on a source.
    let mut src = PeImage::source(4, 0, 0, false, true);
    src.synapses_dram = true;
    assert!(matches!(src.validate(), Err(ImageError::Header { .. })));
    // Unknown header flag bit 5 and master flag bit 2 are refused by the decoder.
    let Ok(bytes) = bitmap_image().encode() else {
        panic!("encode")
    };
    let mut w: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    w[5] |= 32;
    assert!(matches!(
        PeImage::decode(&seal(w.clone())),
        Err(ImageError::Header { .. })
    ));
    w[5] &= !32;
    let off_master = w[15] as usize;
    w[off_master + 4] |= 4;
    assert!(matches!(
        PeImage::decode(&seal(w)),
        Err(ImageError::Master { .. })
    ));
}
