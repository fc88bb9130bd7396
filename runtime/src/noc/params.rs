//! Parameters of the NoC model: mesh geometry, router timing, and the
//! latency, bandwidth and queueing of each class of link.
//!
//! The simulator takes this struct rather than the target's machine
//! description so that it stays independent of how machines are described;
//! the backend fills it from its machine file.

use super::error::NocError;
use super::port::MAX_LOCAL_PORTS;
use serde::{Deserialize, Serialize};

/// Link bandwidth as a rate: `packets` packets every `cycles` cycles.
/// A rate rather than a single number so that slower inter-chip links
/// (e.g. one packet every 4 cycles) and wider on-chip links (2 per cycle)
/// are both exact integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// Packets that may start crossing the link per window.
    pub packets: u32,
    /// Length of the window in cycles.
    pub cycles: u32,
}

impl Bandwidth {
    /// One packet per cycle.
    pub const ONE_PER_CYCLE: Bandwidth = Bandwidth {
        packets: 1,
        cycles: 1,
    };
}

/// Timing and buffering of one class of link (an output port and the wire
/// behind it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkParams {
    /// Cycles from the start of transmission to arrival at the far end.
    pub latency: u64,
    /// How fast packets can start crossing the link.
    pub bandwidth: Bandwidth,
    /// Packets the output FIFO holds while waiting for the link (at least 1).
    pub queue_capacity: usize,
}

impl LinkParams {
    /// On-chip default: 1 cycle wire, 1 packet per cycle, 8-deep FIFO.
    pub const ON_CHIP: LinkParams = LinkParams {
        latency: 1,
        bandwidth: Bandwidth::ONE_PER_CYCLE,
        queue_capacity: 8,
    };
}

/// Everything the NoC simulator needs to know about the machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NocParams {
    /// Routers per chip in x.
    pub chip_width: u32,
    /// Routers per chip in y.
    pub chip_height: u32,
    /// Chips in x (1 for a single chip).
    pub chips_x: u32,
    /// Chips in y (1 for a single chip).
    pub chips_y: u32,
    /// Local ports (PEs) per router, at most 60.
    pub pes_per_router: usize,
    /// Cycles a router takes from a packet's arrival to its copies reaching
    /// the output FIFOs (lookup and crossbar).
    pub router_latency: u64,
    /// Mesh links between two routers of the same chip.
    pub mesh_link: LinkParams,
    /// Mesh links that cross a chip boundary (slower board links).
    pub chip_link: LinkParams,
    /// Link from a router to one of its local PEs.
    pub local_link: LinkParams,
    /// Cycles a packet copy may wait for room in a full output FIFO before
    /// it is dropped; `None` waits forever (no drops). `Some(0)` drops a copy
    /// that finds its FIFO full.
    pub wait_timeout: Option<u64>,
    /// Mesh links one packet may cross before the simulation fails with
    /// [`NocError::HopLimit`] (catches routing loops).
    pub max_hops: u32,
}

impl NocParams {
    /// A single `width` x `height` chip with on-chip links everywhere, one
    /// cycle router latency, and a 16-cycle wait timeout.
    pub fn single_chip(width: u32, height: u32, pes_per_router: usize) -> NocParams {
        NocParams {
            chip_width: width,
            chip_height: height,
            chips_x: 1,
            chips_y: 1,
            pes_per_router,
            router_latency: 1,
            mesh_link: LinkParams::ON_CHIP,
            chip_link: LinkParams::ON_CHIP,
            local_link: LinkParams::ON_CHIP,
            wait_timeout: Some(16),
            max_hops: 1024,
        }
    }

    /// Mesh width in routers over all chips.
    pub fn width(&self) -> u32 {
        self.chip_width.saturating_mul(self.chips_x)
    }

    /// Mesh height in routers over all chips.
    pub fn height(&self) -> u32 {
        self.chip_height.saturating_mul(self.chips_y)
    }

    /// Check every parameter; the simulator relies on these bounds.
    pub fn validate(&self) -> Result<(), NocError> {
        let bad = |name: &'static str, reason: String| Err(NocError::InvalidParam { name, reason });
        for (name, v) in [
            ("chip_width", self.chip_width),
            ("chip_height", self.chip_height),
            ("chips_x", self.chips_x),
            ("chips_y", self.chips_y),
        ] {
            if v == 0 {
                return bad(name, "must be at least 1".into());
            }
        }
        let routers = u64::from(self.chip_width)
            * u64::from(self.chip_height)
            * u64::from(self.chips_x)
            * u64::from(self.chips_y);
        if routers > 1 << 20 {
            return bad(
                "chips_x",
                format!("{routers} routers exceed the simulator's limit of 2^20"),
            );
        }
        if self.pes_per_router == 0 || self.pes_per_router > MAX_LOCAL_PORTS {
            return bad(
                "pes_per_router",
                format!("{} is outside 1..={MAX_LOCAL_PORTS}", self.pes_per_router),
            );
        }
        for (name, link) in [
            ("mesh_link", &self.mesh_link),
            ("chip_link", &self.chip_link),
            ("local_link", &self.local_link),
        ] {
            if link.bandwidth.packets == 0 || link.bandwidth.cycles == 0 {
                return bad(name, "bandwidth needs packets >= 1 and cycles >= 1".into());
            }
            if link.queue_capacity == 0 {
                return bad(name, "queue_capacity must be at least 1".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_single_chip_is_valid() {
        let p = NocParams::single_chip(16, 16, 4);
        assert_eq!(p.validate(), Ok(()));
        assert_eq!((p.width(), p.height()), (16, 16));
    }

    #[test]
    fn multi_chip_grid_size() {
        let p = NocParams {
            chips_x: 3,
            chips_y: 2,
            ..NocParams::single_chip(4, 5, 2)
        };
        assert_eq!((p.width(), p.height()), (12, 10));
    }

    #[test]
    fn rejects_bad_parameters() {
        let p = NocParams::single_chip(0, 4, 4);
        assert!(matches!(
            p.validate(),
            Err(NocError::InvalidParam {
                name: "chip_width",
                ..
            })
        ));
        let p = NocParams::single_chip(4, 4, 61);
        assert!(matches!(
            p.validate(),
            Err(NocError::InvalidParam {
                name: "pes_per_router",
                ..
            })
        ));
        let mut p = NocParams::single_chip(4, 4, 4);
        p.chip_link.bandwidth.cycles = 0;
        assert!(matches!(
            p.validate(),
            Err(NocError::InvalidParam {
                name: "chip_link",
                ..
            })
        ));
        let mut p = NocParams::single_chip(4, 4, 4);
        p.local_link.queue_capacity = 0;
        assert!(matches!(
            p.validate(),
            Err(NocError::InvalidParam {
                name: "local_link",
                ..
            })
        ));
        let p = NocParams::single_chip(u32::MAX, u32::MAX, 4);
        assert!(p.validate().is_err());
    }
}
