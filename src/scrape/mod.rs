//! Scraping: discovery, scrape loops and target health.
//!
//! [`manager::ScrapePools`] runs one pool per `scrape_configs` entry (and applies reloaded
//! configs); a pool runs its job's
//! [`discovery`], turns target groups into targets with [`target_labels`] and
//! [`crate::relabel`], and runs one [`scrape_loop::ScrapeLoop`] per target, which fetches with the
//! pool's [`client::JobClient`], parses with [`crate::exposition`] (native histograms of
//! protobuf scrapes converted by [`histogram`], classic histograms converted to custom
//! buckets by [`nhcb`] under `convert_classic_histograms_to_nhcb`, created timestamps
//! written as zero samples under [`target::ScrapeFeatures`]) and appends into the
//! [`crate::store`]. [`target::TargetSet`] is what `/api/v1/targets` reads.

pub mod client;
pub mod discovery;
pub mod histogram;
pub mod manager;
pub mod metadata_labels;
pub mod nhcb;
pub mod scrape_loop;
pub mod target;
pub mod target_labels;

#[cfg(test)]
mod created_tests;
