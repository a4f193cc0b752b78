//! `bench`: the figures of the design document (being written).

use crate::CmdResult;
use clap::Args;
use std::process::ExitCode;

/// Options of `lmstore bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Program sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub nodes: Vec<usize>,
    /// Delete 5 % of nodes first.
    #[arg(long)]
    pub gaps: bool,
    /// Repetitions per figure; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

pub fn run(_args: &BenchArgs) -> CmdResult {
    eprintln!("lmstore bench is not implemented yet");
    Ok(ExitCode::FAILURE)
}
