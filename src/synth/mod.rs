//! Deterministic synthetic programs: the workload of the design document (section 4), for
//! tests, benchmarks and the `lmstore generate` command.
//!
//! The figures the crate must beat were measured on this workload, so its shape is part of
//! the contract:
//!
//! - **5 modules**: the root and four children, `core`, `math`, `io` and `data`. The first
//!   function lives in the root, the others go round the four children.
//! - **Named types** in `data`: structs `Point {x: F64, y: F64}` and `Pair {first: I64,
//!   second: I64}`, enum `Shape {Dot(Point), Span(Pair), Empty}`; plus an anonymous
//!   mutable pointer to I64 and the function type of the closures.
//! - **Functions of 54 to 200 nodes**, uniformly drawn, so 127 on average (a closure's
//!   nodes count towards the function that builds it). Only the last function of a
//!   program under 54 nodes is smaller; the sizes always add up to exactly
//!   [`SynthConfig::nodes`].
//! - **About 1.76 edges per node**, 70 % data and 30 % control.
//! - **Op mix**: parameters; constants (I64, I32, Bool, F64, F32); binary arithmetic,
//!   logic and shifts; comparisons; negation, `Not` and casts; calls to one of the 64
//!   functions made before (one call in forty is recursive); if/else diamonds (`IfElse`,
//!   two arms, `Phi`); loops (`Loop`, a body, a `Jump` back to the header: a control
//!   cycle); memory (`Alloc`, `Store`, `Load`); `StructCreate` + `StructGet`;
//!   `EnumCreate`; contracts; I/O; and one `Return`, the last node of each body.
//! - **Closures**: every 16th function (of 60 nodes or more) defines a closure with two
//!   captures (by value and by mutable reference) and builds and calls it
//!   (`MakeClosure`, `IndirectCall`).
//! - **Wiring**: data edges always run from an earlier node of the body to a later one,
//!   so they form a DAG, and each operand slot is fed at most once. Control edges follow
//!   the statements, the diamonds and the loops, and are topped up with short forward
//!   edges and the odd back edge.
//! - **Gaps**: with [`SynthConfig::gaps`], 5 % of the nodes (rounded) are then deleted,
//!   chosen uniformly, leaving holes in the id space as a long-lived program has.
//!
//! Everything is drawn from one ChaCha8 stream seeded by the config: its output is fixed
//! by the algorithm, not by the platform or the `rand` version's `StdRng`, so a seed gives
//! the same program everywhere. The program is built through the public editing API, so
//! it is whole by construction (`validate()` finds nothing).
//!
//! ```
//! use lmlang_storage::synth::{SynthConfig, generate};
//!
//! let g = generate(&SynthConfig::new(2_000).with_seed(7));
//! assert_eq!(g.node_count(), 2_000);
//! assert!(g.validate().is_empty());
//! ```

mod body;
mod workload;

pub use workload::{MAX_FUNCTION_NODES, MIN_FUNCTION_NODES, SynthConfig, generate, one_node_edit};
