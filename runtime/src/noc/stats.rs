//! What a NoC simulation reports: deliveries, drops, latency, link load.

use super::packet::{PeId, RouterId};
use super::port::Port;
use serde::Serialize;

/// One packet copy reaching a PE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Index of the packet in the simulator's input.
    pub packet: u32,
    /// The PE it reached.
    pub pe: PeId,
    /// Cycle at which it arrived at the PE.
    pub cycle: u64,
}

/// Deliveries summed per destination PE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PeDeliveries {
    /// The destination PE.
    pub pe: PeId,
    /// Packet copies it received.
    pub count: u64,
    /// Cycle of the first arrival.
    pub first_cycle: u64,
    /// Cycle of the last arrival.
    pub last_cycle: u64,
}

/// Load of one output port (a mesh link or a local PE link) that carried or
/// dropped at least one packet.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LinkStats {
    /// Router owning the output port.
    pub router: RouterId,
    /// The port.
    pub port: Port,
    /// Whether the link crosses a chip boundary.
    pub inter_chip: bool,
    /// Packet copies sent over it.
    pub packets: u64,
    /// Copies dropped at its FIFO.
    pub dropped: u64,
    /// Fraction of cycles `0..=makespan` the link was busy:
    /// `packets * bandwidth.cycles / bandwidth.packets / (makespan + 1)`.
    pub utilisation: f64,
}

/// Result of [`super::simulate`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NocStats {
    /// Packets injected.
    pub injected: u64,
    /// Packet copies delivered to PEs (a multicast packet counts once per PE).
    pub delivered: u64,
    /// Every delivery, by arrival cycle; ties in the order the simulator
    /// produced them (see the module doc).
    pub deliveries: Vec<Delivery>,
    /// Deliveries per destination PE, sorted by PE.
    pub per_pe: Vec<PeDeliveries>,
    /// Packet copies dropped at a full FIFO after the wait timeout.
    pub dropped: u64,
    /// Packet copies a router consumed because the route was empty.
    pub unrouted: u64,
    /// Largest delivery latency (arrival minus injection cycle), 0 if none.
    pub max_latency: u64,
    /// Mean delivery latency, 0 if nothing was delivered.
    pub mean_latency: f64,
    /// Per output port load, sorted by (router, port); unused ports omitted.
    pub links: Vec<LinkStats>,
    /// Cycle of the last delivery (0 if none).
    pub makespan: u64,
}
