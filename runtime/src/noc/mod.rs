//! Packet-level simulator of the SpiNNaker2-style network-on-chip (NoC).
//!
//! The emulator uses it to time the multicast spike packets that PEs send
//! each tick: how long they take, where links saturate, and which packets
//! the routers drop. It is self-contained: it takes its own [`NocParams`]
//! and a [`Router`] (the compiler's routing tables plug in through that
//! trait), not the target's machine description.
//!
//! # Model
//!
//! * **Topology.** A 2-D mesh of `width x height` routers, built from
//!   `chips_x x chips_y` chips of `chip_width x chip_height` routers each
//!   (no wrap-around). Router `(x, y)` has four mesh ports — north (`y + 1`),
//!   east (`x + 1`), south (`y - 1`), west (`x - 1`) — and `pes_per_router`
//!   local ports, one per PE. Port indices: N 0, E 1, S 2, W 3, PE `n` at
//!   `4 + n` ([`Port::index`]).
//! * **Links.** Every output port drives one directed link with a latency,
//!   a bandwidth (`packets` per `cycles`, so slow links are exact) and an
//!   output FIFO of `queue_capacity` packets. Three classes: `mesh_link`
//!   (two routers of one chip), `chip_link` (crossing a chip boundary) and
//!   `local_link` (router to PE). All packets have the same size.
//! * **Packets.** A [`Packet`] has a 32-bit key, a source PE and an
//!   injection cycle. At every router [`Router::route`] maps
//!   `(router, key, in_port)` to a [`PortSet`]; several ports replicate the
//!   packet (multicast), none consumes it (counted as `unrouted`).
//!
//! # Timing rules
//!
//! 1. A packet enters its source router at `inject_cycle`, arriving on the
//!    local port of its source PE.
//! 2. A packet arriving at a router at cycle `t` is routed and its copies
//!    reach their output FIFOs at `ready = t + router_latency`. Replication
//!    costs nothing extra.
//! 3. Each link starts its copies in FIFO order, never before `ready`, at
//!    most `bandwidth.packets` every `bandwidth.cycles` cycles (a copy
//!    leaves the FIFO when it starts). A copy starting at `s` reaches the
//!    far end — the neighbour router, or the PE — at `s + latency`.
//!
//! Hence an uncontended packet crossing `h` mesh links reaches its PE at
//! `inject_cycle + (h + 1) * router_latency + L + local_link.latency`, `L`
//! the sum of the latencies of the `h` mesh links. With 1 packet per cycle,
//! `k` copies reaching one port in the same cycle start over `k`
//! consecutive cycles.
//!
//! # Drop rule
//!
//! SpiNNaker routers wait a bounded time for a blocked output and then drop
//! the packet. Here: a copy that reaches an output whose FIFO already holds
//! `queue_capacity` waiting copies waits for a slot, which frees when the
//! copy `queue_capacity` places ahead of it starts crossing the link. If
//! that is more than `wait_timeout` cycles after `ready`, the copy is
//! dropped and counted (total in [`NocStats::dropped`], per port in
//! [`LinkStats::dropped`]); other copies of the same packet are unaffected.
//! A copy admitted to the FIFO is never dropped. `wait_timeout = None`
//! never drops. Simplification: a copy waiting for a slot does not block
//! the router's other traffic (no head-of-line blocking, no emergency
//! routing).
//!
//! # Determinism
//!
//! Event-driven: router arrivals are processed in `(cycle, seq)` order,
//! `seq` their creation order (a timing wheel that yields exactly the order
//! of a binary heap on that key). Injections are merged in
//! `(inject_cycle, input index)` order and, at equal cycles, go before
//! forwarded copies. Copies of one packet are made in port-index order.
//! Deliveries are reported sorted by cycle, ties in processing order;
//! per-PE and per-link tables are sorted by PE and by (router, port). No
//! hash-map order or threads are involved, so equal inputs give equal
//! outputs.
//!
//! # Performance
//!
//! An output port decides a copy's start cycle (or its drop) at once, by
//! arithmetic on its busy period (`link.rs`), and the event queue is a
//! timing wheel with a heap for far events (`queue.rs`), so the cost is
//! about one queue push and pop per link crossing. Measured in release on
//! the shared 2-core dev machine with the ignored test
//! `sim_tests::perf_one_second_of_traffic` (16x16 mesh, 4 PEs per router,
//! 10^6 packets over 1.5·10^8 cycles = 1 s at 150 MHz, each multicast to 4
//! PEs, dense routing table): 0.37–0.50 s when the targets lie within 2
//! routers of the source (1.1·10^7 link crossings), 0.94–1.2 s when they
//! are anywhere on the mesh (3.5·10^7 crossings, the worst case): about
//! 30 ns per link crossing; the spread is the load of the shared machine.
//!
//! Many independent runs on one mesh (the emulator simulates every tick's
//! packets on their own) should use a [`Simulator`]: it builds the wiring
//! once, keeps its buffers and resets only the ports a run used, and
//! [`Simulator::run_counting`] skips recording individual deliveries when
//! per-packet counts suffice. Results equal [`simulate`]'s.
//!
//! # Not modelled
//!
//! Back-pressure stalls of a router's input (head-of-line blocking),
//! emergency routing around a blocked link, packet payloads and sizes,
//! wrap-around (torus) links, and the inside of a quad-PE: each router's
//! local ports are independent links.

mod error;
mod link;
mod packet;
mod params;
mod port;
mod queue;
mod route;
mod sim;
mod stats;
mod tree;

#[cfg(test)]
mod sim_tests;

pub use error::NocError;
pub use packet::{Packet, PeId, RouterId};
pub use params::{Bandwidth, LinkParams, NocParams};
pub use port::{Direction, Port, PortSet, MAX_LOCAL_PORTS, MESH_PORTS};
pub use route::{Router, XyRouter};
pub use sim::{simulate, CountedRun, Simulator};
pub use stats::{Delivery, LinkStats, NocStats, PeDeliveries};
pub use tree::{TreePacket, TreeSet, TreeShape};
