//! How a batch is cut into shards: the one rule that the CPU's thread shards and the devices'
//! shards share, so that a data-parallel run on k devices gives the numbers of k threads.

/// The fewest rows a shard gets. Every shard pays for a full set of parameter gradients (and
/// their merging) and repacks the weights for each of its products, whatever its size; below
/// this many rows that fixed cost outweighs the shard's share of the work, and its threads serve
/// the fewer, larger shards' products instead (see `shard::loss_and_gradients`).
pub(crate) const MIN_SHARD_ROWS: usize = 32;

/// How many shards a batch of `rows` is cut into over `places` threads or devices: one per
/// place, but at least [`MIN_SHARD_ROWS`] rows each.
pub(crate) fn shard_count(rows: usize, places: usize) -> usize {
    (rows / MIN_SHARD_ROWS).clamp(1, places)
}

/// The rows of shard `s` of `shards` over a batch of `rows`: consecutive, as even as they go.
/// The device shards and the thread shards take the same rows, so that they agree.
pub(crate) fn shard_rows(s: usize, shards: usize, rows: usize) -> std::ops::Range<usize> {
    s * rows / shards..(s + 1) * rows / shards
}
