//! Deterministic synthetic programs: the workload of the design document, for tests,
//! benchmarks and the `lmstore generate` command.

mod workload;

pub use workload::{SynthConfig, generate, one_node_edit};
