//! Options of one emulator instance.

use serde::Serialize;

/// How the emulator runs. The defaults model the machine as the manifest describes it with the
/// packet-level NoC on; switching the NoC off keeps results identical as long as the NoC drops
/// nothing (routing still goes through the tables) and only loses the timing figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmuOptions {
    /// Time every tick's packets on the packet-level NoC simulator ([`crate::noc`]): latency,
    /// contention, FIFO drops, late packets. Off: packets reach the PEs the routing tables name,
    /// instantly and in emission order.
    pub noc: bool,
    /// Record a spike raster (tick, population, neuron) of every spike of every population.
    pub trace: bool,
    /// Worker threads of a run (samples of a batch, PEs and deliveries within a tick); `None`
    /// uses rayon's global pool. Results do not depend on it.
    pub threads: Option<usize>,
    /// Packets each NoC output FIFO holds (assumption: 8, see `docs/spinnaker2.md`).
    pub noc_queue_capacity: usize,
    /// Cycles a packet copy may wait for room in a full FIFO before the router drops it; `None`
    /// never drops (assumption: 256 cycles).
    pub noc_wait_timeout: Option<u64>,
    /// Host memory the delivery plan may take (default 4 GiB). The plan holds a segment per
    /// (key, target PE) and a copy of every target's row, so a mapping that sends each spike
    /// to hundreds of PEs grows it as keys × targets; past the limit the emulator refuses with
    /// [`super::EmuError::TooLarge`] instead of exhausting the host's memory.
    pub max_plan_bytes: u64,
}

impl Default for EmuOptions {
    fn default() -> Self {
        EmuOptions {
            noc: true,
            trace: false,
            threads: None,
            noc_queue_capacity: 8,
            noc_wait_timeout: Some(256),
            max_plan_bytes: 4 << 30,
        }
    }
}
