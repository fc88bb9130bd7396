//! Errors of the NoC simulator: bad parameters, bad packets and routing
//! decisions that name a port the router does not have.

use super::packet::RouterId;
use super::port::Port;

/// Why a NoC simulation could not run. Each variant names the offending
/// parameter, packet (index in the input slice) or router.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NocError {
    /// A parameter is out of its valid range.
    #[error("invalid NoC parameter `{name}`: {reason}")]
    InvalidParam {
        /// Parameter name as in [`super::NocParams`].
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A packet's source router or PE is not on the mesh.
    #[error("packet {packet}: router {router} PE {pe} is not on the {width}x{height} mesh with {pes} PEs per router")]
    BadSource {
        /// Index of the packet in the input.
        packet: usize,
        /// Its source router.
        router: RouterId,
        /// Its source PE.
        pe: u8,
        /// Mesh width in routers.
        width: u32,
        /// Mesh height in routers.
        height: u32,
        /// Local ports per router.
        pes: usize,
    },
    /// The router callback chose a port the router does not have (a mesh
    /// link off the edge of the grid or a PE number past `pes_per_router`).
    #[error("packet {packet} (key {key:#010x}) routed at router {router} to {port:?}, which does not exist there")]
    InvalidRoute {
        /// Index of the packet in the input.
        packet: usize,
        /// Its routing key.
        key: u32,
        /// Router whose decision was invalid.
        router: RouterId,
        /// The missing port (`None` when the bit is past the last local port).
        port: Option<Port>,
    },
    /// A packet crossed more mesh links than `max_hops`: the routing tables
    /// hold a loop.
    #[error("packet {packet} (key {key:#010x}) exceeded {max_hops} hops at router {router}: routing loop?")]
    HopLimit {
        /// Index of the packet in the input.
        packet: usize,
        /// Its routing key.
        key: u32,
        /// Router where the limit was passed.
        router: RouterId,
        /// The limit.
        max_hops: u32,
    },
    /// More packets than the simulator indexes (`u32`).
    #[error("{0} packets exceed the simulator's limit of 2^32 - 1")]
    TooManyPackets(usize),
}
