//! The machine description of the spinnaker2 target: one chip type and a board of such chips.
//!
//! Every later stage (partitioning, placement, routing, the emulator's cost model) reads its
//! limits from a [`Machine`], so the numbers live in one place, can be overridden by a
//! `--machine FILE.json`, and are validated once. A machine file is user input: loading it never
//! panics, and a bad file yields a [`MachineError`] naming the file and the field.
//!
//! Coordinates: a board is a `chips_x × chips_y` grid of chips; a chip is a
//! `mesh_width × mesh_height` grid of QPE slots filled row by row with `qpes` QPEs (only the last
//! row may be partial); a QPE holds `pes_per_qpe` PEs. Global PE ids count PEs within a QPE, then
//! QPEs of a chip row-major, then chips row-major, so ids of one chip are contiguous.
//!
//! Hop model: the chip meshes are tiled into one global QPE grid and packets use dimension-ordered
//! (X then Y) routing on it; crossing a chip boundary is a chip-to-chip link hop, every other step
//! a NoC hop between neighbouring QPE routers. `docs/spinnaker2.md` lists the sources of the
//! numbers and which of them are assumptions.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest machine accepted, in PEs. Bounds the memory later stages spend per PE and keeps every
/// id in a `u32`; the largest SpiNNaker2 system announced has about 5·10^6 PEs.
pub const MAX_TOTAL_PES: u64 = 1 << 26;

/// A machine file or a machine request that cannot be used.
#[derive(Debug, Error)]
pub enum MachineError {
    /// The file could not be read.
    #[error("machine file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON for a machine (serde names unknown or mistyped fields).
    #[error("machine file {path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// A field holds a value outside its sane range or inconsistent with another field.
    #[error("machine file {path}: field `{field}`: {reason}")]
    Invalid {
        path: String,
        field: &'static str,
        reason: String,
    },
}

/// One SpiNNaker2-style chip. Field docs give the default and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Chip {
    /// PEs per quad-PE (4: Höppner et al. 2021; Gonzalez et al. 2024).
    pub pes_per_qpe: u32,
    /// QPEs per chip (38, i.e. 152 PEs: Gonzalez et al. 2024; SpiNNaker2 datasheet v0.03).
    pub qpes: u32,
    /// Width of the QPE grid of the chip's NoC, in QPE slots (8: assumption, floorplan not found).
    pub mesh_width: u32,
    /// Height of the QPE grid of the chip's NoC, in QPE slots (5: assumption).
    pub mesh_height: u32,
    /// Private SRAM per PE in bytes, code and data together (128 KiB: datasheet v0.03).
    pub sram_per_pe_bytes: u64,
    /// SRAM per PE kept for kernel code, stack and runtime state, since code shares the PE's
    /// SRAM with data (16 KiB: assumption).
    pub reserved_sram_per_pe_bytes: u64,
    /// PE clock in Hz (150 MHz, the lower published operating point; 300 MHz also published).
    pub clock_hz: u64,
    /// Real-time tick (one simulation step) in microseconds (1000: DESIGN.md §5).
    pub tick_us: u64,
    /// Entries of a multicast routing table (16,384: SpiNNaker2 datasheet v0.03, which gives
    /// them to the chip's one multicast router; the tables built for this machine must fit).
    pub routing_entries: u32,
    /// 8-bit multiply-accumulates per cycle of one PE's MAC array (64: TU Dresden SpiNNaker2 FAQ).
    pub macs_per_cycle: u32,
    /// Cycles a packet spends in one NoC router hop (2: assumption).
    pub router_latency_cycles: u32,
    /// Cycles a NoC link is busy per packet, the inverse of its bandwidth (1: assumption). An
    /// integer inverse rather than packets per cycle keeps the emulator's arithmetic exact.
    pub noc_link_cycles_per_packet: u32,
    /// External DRAM per chip in bytes, shared by the chip's PEs; synaptic data too large for a
    /// PE's SRAM lives here (2 GiB LPDDR4: TU Dresden SpiNNaker2 FAQ; open-neuromorphic.org).
    pub dram_bytes: u64,
    /// Cycles to set up one DMA read of a synaptic row from DRAM, before data flows (100:
    /// assumption).
    pub dram_row_setup_cycles: u32,
    /// Bytes a DMA read from DRAM delivers per PE cycle once running (4: assumption).
    pub dram_bytes_per_cycle: u32,
}

