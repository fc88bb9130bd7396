//! Loading machine files from disk: the `--machine FILE.json` path end to end.

use std::path::PathBuf;

use snnc_targets::spinnaker2::machine::{Machine, MachineError, PeId};

/// A fresh file under cargo's per-test scratch directory.
fn write(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("scratch dir is writable");
    path
}

#[test]
fn load_multi_chip_file() {
    let path = write(
        "machine_tiny4.json",
        r#"{
  "chip": {"pes_per_qpe": 4, "qpes": 4, "mesh_width": 2, "mesh_height": 2,
           "sram_per_pe_bytes": 16384, "reserved_sram_per_pe_bytes": 4096,
           "routing_entries": 1024},
  "board": {"chips_x": 2, "chips_y": 2}
}"#,
    );
    let m = Machine::load(&path).expect("valid file");
    assert_eq!(m, Machine::tiny(2, 2));
    assert_eq!(m.total_pes(), 64);
    assert_eq!(m.total_chips(), 4);
    assert_eq!(m.sram_budget_per_pe(), 12 * 1024);
    // The last PE sits on the far chip in the far QPE: global grid (0,0) -> (3,3) from PE 0.
    let hops = m.pe_hops(PeId(0), PeId(63)).expect("in range");
    assert_eq!((hops.on_chip, hops.chip_links), (4, 2));
}

#[test]
fn default_written_and_reloaded() {
    let m = Machine::spinnaker2_board48();
    let path = write("machine_board48.json", &m.to_json());
    assert_eq!(Machine::load(&path).ok(), Some(m));
}

#[test]
fn missing_file_names_the_path() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no_such_machine.json");
    let err = Machine::load(&path).err();
    assert!(matches!(err, Some(MachineError::Io { .. })));
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("no_such_machine.json"), "{msg}");
}

#[test]
fn bad_file_names_file_and_field() {
    let path = write("machine_zero.json", r#"{"chip": {"pes_per_qpe": 0}}"#);
    let msg = Machine::load(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("machine_zero.json"), "{msg}");
    assert!(msg.contains("chip.pes_per_qpe"), "{msg}");
    let path = write("machine_typo.json", r#"{"board": {"chip_x": 2}}"#);
    let msg = Machine::load(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("machine_typo.json"), "{msg}");
    assert!(msg.contains("unknown field `chip_x`"), "{msg}");
}
