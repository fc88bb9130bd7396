//! The fuzz corpus on stable Rust: every committed input of `fuzz/seeds/<target>/` and
//! `fuzz/corpus/<target>/` (the libFuzzer-minimized corpus, with every input that once crashed)
//! goes through the same entry
//! functions as the cargo-fuzz targets, followed by a fixed-seed batch of cheap mutations of them
//! (bit flips, byte writes, inserts, deletes, truncations, splices). A few seconds in total; the
//! long runs are cargo-fuzz's job (docs/fuzzing.md).
//!
//! A failure names the target, the corpus file and the mutation number; rerun with
//! `FUZZ_REPLAY_SEED=<n>` to try other mutations.

#[path = "../../fuzz/src/entry.rs"]
mod entry;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Mutated inputs per target, on top of the corpus itself.
const MUTATIONS: usize = 3000;
/// Corpus files larger than this are replayed but not mutated (keeps the test fast).
const MAX_MUTATE_LEN: usize = 128 * 1024;

/// The files of `fuzz/<kind>/<target>/` in name order.
fn files_of(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect()
}

/// Seeds and corpus of `target`, with their bytes.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = files_of("seeds", target);
    files.extend(files_of("corpus", target));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// Named as libFuzzer names what it reports (`crash-`, `oom-`, `timeout-`, `leak-`, `slow-unit-`).
fn is_crash(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    ["crash", "oom", "timeout", "leak", "slow-unit"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that tend to sit on boundaries of sizes, counts and tags.
const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, b'9', b'-'];

/// One to four random edits of `data`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            4 => v.truncate(rng.below(len + 1)),
            5 if len > 0 => {
                // Repeat a chunk: stretches lengths and counts.
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            6 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ if len >= 4 => {
                // Overwrite a little-endian u32 with a large or zero value.
                let i = rng.below(len - 3);
                let x: u32 = [0, 1, u32::MAX, 0x8000_0000, 0xffff][rng.below(5)];
                v[i..i + 4].copy_from_slice(&x.to_le_bytes());
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = corpus(target);
    assert!(!files.is_empty(), "no seeds or corpus for {target}");
    for (path, bytes) in &files {
        if catch_unwind(AssertUnwindSafe(|| run(bytes))).is_err() {
            panic!("{target}: corpus file {} fails", path.display());
        }
    }
    // Inputs that once crashed are replayed as they are but not mutated: their neighbours can
    // be legitimately expensive (a NIR dataset just under the size limit), too slow for here.
    let small: Vec<&(PathBuf, Vec<u8>)> = files
        .iter()
        .filter(|(p, b)| b.len() <= MAX_MUTATE_LEN && !is_crash(p))
        .collect();
    assert!(
        !small.is_empty(),
        "{target} has no input under {MAX_MUTATE_LEN} bytes to mutate"
    );
    let seed = std::env::var("FUZZ_REPLAY_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0x5eed_f022);
    let mut rng = Rng(seed | 1);
    for i in 0..MUTATIONS {
        let (path, base) = small[rng.below(small.len())];
        let (_, other) = small[rng.below(small.len())];
        let input = mutate(&mut rng, base, other);
        if catch_unwind(AssertUnwindSafe(|| run(&input))).is_err() {
            panic!(
                "{target}: mutation {i} of {} (FUZZ_REPLAY_SEED={seed}) fails; input bytes: {:?}",
                path.display(),
                input
            );
        }
    }
}

#[test]
fn onnx_import_corpus() {
    replay("onnx_import", entry::onnx_import);
}

#[test]
fn nir_import_corpus() {
    replay("nir_import", entry::nir_import);
}

#[test]
fn ir_text_parse_corpus() {
    replay("ir_text_parse", entry::ir_text_parse);
}

#[test]
fn artifact_load_corpus() {
    replay("artifact_load", entry::artifact_load);
}

/// The artifact input format really carries loadable artifacts: the committed seeds load (so
/// their mutations reach the decoders and cross-checks instead of stopping at the first file),
/// and a broken one is refused with a message.
#[test]
fn artifact_seeds_load() {
    let files = corpus("artifact_load");
    let get = |name: &str| {
        files
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, b)| b.as_slice())
            .unwrap_or_else(|| panic!("seed {name} missing"))
    };
    for name in ["s2_nested", "s2_snn_mlp"] {
        assert_eq!(entry::spinnaker2_artifact(get(name)), Ok(()), "{name}");
    }
    for name in ["arm_m4_bnn", "arm_host_snn", "arm_m4_gemm"] {
        let seed = get(name);
        let m = entry::arm_manifest(&seed[1..]).expect("an ARM manifest");
        let m = m.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.format, "snnc-arm/1");
        assert_eq!(m.inputs.len(), 1, "{name}");
    }
    // One image short: the loader names the missing file.
    let s2 = get("s2_nested");
    let cut = s2
        .windows(entry::SECTION.len())
        .rposition(|w| w == entry::SECTION)
        .expect("sections");
    let err = entry::spinnaker2_artifact(&s2[..cut]).expect_err("an image is missing");
    assert!(err.contains("pe/pe_"), "{err}");
    assert_eq!(
        entry::join_sections(&[b"m", b"r", b"i"]),
        b"m\n--8<--\nr\n--8<--\ni".to_vec()
    );
}