/// A board: a 2-D grid of identical chips joined by chip-to-chip links. Real chips have six
/// links (datasheet v0.03); the model keeps the four of a square mesh, which only overestimates
/// distances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Board {
    /// Chips along x (1 by default; the 48-chip board is 8 × 6, an assumed arrangement).
    pub chips_x: u32,
    /// Chips along y.
    pub chips_y: u32,
    /// Cycles (PE clock) a packet needs to cross one chip-to-chip link (100: assumption).
    pub chip_link_latency_cycles: u32,
    /// Cycles a chip-to-chip link is busy per packet (4: assumption).
    pub chip_link_cycles_per_packet: u32,
}

/// A whole target machine: the chip type and the board holding the chips.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Machine {
    pub chip: Chip,
    pub board: Board,
}

/// A global PE id, dense in `0..Machine::total_pes()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeId(pub u32);

impl fmt::Display for PeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pe{}", self.0)
    }
}

/// Position of a QPE: its chip on the board and its slot in the chip's mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QpeCoord {
    pub chip_x: u32,
    pub chip_y: u32,
    pub qpe_x: u32,
    pub qpe_y: u32,
}

/// Position of a PE: its QPE and its index inside the QPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeCoord {
    pub chip_x: u32,
    pub chip_y: u32,
    pub qpe_x: u32,
    pub qpe_y: u32,
    pub pe: u32,
}

impl PeCoord {
    /// The QPE this PE belongs to (PEs of one QPE share its router).
    pub fn qpe(&self) -> QpeCoord {
        QpeCoord {
            chip_x: self.chip_x,
            chip_y: self.chip_y,
            qpe_x: self.qpe_x,
            qpe_y: self.qpe_y,
        }
    }
}

/// Hops of a dimension-ordered route, split by kind because the two kinds cost differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Hops {
    /// Steps between neighbouring QPE routers inside a chip.
    pub on_chip: u32,
    /// Chip-to-chip link crossings.
    pub chip_links: u32,
}

impl Hops {
    /// All hops of either kind.
    pub fn total(&self) -> u32 {
        self.on_chip + self.chip_links
    }
}

impl Default for Chip {
    fn default() -> Self {
        Chip {
            pes_per_qpe: 4,
            qpes: 38,
            mesh_width: 8,
            mesh_height: 5,
            sram_per_pe_bytes: 128 * 1024,
            reserved_sram_per_pe_bytes: 16 * 1024,
            clock_hz: 150_000_000,
            tick_us: 1000,
            routing_entries: 16_384,
            macs_per_cycle: 64,
            router_latency_cycles: 2,
            noc_link_cycles_per_packet: 1,
            dram_bytes: 2 * 1024 * 1024 * 1024,
            dram_row_setup_cycles: 100,
            dram_bytes_per_cycle: 4,
        }
    }
}

impl Default for Board {
    fn default() -> Self {
        Board {
            chips_x: 1,
            chips_y: 1,
            chip_link_latency_cycles: 100,
            chip_link_cycles_per_packet: 4,
        }
    }
}

impl Default for Machine {
    fn default() -> Self {
        Machine::spinnaker2_default()
    }
}

/// Checks `lo <= value <= hi` for one field.
fn check_range(
    path: &str,
    field: &'static str,
    value: u64,
    lo: u64,
    hi: u64,
) -> Result<(), MachineError> {
    if value < lo || value > hi {
        return Err(MachineError::Invalid {
            path: path.to_string(),
            field,
            reason: format!("{value} is outside the accepted range {lo}..={hi}"),
        });
    }
    Ok(())
}

impl Machine {
    /// One SpiNNaker2 chip with the published figures: 152 PEs in 38 QPEs, 128 KiB SRAM per PE.
    pub fn spinnaker2_default() -> Machine {
        Machine {
            chip: Chip::default(),
            board: Board::default(),
        }
    }

    /// A 48-chip SpiNNaker2 board (7,296 PEs). The 8 × 6 arrangement is an assumption.
    pub fn spinnaker2_board48() -> Machine {
        Machine {
            chip: Chip::default(),
            board: Board {
                chips_x: 8,
                chips_y: 6,
                ..Board::default()
            },
        }
    }

    /// A small machine for tests that makes models spill over several chips: 2 × 2 QPEs of 4 PEs
    /// with 16 KiB SRAM (4 KiB reserved) per PE, on a board of `chips_x × chips_y` chips (each
    /// at least 1).
    pub fn tiny(chips_x: u32, chips_y: u32) -> Machine {
        Machine {
            chip: Chip {
                pes_per_qpe: 4,
                qpes: 4,
                mesh_width: 2,
                mesh_height: 2,
                sram_per_pe_bytes: 16 * 1024,
                reserved_sram_per_pe_bytes: 4 * 1024,
                routing_entries: 1024,
                ..Chip::default()
            },
            board: Board {
                chips_x: chips_x.max(1),
                chips_y: chips_y.max(1),
                ..Board::default()
            },
        }
    }

    /// Parses and validates a machine file. `path` only labels errors. Missing fields take the
    /// SpiNNaker2 defaults, so a file may override just the board or a few numbers.
    pub fn from_json(text: &str, path: &Path) -> Result<Machine, MachineError> {
        let label = path.display().to_string();
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| MachineError::Parse {
                path: label.clone(),
                source,
            })?;
        // serde reads a struct from a JSON array too; `[]` would silently be the default
        // machine.
        if !value.is_object() {
            return Err(MachineError::Invalid {
                path: label,
                field: "(top level)",
                reason: "a machine file is a JSON object".into(),
            });
        }
        let machine: Machine =
            serde_json::from_value(value).map_err(|source| MachineError::Parse {
                path: label.clone(),
                source,
            })?;
        machine.validate(&label)?;
        Ok(machine)
    }

    /// Reads, parses and validates a machine file.
    pub fn load(path: &Path) -> Result<Machine, MachineError> {
        let io = |source| MachineError::Io {
            path: path.display().to_string(),
            source,
        };
        // A FIFO or a device would block or never end.
        if !std::fs::metadata(path).map_err(io)?.is_file() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Machine::from_json(&text, path)
    }

    /// The machine as pretty JSON, in the format [`Machine::from_json`] reads.
    pub fn to_json(&self) -> String {
        // Serialising plain integer structs cannot fail; fall back to an empty object regardless.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Checks every field against a sane range and the fields against each other; `path` labels
    /// the errors. Ranges are wide (they reject typos and overflow, not unusual designs).
    pub fn validate(&self, path: &str) -> Result<(), MachineError> {
        let c = &self.chip;
        let b = &self.board;
        check_range(path, "chip.pes_per_qpe", c.pes_per_qpe.into(), 1, 64)?;
        check_range(path, "chip.qpes", c.qpes.into(), 1, 4096)?;
        check_range(path, "chip.mesh_width", c.mesh_width.into(), 1, 256)?;
        check_range(path, "chip.mesh_height", c.mesh_height.into(), 1, 256)?;
        check_range(
            path,
            "chip.sram_per_pe_bytes",
            c.sram_per_pe_bytes,
            1024,
            1 << 30,
        )?;
        check_range(
            path,
            "chip.reserved_sram_per_pe_bytes",
            c.reserved_sram_per_pe_bytes,
            0,
            c.sram_per_pe_bytes - 1,
        )?;
        check_range(path, "chip.clock_hz", c.clock_hz, 1_000_000, 10_000_000_000)?;
        check_range(path, "chip.tick_us", c.tick_us, 1, 10_000_000)?;
        check_range(
            path,
            "chip.routing_entries",
            c.routing_entries.into(),
            1,
            1 << 20,
        )?;
        check_range(
            path,
            "chip.macs_per_cycle",
            c.macs_per_cycle.into(),
            1,
            4096,
        )?;
        check_range(
            path,
            "chip.router_latency_cycles",
            c.router_latency_cycles.into(),
            1,
            1_000_000,
        )?;
        check_range(
            path,
            "chip.noc_link_cycles_per_packet",
            c.noc_link_cycles_per_packet.into(),
            1,
            1_000_000,
        )?;
        check_range(path, "chip.dram_bytes", c.dram_bytes, 0, 1 << 40)?;
        check_range(
            path,
            "chip.dram_row_setup_cycles",
            c.dram_row_setup_cycles.into(),
            0,
            1_000_000,
        )?;
        check_range(
            path,
            "chip.dram_bytes_per_cycle",
            c.dram_bytes_per_cycle.into(),
            1,
            4096,
        )?;
        check_range(path, "board.chips_x", b.chips_x.into(), 1, 1024)?;
        check_range(path, "board.chips_y", b.chips_y.into(), 1, 1024)?;
        check_range(
            path,
            "board.chip_link_latency_cycles",
            b.chip_link_latency_cycles.into(),
            1,
            1_000_000,
        )?;
        check_range(
            path,
            "board.chip_link_cycles_per_packet",
            b.chip_link_cycles_per_packet.into(),
            1,
            1_000_000,
        )?;
        // Only the last mesh row may be partial: then QPE slot q sits at (q % width, q / width)
        // and no row of the grid is empty.
        let slots = u64::from(c.mesh_width) * u64::from(c.mesh_height);
        let full_rows = u64::from(c.mesh_width) * (u64::from(c.mesh_height) - 1);
        if u64::from(c.qpes) > slots || u64::from(c.qpes) <= full_rows {
            return Err(MachineError::Invalid {
                path: path.to_string(),
                field: "chip.qpes",
                reason: format!(
                    "{} QPEs do not fill a {}x{} mesh up to its last row ({}..={} fit)",
                    c.qpes,
                    c.mesh_width,
                    c.mesh_height,
                    full_rows + 1,
                    slots
                ),
            });
        }
        // All factors are bounded above, so these u64 products cannot overflow.
        let total = u64::from(c.pes_per_qpe)
            * u64::from(c.qpes)
            * u64::from(b.chips_x)
            * u64::from(b.chips_y);
        if total > MAX_TOTAL_PES {
            return Err(MachineError::Invalid {
                path: path.to_string(),
                field: "board.chips_x",
                reason: format!(
                    "the machine has {total} PEs, more than the {MAX_TOTAL_PES} supported"
                ),
            });
        }
        Ok(())
    }

    /// PEs on one chip.
    ///
    /// This and the helpers below assume a validated machine (a preset, or one from
    /// [`Machine::from_json`] / [`Machine::load`]); counts saturate rather than overflow.
    pub fn pes_per_chip(&self) -> u32 {
        self.chip.pes_per_qpe.saturating_mul(self.chip.qpes)
    }

    /// Chips on the board.
    pub fn total_chips(&self) -> u32 {
        self.board.chips_x.saturating_mul(self.board.chips_y)
    }

    /// QPEs on the board.
    pub fn total_qpes(&self) -> u32 {
        self.chip.qpes.saturating_mul(self.total_chips())
    }

    /// PEs on the board; every [`PeId`] is below this.
    pub fn total_pes(&self) -> u32 {
        self.pes_per_chip().saturating_mul(self.total_chips())
    }

    /// SRAM per PE left for neuron state, synapse matrices and buffers after the code/stack
    /// reserve.
    pub fn sram_budget_per_pe(&self) -> u64 {
        self.chip
            .sram_per_pe_bytes
            .saturating_sub(self.chip.reserved_sram_per_pe_bytes)
    }

    /// DRAM each PE of a chip may use for synaptic data: the chip's DRAM split evenly over its
    /// PEs. Partitioning keeps every DRAM slice within this share, so any placement fits.
    pub fn dram_share_per_pe(&self) -> u64 {
        self.chip.dram_bytes / u64::from(self.pes_per_chip().max(1))
    }

    /// PE clock cycles available in one real-time tick (150 MHz × 1 ms = 150,000 by default).
    pub fn cycles_per_tick(&self) -> u64 {
        self.chip.clock_hz.saturating_mul(self.chip.tick_us) / 1_000_000
    }

    /// Where a PE sits, or `None` if the id is beyond the machine.
    pub fn pe_coord(&self, id: PeId) -> Option<PeCoord> {
        if id.0 >= self.total_pes() {
            return None;
        }
        let pe = id.0 % self.chip.pes_per_qpe;
        let qpe_global = id.0 / self.chip.pes_per_qpe;
        let qpe = qpe_global % self.chip.qpes;
        let chip = qpe_global / self.chip.qpes;
        Some(PeCoord {
            chip_x: chip % self.board.chips_x,
            chip_y: chip / self.board.chips_x,
            qpe_x: qpe % self.chip.mesh_width,
            qpe_y: qpe / self.chip.mesh_width,
            pe,
        })
    }

    /// The id of the PE at `coord`, or `None` if the coordinate is off the board, off the mesh,
    /// on an empty mesh slot, or beyond the QPE's PEs.
    pub fn pe_id(&self, coord: PeCoord) -> Option<PeId> {
        let qpe = self.qpe_index(coord.qpe())?;
        if coord.pe >= self.chip.pes_per_qpe {
            return None;
        }
        let chip = coord.chip_y * self.board.chips_x + coord.chip_x;
        Some(PeId(
            (chip * self.chip.qpes + qpe) * self.chip.pes_per_qpe + coord.pe,
        ))
    }

    /// Index of a QPE within its chip (row-major slot), or `None` if it does not exist.
    pub fn qpe_index(&self, q: QpeCoord) -> Option<u32> {
        if q.chip_x >= self.board.chips_x
            || q.chip_y >= self.board.chips_y
            || q.qpe_x >= self.chip.mesh_width
            || q.qpe_y >= self.chip.mesh_height
        {
            return None;
        }
        let index = q.qpe_y * self.chip.mesh_width + q.qpe_x;
        (index < self.chip.qpes).then_some(index)
    }

    /// Board-wide index of a QPE (chips row-major, then the chip's QPE index), dense in
    /// `0..total_qpes()`; a QPE's PEs have ids `index · pes_per_qpe + pe`. `None` if the QPE
    /// does not exist.
    pub fn global_qpe_index(&self, q: QpeCoord) -> Option<u32> {
        let local = self.qpe_index(q)?;
        let chip = q.chip_y * self.board.chips_x + q.chip_x;
        Some(chip * self.chip.qpes + local)
    }

    /// The QPE with board-wide index `index`, or `None` if the index is beyond the machine.
    pub fn qpe_coord(&self, index: u32) -> Option<QpeCoord> {
        if index >= self.total_qpes() {
            return None;
        }
        let local = index % self.chip.qpes;
        let chip = index / self.chip.qpes;
        Some(QpeCoord {
            chip_x: chip % self.board.chips_x,
            chip_y: chip / self.board.chips_x,
            qpe_x: local % self.chip.mesh_width,
            qpe_y: local / self.chip.mesh_width,
        })
    }

    /// Position of a QPE on the global grid made by tiling the chip meshes.
    fn global_xy(&self, q: QpeCoord) -> (u64, u64) {
        (
            u64::from(q.chip_x) * u64::from(self.chip.mesh_width) + u64::from(q.qpe_x),
            u64::from(q.chip_y) * u64::from(self.chip.mesh_height) + u64::from(q.qpe_y),
        )
    }

    /// Hops of the dimension-ordered route between two QPEs. PEs of one QPE talk through its
    /// router without a hop; `Hops::default()` is returned then. The coordinates are not
    /// checked against the machine (see [`Machine::pe_hops`] for ids that are).
    pub fn qpe_hops(&self, from: QpeCoord, to: QpeCoord) -> Hops {
        let (ax, ay) = self.global_xy(from);
        let (bx, by) = self.global_xy(to);
        let grid = ax.abs_diff(bx) + ay.abs_diff(by);
        let chips = from.chip_x.abs_diff(to.chip_x) + from.chip_y.abs_diff(to.chip_y);
        // Validated sizes keep the global grid below 2^18 per axis, so this fits in u32.
        let total = u32::try_from(grid).unwrap_or(u32::MAX);
        Hops {
            on_chip: total.saturating_sub(chips),
            chip_links: chips,
        }
    }

    /// Hops between two PEs, or `None` if either id is beyond the machine.
    pub fn pe_hops(&self, from: PeId, to: PeId) -> Option<Hops> {
        let a = self.pe_coord(from)?;
        let b = self.pe_coord(to)?;
        Some(self.qpe_hops(a.qpe(), b.qpe()))
    }

    /// Latency in PE cycles of a route with `hops`, ignoring contention: every on-chip hop costs
    /// one router traversal, every chip crossing one chip-link traversal.
    pub fn hop_latency_cycles(&self, hops: Hops) -> u64 {
        u64::from(hops.on_chip) * u64::from(self.chip.router_latency_cycles)
            + u64::from(hops.chip_links) * u64::from(self.board.chip_link_latency_cycles)
    }

    /// The QPE slots a packet visits on its dimension-ordered (X first, then Y) route, from
    /// `from` to `to` inclusive. On the default chip the route may pass an empty slot of the
    /// partial last row; the model treats such a slot as a plain router position.
    pub fn route_path(&self, from: QpeCoord, to: QpeCoord) -> Vec<QpeCoord> {
        let (mut x, mut y) = self.global_xy(from);
        let (tx, ty) = self.global_xy(to);
        let w = u64::from(self.chip.mesh_width);
        let h = u64::from(self.chip.mesh_height);
        let at = |x: u64, y: u64| QpeCoord {
            chip_x: u32::try_from(x / w).unwrap_or(u32::MAX),
            chip_y: u32::try_from(y / h).unwrap_or(u32::MAX),
            qpe_x: u32::try_from(x % w).unwrap_or(u32::MAX),
            qpe_y: u32::try_from(y % h).unwrap_or(u32::MAX),
        };
        let mut path = vec![at(x, y)];
        while x != tx {
            x = if x < tx { x + 1 } else { x - 1 };
            path.push(at(x, y));
        }
        while y != ty {
            y = if y < ty { y + 1 } else { y - 1 };
            path.push(at(x, y));
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("m.json")
    }

    fn invalid_field(text: &str) -> &'static str {
        match Machine::from_json(text, path()) {
            Err(MachineError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn machine_files_are_json_objects_in_regular_files() {
        // serde would read `[]` as a struct with every field defaulted.
        assert_eq!(invalid_field("[]"), "(top level)");
        assert_eq!(invalid_field("7"), "(top level)");
        let dir = std::env::temp_dir();
        let e = Machine::load(&dir).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            matches!(&e, Err(m) if m.contains("not a regular file")),
            "{e:?}"
        );
    }

    #[test]
    fn defaults_match_published_figures() {
        let m = Machine::spinnaker2_default();
        assert_eq!(m.chip.qpes, 38);
        assert_eq!(m.pes_per_chip(), 152);
        assert_eq!(m.total_pes(), 152);
        assert_eq!(m.chip.sram_per_pe_bytes, 131_072);
        assert_eq!(m.chip.macs_per_cycle, 64);
        assert_eq!(m.chip.routing_entries, 16_384);
        assert_eq!(m.cycles_per_tick(), 150_000);
        assert_eq!(m.sram_budget_per_pe(), 112 * 1024);
        assert_eq!(m.chip.dram_bytes, 2_147_483_648);
        assert_eq!(m.dram_share_per_pe(), 2_147_483_648 / 152);
        assert!(m.validate("default").is_ok());
        let board = Machine::spinnaker2_board48();
        assert_eq!(board.total_chips(), 48);
        assert_eq!(board.total_pes(), 48 * 152);
        assert!(board.validate("board48").is_ok());
    }

    #[test]
    fn json_round_trip() {
        for m in [
            Machine::spinnaker2_default(),
            Machine::spinnaker2_board48(),
            Machine::tiny(2, 1),
        ] {
            let back = Machine::from_json(&m.to_json(), path()).map_err(|e| e.to_string());
            assert_eq!(back, Ok(m));
        }
    }

    #[test]
    fn partial_file_takes_defaults() {
        let m = Machine::from_json(r#"{"board": {"chips_x": 2, "chips_y": 3}}"#, path())
            .map_err(|e| e.to_string());
        let expected = Machine {
            board: Board {
                chips_x: 2,
                chips_y: 3,
                ..Board::default()
            },
            ..Machine::spinnaker2_default()
        };
        assert_eq!(m, Ok(expected));
    }

    #[test]
    fn unknown_field_is_named() {
        let err = Machine::from_json(r#"{"chip": {"pes_per_qpee": 4}}"#, path())
            .map(|_| ())
            .map_err(|e| e.to_string());
        let msg = err.err().unwrap_or_default();
        assert!(msg.contains("m.json"), "{msg}");
        assert!(msg.contains("pes_per_qpee"), "{msg}");
    }

    #[test]
    fn bad_values_name_the_field() {
        assert_eq!(
            invalid_field(r#"{"chip": {"pes_per_qpe": 0}}"#),
            "chip.pes_per_qpe"
        );
        assert_eq!(invalid_field(r#"{"chip": {"qpes": 0}}"#), "chip.qpes");
        assert_eq!(
            invalid_field(r#"{"chip": {"sram_per_pe_bytes": 1000000000000000}}"#),
            "chip.sram_per_pe_bytes"
        );
        assert_eq!(
            invalid_field(r#"{"chip": {"reserved_sram_per_pe_bytes": 131072}}"#),
            "chip.reserved_sram_per_pe_bytes"
        );
        assert_eq!(
            invalid_field(r#"{"board": {"chips_y": 0}}"#),
            "board.chips_y"
        );
        assert_eq!(invalid_field(r#"{"chip": {"tick_us": 0}}"#), "chip.tick_us");
        assert_eq!(
            invalid_field(r#"{"chip": {"dram_bytes_per_cycle": 0}}"#),
            "chip.dram_bytes_per_cycle"
        );
        assert_eq!(
            invalid_field(r#"{"chip": {"dram_bytes": 2199023255553}}"#),
            "chip.dram_bytes"
        );
        // 41 QPEs do not fit the 40 slots of the 8x5 mesh.
        assert_eq!(invalid_field(r#"{"chip": {"qpes": 41}}"#), "chip.qpes");
        // 32 QPEs leave the last row of the 8x5 mesh empty.
        assert_eq!(invalid_field(r#"{"chip": {"qpes": 32}}"#), "chip.qpes");
        // Each factor in range, the product not.
        assert_eq!(
            invalid_field(
                r#"{"chip": {"pes_per_qpe": 64, "qpes": 4096, "mesh_width": 64, "mesh_height": 64},
                   "board": {"chips_x": 1024, "chips_y": 1024}}"#
            ),
            "board.chips_x"
        );
        let msg = Machine::from_json(r#"{"chip": {"qpes": 0}}"#, Path::new("dir/x.json"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            msg,
            "machine file dir/x.json: field `chip.qpes`: 0 is outside the accepted range 1..=4096"
        );
    }

    #[test]
    fn negative_or_fractional_numbers_are_parse_errors() {
        for text in [r#"{"chip": {"qpes": -1}}"#, r#"{"chip": {"qpes": 1.5}}"#] {
            assert!(matches!(
                Machine::from_json(text, path()),
                Err(MachineError::Parse { .. })
            ));
        }
    }

    #[test]
    fn id_coordinate_round_trip_on_four_chips() {
        for m in [Machine::tiny(2, 2), {
            let mut m = Machine::spinnaker2_default();
            m.board.chips_x = 4;
            m
        }] {
            let mut seen = std::collections::BTreeSet::new();
            for id in 0..m.total_pes() {
                let c = m.pe_coord(PeId(id)).expect("id in range");
                assert_eq!(m.pe_id(c), Some(PeId(id)));
                assert!(seen.insert(c));
            }
            assert_eq!(m.pe_coord(PeId(m.total_pes())), None);
            for index in 0..m.total_qpes() {
                let q = m.qpe_coord(index).expect("index in range");
                assert_eq!(m.global_qpe_index(q), Some(index));
                let first_pe = m.pe_id(PeCoord {
                    chip_x: q.chip_x,
                    chip_y: q.chip_y,
                    qpe_x: q.qpe_x,
                    qpe_y: q.qpe_y,
                    pe: 0,
                });
                assert_eq!(first_pe, Some(PeId(index * m.chip.pes_per_qpe)));
            }
            assert_eq!(m.qpe_coord(m.total_qpes()), None);
        }
    }

    #[test]
    fn coordinates_of_known_pes() {
        let m = Machine::tiny(2, 2);
        // 16 PEs per chip; id 21 = chip 1 (x 1, y 0), QPE 1 (x 1, y 0), PE 1.
        assert_eq!(
            m.pe_coord(PeId(21)),
            Some(PeCoord {
                chip_x: 1,
                chip_y: 0,
                qpe_x: 1,
                qpe_y: 0,
                pe: 1
            })
        );
        let d = Machine::spinnaker2_default();
        // QPE 37 is the last slot used: row 4, column 5 of the 8x5 mesh.
        let last = d.pe_coord(PeId(151)).expect("in range");
        assert_eq!((last.qpe_x, last.qpe_y, last.pe), (5, 4, 3));
        let empty_slot = PeCoord {
            chip_x: 0,
            chip_y: 0,
            qpe_x: 6,
            qpe_y: 4,
            pe: 0,
        };
        assert_eq!(d.pe_id(empty_slot), None);
        assert_eq!(d.pe_id(PeCoord { pe: 4, ..last }), None);
        assert_eq!(d.pe_id(PeCoord { chip_x: 1, ..last }), None);
    }

    #[test]
    fn hop_distances() {
        let m = Machine::tiny(2, 2);
        let q = |chip_x, chip_y, qpe_x, qpe_y| QpeCoord {
            chip_x,
            chip_y,
            qpe_x,
            qpe_y,
        };
        // Same QPE: no hop. PEs 0 and 3 share QPE (0,0) of chip (0,0).
        assert_eq!(m.pe_hops(PeId(0), PeId(3)), Some(Hops::default()));
        // Neighbouring QPEs on one chip.
        let h = m.qpe_hops(q(0, 0, 0, 0), q(0, 0, 1, 1));
        assert_eq!((h.on_chip, h.chip_links), (2, 0));
        // Adjacent across the chip boundary: (0,0,1,0) -> (1,0,0,0) is one link crossing.
        let h = m.qpe_hops(q(0, 0, 1, 0), q(1, 0, 0, 0));
        assert_eq!((h.on_chip, h.chip_links), (0, 1));
        // Corner to far corner of a 2x2 board of 2x2 meshes: global (0,0) -> (3,3).
        let h = m.qpe_hops(q(0, 0, 0, 0), q(1, 1, 1, 1));
        assert_eq!((h.on_chip, h.chip_links, h.total()), (4, 2, 6));
        assert_eq!(m.hop_latency_cycles(h), 4 * 2 + 2 * 100);
        // Symmetric.
        assert_eq!(m.qpe_hops(q(1, 1, 1, 1), q(0, 0, 0, 0)), h);
        assert_eq!(m.pe_hops(PeId(0), PeId(64)), None);
    }

    #[test]
    fn route_path_is_x_then_y() {
        let m = Machine::tiny(2, 2);
        let q = |chip_x, chip_y, qpe_x, qpe_y| QpeCoord {
            chip_x,
            chip_y,
            qpe_x,
            qpe_y,
        };
        let p = m.route_path(q(0, 0, 1, 1), q(1, 1, 0, 0));
        assert_eq!(p, vec![q(0, 0, 1, 1), q(1, 0, 0, 1), q(1, 1, 0, 0),]);
        let from = q(0, 0, 0, 0);
        let to = q(1, 1, 1, 1);
        let p = m.route_path(from, to);
        assert_eq!(p.len() as u32, m.qpe_hops(from, to).total() + 1);
        assert_eq!(p.get(3), Some(&q(1, 0, 1, 0)));
    }
}
